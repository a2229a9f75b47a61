package addr_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testDNS is a real DNS server on 127.0.0.1 (UDP) serving a zone the test
// can change while it runs.
type testDNS struct {
	addr    string
	queries atomic.Int64

	mu        sync.Mutex
	records   map[string][]dns.RR   // by lower-case FQDN; a key makes the name exist
	blackhole map[string]*holdQuery // names whose queries are held, see hole
	clients   []net.Conn            // noDeadlineResolver's connections, closed when the test ends
}

// startDNS starts a server that is shut down when the test ends.
func startDNS(t *testing.T) *testDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z := &testDNS{
		addr:      pc.LocalAddr().String(),
		records:   map[string][]dns.RR{},
		blackhole: map[string]*holdQuery{},
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: z, NotifyStartedFunc: func() { close(started) }}
	served := make(chan error, 1)
	go func() { served <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-served:
		t.Fatalf("DNS server did not start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("DNS server shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("DNS server: %v", err)
		}
		// A lookup left running in the background (cancelDuringLookup) may
		// wait for an answer to a query the server never got: without
		// deadlines, only closing its connection ends it.
		z.mu.Lock()
		for _, c := range z.clients {
			c.Close()
		}
		z.mu.Unlock()
	})
	return z
}

// resolver returns a Go resolver that sends every query to z.
func (z *testDNS) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", z.addr)
		},
	}
}

// setSRV makes name hold exactly recs. Targets are relative to nothing:
// give them without the trailing dot.
func (z *testDNS) setSRV(name string, recs ...net.SRV) {
	fqdn := dns.Fqdn(strings.ToLower(name))
	rrs := make([]dns.RR, 0, len(recs))
	for _, r := range recs {
		rrs = append(rrs, &dns.SRV{
			Hdr:      dns.RR_Header{Name: fqdn, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 60},
			Priority: r.Priority, Weight: r.Weight, Port: r.Port,
			Target: dns.Fqdn(r.Target),
		})
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	z.records[fqdn] = rrs
}

// setHost makes name hold A and AAAA records for ips, in this order.
func (z *testDNS) setHost(name string, ips ...string) {
	fqdn := dns.Fqdn(strings.ToLower(name))
	rrs := make([]dns.RR, 0, len(ips))
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip4 := ip.To4(); ip4 != nil {
			rrs = append(rrs, &dns.A{Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: ip4})
		} else {
			rrs = append(rrs, &dns.AAAA{Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 60}, AAAA: ip})
		}
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	z.records[fqdn] = rrs
}

// hole makes the server sit on queries for name until release is called
// (or the test ends), then answer them. Each query sends the name on asked
// if there is room.
func (z *testDNS) hole(t *testing.T, name string) (asked <-chan string, release func()) {
	h := &holdQuery{asked: make(chan string, 1), release: make(chan struct{})}
	z.mu.Lock()
	z.blackhole[dns.Fqdn(strings.ToLower(name))] = h
	z.mu.Unlock()
	release = func() { h.once.Do(func() { close(h.release) }) }
	t.Cleanup(release) // before the server's shutdown, which waits for handlers
	return h.asked, release
}

// cancelDuringLookup cancels resolve's context while the server sits on
// the query for name, and returns the error resolve returned.
func (z *testDNS) cancelDuringLookup(t *testing.T, name string, resolve func(context.Context) error) error {
	asked, release := z.hole(t, name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- resolve(ctx) }()
	<-asked
	cancel()
	err := <-done
	release()
	return err
}

type holdQuery struct {
	asked   chan string
	release chan struct{}
	once    sync.Once
}

// noDeadlineResolver is z.resolver, except that its connections ignore
// deadlines: the Go resolver then waits for an answer for as long as it
// takes, however its context ends.
func (z *testDNS) noDeadlineResolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "udp", z.addr)
			if err != nil {
				return nil, err
			}
			z.mu.Lock()
			z.clients = append(z.clients, c)
			z.mu.Unlock()
			return noDeadlineConn{c.(*net.UDPConn)}, nil
		},
	}
}

type noDeadlineConn struct{ *net.UDPConn }

func (noDeadlineConn) SetDeadline(time.Time) error { return nil }

// ServeDNS answers from the zone: the records of the asked type, NODATA for
// a known name without them, NXDOMAIN for an unknown name.
func (z *testDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	z.queries.Add(1)
	if len(req.Question) != 1 {
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)

	z.mu.Lock()
	if h, ok := z.blackhole[name]; ok {
		z.mu.Unlock()
		select {
		case h.asked <- name:
		default:
		}
		<-h.release
		z.mu.Lock()
	}
	rrs, known := z.records[name]
	var answer []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype {
			answer = append(answer, dns.Copy(rr))
		}
	}
	z.mu.Unlock()

	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	m.Compress = true
	if !known {
		m.Rcode = dns.RcodeNameError
	}
	m.Answer = answer
	_ = w.WriteMsg(m)
}
