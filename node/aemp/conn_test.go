package aemp_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/node/aemp"
)

type hsResult struct {
	link *aemp.Link
	err  error
}

// tcpPair returns both ends of a fresh loopback TCP connection.
func tcpPair(t *testing.T) (dialed, accepted net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		ch <- c
	}()
	dialed, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	accepted = <-ch
	return dialed, accepted
}

// handshakeBoth runs Handshake on both ends at once.
func handshakeBoth(ctx context.Context, a, b net.Conn, ca, cb aemp.Config) (hsResult, hsResult) {
	var ra, rb hsResult
	var wg sync.WaitGroup
	wg.Go(func() { ra.link, ra.err = aemp.Handshake(ctx, a, ca) })
	wg.Go(func() { rb.link, rb.err = aemp.Handshake(ctx, b, cb) })
	wg.Wait()
	return ra, rb
}

// exchange sends frames from a to b right after the handshake and checks
// they arrive, also those that may have arrived with the auth line.
func exchange(t *testing.T, a, b *aemp.Link) {
	t.Helper()
	enc := a.NewEncoder()
	frames := [][]any{{"bench", int64(7), []byte("0123456789abcdef")}, {}, {"", "time", "a#r1"}}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { // concurrently: a pipe has no buffer
		for _, f := range frames {
			if err := enc.Encode(f); err != nil {
				t.Error(err)
			}
		}
		if err := a.Writer.Flush(); err != nil {
			t.Error(err)
		}
	})
	dec := b.NewDecoder()
	for _, want := range frames {
		got, err := dec.Decode()
		if err != nil || !equal(got, want, a.SendFraming != aemp.Msgpack) {
			t.Fatalf("got %s, %v; want %s", show(got), err, show(want))
		}
	}
}

func closeLinks(rs ...hsResult) {
	for _, r := range rs {
		if r.link != nil {
			r.link.Conn.Close()
		}
	}
}

func TestHandshakeTCP(t *testing.T) {
	a, b := tcpPair(t)
	hb := &aemp.Heartbeat{Interval: time.Second, Timeout: 5 * time.Second}
	ra, rb := handshakeBoth(t.Context(), a, b,
		aemp.Config{NodeID: "a", Secret: "s", Heartbeat: hb, Params: []aemp.Param{{Key: aemp.ParamPeerAddr, Value: a.RemoteAddr().String()}}},
		aemp.Config{NodeID: "b", Secret: "s", Heartbeat: hb})
	defer closeLinks(ra, rb)
	if ra.err != nil || rb.err != nil {
		t.Fatalf("a: %v\nb: %v", ra.err, rb.err)
	}
	if ra.link.PeerID != "b" || rb.link.PeerID != "a" || ra.link.SendFraming != aemp.Msgpack || ra.link.TLS || ra.link.Heartbeat == nil {
		t.Errorf("%+v", ra.link.Result)
	}
	exchange(t, ra.link, rb.link)
	exchange(t, rb.link, ra.link)
}

func TestHandshakeTCPWrongSecret(t *testing.T) {
	a, b := tcpPair(t)
	ra, rb := handshakeBoth(t.Context(), a, b, aemp.Config{NodeID: "a", Secret: "x"}, aemp.Config{NodeID: "b", Secret: "y"})
	defer closeLinks(ra, rb)
	// Both write their auth line before reading the other's, so both see it.
	if !errors.Is(ra.err, aemp.ErrAuthFailure) || !errors.Is(rb.err, aemp.ErrAuthFailure) {
		t.Fatalf("a: %v\nb: %v", ra.err, rb.err)
	}
	if !strings.Contains(ra.err.Error(), "aemp handshake with b: authentication failure") {
		t.Errorf("message %q", ra.err)
	}
	// The connection is closed.
	if _, err := a.Write([]byte("x")); err == nil {
		t.Error("conn still open after a failed handshake")
	}
}

func TestHandshakeCheckPeer(t *testing.T) {
	a, b := tcpPair(t)
	var seen string
	ra, rb := handshakeBoth(t.Context(), a, b,
		aemp.Config{NodeID: "a", Secret: "s", CheckPeer: func(g *aemp.Greeting) error {
			seen = g.NodeID
			return aemp.ErrAlreadyConnected
		}},
		aemp.Config{NodeID: "b", Secret: "s"})
	defer closeLinks(ra, rb)
	if !errors.Is(ra.err, aemp.ErrPeerRefused) || !errors.Is(ra.err, aemp.ErrAlreadyConnected) || seen != "b" {
		t.Fatalf("a: %v (saw %q)", ra.err, seen)
	}
	if !errors.Is(rb.err, aemp.ErrConnection) {
		t.Fatalf("b: %v, want ErrConnection (a hung up)", rb.err)
	}
}

// selfSigned makes a certificate like `aemp gencert` does: one self-signed
// certificate for every node.
func selfSigned(t *testing.T, cn string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	cert, pool, err := aemp.GenerateCert(cn)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pool
}

// constReader is an endless stream of one byte: a fixed nonce.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

func TestHandshakeTLSOverTCP(t *testing.T) {
	cert, pool := selfSigned(t, "aemp")
	cfg := aemp.NewTLSConfig([]tls.Certificate{cert}, pool)
	for _, bLower := range []bool{true, false} {
		a, b := tcpPair(t)
		// Nonce lines: base64 of 0x00… is "AAAA…", of 0xff… is "////…",
		// and '/' sorts before 'A'.
		ra0, rb0 := constReader(0x00), constReader(0xff)
		if !bLower {
			ra0, rb0 = rb0, ra0
		}
		ra, rb := handshakeBoth(t.Context(), a, b,
			aemp.Config{NodeID: "a", TLS: cfg, Rand: ra0},
			aemp.Config{NodeID: "b", TLS: cfg, Rand: rb0})
		if ra.err != nil || rb.err != nil {
			t.Fatalf("a: %v\nb: %v", ra.err, rb.err)
		}
		la, lb := ra.link, rb.link
		if !la.TLS || !lb.TLS || lb.TLSClient != bLower || la.TLSClient == bLower {
			t.Errorf("b's nonce lower: %v; a client %v, b client %v", bLower, la.TLSClient, lb.TLSClient)
		}
		if la.SendAuth != aemp.AuthTLSSHA3 || lb.RecvAuth != aemp.AuthTLSSHA3 || !la.Trusted {
			t.Errorf("auth %+v", la.Result)
		}
		tc, ok := la.Conn.(*tls.Conn)
		if !ok || !tc.ConnectionState().HandshakeComplete || len(tc.ConnectionState().PeerCertificates) != 1 {
			t.Errorf("a's conn is %T", la.Conn)
		}
		exchange(t, la, lb)
		exchange(t, lb, la)
		closeLinks(ra, rb)
	}
}

func TestHandshakeTLSForeignCert(t *testing.T) {
	cert, pool := selfSigned(t, "aemp")
	other, _ := selfSigned(t, "intruder")
	a, b := tcpPair(t)
	ra, rb := handshakeBoth(t.Context(), a, b,
		aemp.Config{NodeID: "a", TLS: aemp.NewTLSConfig([]tls.Certificate{cert}, pool), Rand: constReader(0)},
		aemp.Config{NodeID: "b", TLS: aemp.NewTLSConfig([]tls.Certificate{other}, pool), Rand: constReader(0xff)})
	defer closeLinks(ra, rb)
	if !errors.Is(ra.err, aemp.ErrTLS) {
		t.Errorf("a (verifies b's foreign cert): %v, want ErrTLS", ra.err)
	}
	if rb.err == nil {
		t.Error("b: handshake succeeded")
	}
}

// TestHandshakeTLSNoSecretPlainPeer: a TLS-only node probed without TLS.
func TestHandshakeTLSNoSecretPlainPeer(t *testing.T) {
	cert, pool := selfSigned(t, "aemp")
	a, b := tcpPair(t)
	ra, rb := handshakeBoth(t.Context(), a, b,
		aemp.Config{NodeID: "a", TLS: aemp.NewTLSConfig([]tls.Certificate{cert}, pool)},
		aemp.Config{NodeID: "b", Secret: "s"})
	defer closeLinks(ra, rb)
	if !errors.Is(ra.err, aemp.ErrNoSecret) || !strings.Contains(ra.err.Error(), "unable to handshake TLS and no shared secret configured") {
		t.Errorf("a: %v", ra.err)
	}
}

func TestHandshakeTimeoutTCP(t *testing.T) {
	a, b := tcpPair(t)
	defer b.Close() // b never answers
	start := clock.Real().Now()
	_, err := aemp.Handshake(t.Context(), a, aemp.Config{NodeID: "a", Secret: "s", Timeout: 200 * time.Millisecond, Clock: clock.Real()})
	if !errors.Is(err, aemp.ErrHandshakeTimeout) || !strings.Contains(err.Error(), "after 200ms") {
		t.Fatalf("%v, want ErrHandshakeTimeout", err)
	}
	if d := clock.Real().Since(start); d < 150*time.Millisecond || d > 5*time.Second {
		t.Errorf("timed out after %v", d)
	}
}

// Over net.Pipe, inside a synctest bubble, clock.Real() and the pipe's
// deadlines both run on the bubble's fake time: the 30 s default timeout
// passes at once, deterministically.
func TestHandshakeTimeoutPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		start := clock.Real().Now()
		_, err := aemp.Handshake(t.Context(), a, aemp.Config{NodeID: "a", Secret: "s"})
		if !errors.Is(err, aemp.ErrHandshakeTimeout) {
			t.Fatalf("%v, want ErrHandshakeTimeout", err)
		}
		if d := clock.Real().Since(start); d != aemp.DefaultHandshakeTimeout {
			t.Errorf("timed out after %v of fake time", d)
		}
	})
}

// Both ends write before they read; over an unbuffered pipe that needs the
// driver's asynchronous writes. The deadline is gone afterwards.
func TestHandshakePipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		ra, rb := handshakeBoth(t.Context(), a, b,
			aemp.Config{NodeID: "a", Secret: "s", Timeout: time.Second},
			aemp.Config{NodeID: "b", Secret: "s", Timeout: time.Second, Framings: []string{"json", "msgpack"}})
		if ra.err != nil || rb.err != nil {
			t.Fatalf("a: %v\nb: %v", ra.err, rb.err)
		}
		if ra.link.SendFraming != aemp.JSON || rb.link.SendFraming != aemp.Msgpack || ra.link.RecvFraming != aemp.Msgpack {
			t.Errorf("framings: a sends %s, b sends %s", ra.link.SendFraming, rb.link.SendFraming)
		}
		_ = clock.Sleep(t.Context(), clock.Real(), time.Minute) // fake time: past the handshake deadline
		exchange(t, ra.link, rb.link)
		exchange(t, rb.link, ra.link)
		closeLinks(ra, rb)
	})
}

func TestHandshakeContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		defer b.Close()
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			_ = clock.Sleep(context.Background(), clock.Real(), time.Second)
			cancel()
		}()
		_, err := aemp.Handshake(ctx, a, aemp.Config{NodeID: "a", Secret: "s"})
		if !errors.Is(err, aemp.ErrConnection) || !errors.Is(err, context.Canceled) {
			t.Fatalf("%v, want ErrConnection and context.Canceled", err)
		}
	})
}

// scriptedPeer plays one side of a connection over a pipe: it writes send
// at once and reads everything the other side writes until it closes.
func scriptedPeer(c net.Conn, send []byte) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		go func() { _, _ = c.Write(send) }()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	return got
}

func TestHandshakePeerFailures(t *testing.T) {
	cases := []struct {
		name string
		send string
		want error
	}{
		{"close", "aemp;1;b;hmac_sha3_512;json\n", aemp.ErrConnection},
		{"long line", strings.Repeat("x", 5000), aemp.ErrLineTooLong},
		{"long line after newline", "aemp;1;b;hmac_sha3_512;json\n" + strings.Repeat("y", 5000) + "\n", aemp.ErrLineTooLong},
		{"version", "aemp;2;b;hmac_sha3_512;json\nnonce\n", aemp.ErrVersionMismatch},
		{"http", "GET / HTTP/1.0\r\n\r\n", aemp.ErrMalformedGreeting},
	}
	for _, c := range cases {
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			got := scriptedPeer(b, []byte(c.send))
			if c.want == aemp.ErrConnection {
				go func() {
					_ = clock.Sleep(context.Background(), clock.Real(), time.Second)
					b.Close()
				}()
			}
			_, err := aemp.Handshake(t.Context(), a, aemp.Config{NodeID: "a", Secret: "s"})
			if !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
			b.Close()
			<-got
		})
	}
}

// TestGoldenReplay runs the driver against recorded Perl sessions: a
// scripted peer sends exactly what the Perl node sent (greeting, nonce,
// auth line, frames), and the driver, configured as the probe was, must
// write exactly what the probe wrote, accept Perl's auth line, and decode
// Perl's frames from the reader it returns.
func TestGoldenReplay(t *testing.T) {
	replayed := 0
	for _, tr := range loadTranscripts(t) {
		if tr.meta.ProbeNode != "gonode" {
			continue
		}
		cls := linesByConn(tr)
		if len(cls) != 1 || len(cls[0].in) < 3 || tr.name == "03_handshake_wrong_secret" {
			continue
		}
		cl := cls[0]
		var in bytes.Buffer
		for _, r := range cl.in {
			in.Write(unhex(t, r.Hex))
		}
		var frames []record
		for _, r := range tr.records {
			if r.Kind == "frame" && r.Dir == "in" {
				in.Write(unhex(t, r.Hex))
				frames = append(frames, r)
			}
		}
		pc := probeConfig(tr, tr.meta.Addr)
		synctest.Test(t, func(t *testing.T) {
			a, b := net.Pipe()
			got := scriptedPeer(b, in.Bytes())
			link, err := aemp.Handshake(t.Context(), a, aemp.Config{
				NodeID: pc.NodeID, Secret: pc.Secret, AuthOffer: pc.AuthOffer, AuthAccept: pc.AuthAccept,
				Framings: pc.Framings, Params: pc.Params, Rand: &counting{},
			})
			if err != nil {
				t.Fatalf("%s: %v", tr.name, err)
			}
			if pg, _ := aemp.ParseGreeting(cl.in[0].Text); link.RecvFraming.Name() != tr.meta.ProbeSendFraming || link.PeerID != pg.NodeID {
				t.Errorf("%s: %+v", tr.name, link.Result)
			}
			dec := link.NewDecoder()
			for i, r := range frames {
				f, err := dec.Decode()
				if err != nil || !equal(f, fromJSON(t, r.Text), false) {
					t.Fatalf("%s frame %d: %s, %v; want %s", tr.name, i, show(f), err, r.Text)
				}
			}
			link.Conn.Close()
			var want []byte
			for _, r := range cl.out[:3] {
				want = append(want, unhex(t, r.Hex)...)
			}
			if w := <-got; !bytes.Equal(w, want) {
				t.Errorf("%s: the driver wrote\n%q\nwant\n%q", tr.name, w, want)
			}
		})
		replayed++
	}
	if replayed < 10 {
		t.Fatalf("replayed %d sessions", replayed)
	}
}

// TestLinkReaderKeepsEarlyFrames: frames that arrive in the same segment as
// the peer's auth line are not lost.
func TestLinkReaderKeepsEarlyFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		// The peer: a Handshaker driven by hand, which sends its auth line
		// and a frame in one write.
		h, err := aemp.NewHandshaker(aemp.HandshakeConfig{NodeID: "b", Secret: "s", Nonce: "zzz", Framings: []string{"json"}})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			if _, err := b.Write(h.Start()); err != nil { // the driver reads while it writes
				done <- err
				return
			}
			r := bufio.NewReader(b)
			for range 3 {
				line, err := r.ReadString('\n')
				if err != nil {
					done <- err
					return
				}
				out, err := h.Step(line)
				if err != nil {
					done <- err
					return
				}
				if out.Send != nil {
					go func() { _, _ = b.Write(append(out.Send, `["early",1]`...)) }()
				}
			}
			_, _ = io.Copy(io.Discard, r)
			done <- nil
		}()
		link, err := aemp.Handshake(t.Context(), a, aemp.Config{NodeID: "a", Secret: "s"})
		if err != nil {
			t.Fatal(err)
		}
		f, err := link.NewDecoder().Decode()
		if err != nil || !equal(f, []any{"early", int64(1)}, false) {
			t.Fatalf("%s %v", show(f), err)
		}
		link.Conn.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestHandshakeConfigError(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	if _, err := aemp.Handshake(t.Context(), a, aemp.Config{NodeID: ""}); !errors.Is(err, aemp.ErrConfig) {
		t.Fatalf("%v", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("conn not closed: %v", err)
	}
	if _, err := aemp.Handshake(t.Context(), b, aemp.Config{NodeID: "a", Rand: strings.NewReader("")}); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("empty random source: %v", err)
	}
}

// TieBreak with Commit: the smaller side decides after the peer has
// authenticated; refusing then leaves the larger side without the
// smaller's auth line, so it cannot take the connection. Accepting
// completes both.
func TestHandshakeTieBreakCommit(t *testing.T) {
	for _, refuse := range []bool{true, false} {
		a, b := tcpPair(t)
		var committedA, committedB atomic.Int32
		ra, rb := handshakeBoth(t.Context(), a, b,
			aemp.Config{NodeID: "a", Secret: "s", TieBreak: true, Commit: func(r *aemp.Result) error {
				committedA.Add(1)
				if r.PeerID != "b" {
					t.Errorf("Commit saw %q", r.PeerID)
				}
				if refuse {
					return aemp.ErrAlreadyConnected
				}
				return nil
			}},
			aemp.Config{NodeID: "b", Secret: "s", TieBreak: true, Commit: func(*aemp.Result) error {
				committedB.Add(1)
				return nil
			}})
		if refuse {
			if !errors.Is(ra.err, aemp.ErrPeerRefused) || !errors.Is(rb.err, aemp.ErrConnection) || committedB.Load() != 0 {
				t.Fatalf("refused: a: %v, b: %v, b committed %d times", ra.err, rb.err, committedB.Load())
			}
		} else {
			if ra.err != nil || rb.err != nil || committedA.Load() != 1 || committedB.Load() != 1 {
				t.Fatalf("accepted: a: %v, b: %v, commits %d %d", ra.err, rb.err, committedA.Load(), committedB.Load())
			}
			exchange(t, ra.link, rb.link)
		}
		closeLinks(ra, rb)
	}
}
