package addr_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/tetherkit/tether/addr"
)

func TestHostRotation(t *testing.T) {
	z := startDNS(t)
	z.setHost("multi.example.test", "127.0.0.1", "127.0.0.2", "127.0.0.3")
	h := &addr.Host{Name: "multi.example.test", Port: "7001", Resolver: z.resolver()}

	// The order is the resolver's.
	ips, err := z.resolver().LookupHost(context.Background(), "multi.example.test")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, ip := range ips {
		want = append(want, net.JoinHostPort(ip, "7001"))
	}
	if !isPermutation(want, []string{"127.0.0.1:7001", "127.0.0.2:7001", "127.0.0.3:7001"}) {
		t.Fatalf("LookupHost = %v", ips)
	}
	got := resolveN(t, h, 3*len(want))
	for c := range 3 {
		if cyc := got[c*3 : c*3+3]; !slices.Equal(cyc, want) {
			t.Fatalf("cycle %d = %v, want %v", c, cyc, want)
		}
	}
}

func TestHostIPv6InBrackets(t *testing.T) {
	z := startDNS(t)
	z.setHost("v6.example.test", "::1")
	h := &addr.Host{Name: "v6.example.test", Port: "7001", Resolver: z.resolver()}
	if got := resolveN(t, h, 1)[0]; got != "[::1]:7001" {
		t.Fatalf("Resolve = %q, want [::1]:7001", got)
	}
}

// An IP address needs no DNS: it is its own answer.
func TestHostIPLiteral(t *testing.T) {
	h := &addr.Host{Name: "192.0.2.7", Port: "80"}
	if got := resolveN(t, h, 2); !slices.Equal(got, []string{"192.0.2.7:80", "192.0.2.7:80"}) {
		t.Fatalf("Resolve = %v", got)
	}
}

func TestHostChangeMidCycle(t *testing.T) {
	z := startDNS(t)
	z.setHost("chg.example.test", "127.0.0.1", "127.0.0.2", "127.0.0.3")
	h := &addr.Host{Name: "chg.example.test", Port: "1", Resolver: z.resolver()}
	resolveN(t, h, 1)
	z.setHost("chg.example.test", "127.0.0.4", "127.0.0.5")
	if got := resolveN(t, h, 2); !isPermutation(got, []string{"127.0.0.4:1", "127.0.0.5:1"}) {
		t.Fatalf("after the change got %v, want a fresh cycle over .4 and .5", got)
	}
}

func TestHostNXDOMAIN(t *testing.T) {
	z := startDNS(t)
	h := &addr.Host{Name: "missing.example.test", Port: "1", Resolver: z.resolver()}
	_, err := h.Resolve(context.Background())
	var ae *addr.Error
	if !errors.As(err, &ae) || ae.Resolver != "dns host missing.example.test" {
		t.Fatalf("err = %#v, want *addr.Error for dns host missing.example.test", err)
	}
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("err = %v, want a *net.DNSError with IsNotFound", err)
	}
}

func TestHostErrors(t *testing.T) {
	z := startDNS(t)
	z.setHost("ok.example.test", "127.0.0.1")
	var ae *addr.Error
	if _, err := (&addr.Host{Name: "ok.example.test", Resolver: z.resolver()}).Resolve(context.Background()); !errors.As(err, &ae) {
		t.Fatalf("empty Port: err = %v, want *addr.Error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&addr.Host{Name: "ok.example.test", Port: "1", Resolver: z.resolver()}).Resolve(ctx); !errors.Is(err, context.Canceled) || !errors.As(err, &ae) {
		t.Fatalf("cancelled: err = %v, want *addr.Error wrapping context.Canceled", err)
	}
	if n := z.queries.Load(); n != 0 {
		t.Fatalf("%d queries sent, want none", n)
	}
}

func TestHostCancelDuringLookup(t *testing.T) {
	z := startDNS(t)
	h := &addr.Host{Name: "slow.example.test", Port: "1", Resolver: z.noDeadlineResolver()}
	err := z.cancelDuringLookup(t, "slow.example.test", func(ctx context.Context) error { _, err := h.Resolve(ctx); return err })
	var ae *addr.Error
	if !errors.Is(err, context.Canceled) || !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *addr.Error wrapping context.Canceled", err)
	}
}
