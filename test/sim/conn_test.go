package sim_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tetherkit/tether/test/sim"
)

func TestEchoExactLatency(t *testing.T) {
	sim.Test(t, sim.Config{Latency: sim.Latency{Min: 10 * ms, Max: 10 * ms}}, func(t *testing.T, n *sim.Network) {
		l := listen(t, n, "srv", ":7")
		defer l.Close()
		go serveEcho(l)

		sw := startWatch(n)
		c := dial(t, n, "cli", "srv:7")
		defer c.Close()
		if got := sw.elapsed(); got != 20*ms {
			t.Fatalf("Dial took %v, want exactly 20ms (SYN + SYN-ACK)", got)
		}
		if got, want := c.LocalAddr().String(), "cli:49152"; got != want {
			t.Errorf("LocalAddr = %s, want %s", got, want)
		}
		if got, want := c.RemoteAddr().String(), "srv:7"; got != want {
			t.Errorf("RemoteAddr = %s, want %s", got, want)
		}
		if got := c.LocalAddr().Network(); got != "sim" {
			t.Errorf("LocalAddr().Network() = %q, want sim", got)
		}

		for i := range 3 {
			sw = startWatch(n)
			msg := []byte("hello, sim")
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("echo = %q, want %q", got, msg)
			}
			if d := sw.elapsed(); d != 20*ms {
				t.Fatalf("round trip %d took %v, want exactly 20ms", i, d)
			}
		}
	})
}

func TestOrderUnderRandomLatency(t *testing.T) {
	sim.Test(t, sim.Config{Seed: 7, Latency: sim.Latency{Min: ms, Max: 50 * ms}}, func(t *testing.T, n *sim.Network) {
		client, server := pair(t, n, "a", "b")
		defer client.Close()
		defer server.Close()
		const count = 2000
		r := n.Rand("sizes")
		go func() {
			// Messages of 1..40 counters, each counter 4 bytes, with pauses.
			var next uint32
			for next < count {
				k := min(uint32(r.IntN(40)+1), count-next)
				buf := make([]byte, 4*k)
				for i := range k {
					binary.BigEndian.PutUint32(buf[4*i:], next)
					next++
				}
				if _, err := client.Write(buf); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
				if r.IntN(3) == 0 {
					n.Clock().Sleep(time.Duration(r.IntN(5)) * ms)
				}
			}
			client.Close()
		}()
		data, err := io.ReadAll(server)
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		if len(data) != 4*count {
			t.Fatalf("got %d bytes, want %d", len(data), 4*count)
		}
		for i := range uint32(count) {
			if v := binary.BigEndian.Uint32(data[4*i:]); v != i {
				t.Fatalf("counter %d reads %d: reordered", i, v)
			}
		}
	})
}

func TestBackpressure(t *testing.T) {
	const window = 4096
	sim.Test(t, sim.Config{Window: window, Latency: sim.Latency{Min: ms, Max: 3 * ms}}, func(t *testing.T, n *sim.Network) {
		client, server := pair(t, n, "a", "b")
		defer client.Close()
		defer server.Close()

		want := make([]byte, 3*window)
		for i := range want {
			want[i] = byte(i * 7)
		}
		done := make(chan result, 1)
		go func() {
			k, err := client.Write(want)
			done <- result{k, err, 0}
		}()
		n.Wait()
		n.Clock().Sleep(time.Hour)
		n.Wait()
		if !pending(done) {
			t.Fatalf("Write of 3 windows returned with no reader: %+v", <-done)
		}

		// Read one window: the writer can queue more but not finish.
		got := make([]byte, 0, len(want))
		buf := make([]byte, window)
		k, err := io.ReadFull(server, buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:k]...)
		n.Wait()
		n.Clock().Sleep(time.Hour)
		n.Wait()
		if !pending(done) {
			t.Fatal("Write of 3 windows returned after only one was read")
		}

		rest := make([]byte, 2*window)
		if _, err := io.ReadFull(server, rest); err != nil {
			t.Fatal(err)
		}
		got = append(got, rest...)
		r := <-done
		if r.err != nil || r.n != len(want) {
			t.Fatalf("Write = %d, %v; want %d, nil", r.n, r.err, len(want))
		}
		if !bytes.Equal(got, want) {
			t.Fatal("data differs")
		}
	})
}

func TestRefusedAndListenerErrors(t *testing.T) {
	sim.Test(t, sim.Config{Backlog: 1, Latency: sim.Latency{Min: 5 * ms, Max: 5 * ms}}, func(t *testing.T, n *sim.Network) {
		n.Host("b")
		sw := startWatch(n)
		_, err := n.Host("a").Dial(t.Context(), "b:80")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("Dial without listener = %v, want ECONNREFUSED", err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "dial" {
			t.Fatalf("Dial error %#v is not a *net.OpError with Op dial", err)
		}
		if d := sw.elapsed(); d != 10*ms {
			t.Errorf("refusal took %v, want one round trip, 10ms", d)
		}

		_, err = n.Host("a").Dial(t.Context(), "nowhere:80")
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
			t.Fatalf("Dial to unknown host = %v, want a not-found *net.DNSError", err)
		}

		l := listen(t, n, "b", ":80")
		if got := l.Addr().String(); got != "b:80" {
			t.Errorf("Addr = %s, want b:80", got)
		}
		if _, err := n.Host("b").Listen("b:80"); !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("second Listen on b:80 = %v, want EADDRINUSE", err)
		}
		if _, err := n.Host("b").Listen("a:81"); err == nil {
			t.Fatal("Listen on another host's address succeeded")
		}

		// Backlog 1: the first dial is queued, the second refused.
		c1 := dial(t, n, "a", "b:80")
		defer c1.Close()
		if _, err := n.Host("a").Dial(t.Context(), "b:80"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("Dial beyond the backlog = %v, want ECONNREFUSED", err)
		}

		// Close resets the queued connection and unblocks Accept.
		readRes, _ := readAsync(c1, sw, 10)
		l.Close()
		if r := <-readRes; !errors.Is(r.err, syscall.ECONNRESET) {
			t.Fatalf("Read on a connection never accepted = %v, want ECONNRESET", r.err)
		}
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
		}
		if err := l.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second Close = %v, want net.ErrClosed", err)
		}

		l2 := listen(t, n, "b", ":80") // the port is free again
		accepted := make(chan error, 1)
		go func() {
			_, err := l2.Accept()
			accepted <- err
		}()
		n.Wait()
		l2.Close()
		if err := <-accepted; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked Accept after Close = %v, want net.ErrClosed", err)
		}

		// Port 0 picks ephemeral ports that dials do not collide with.
		l3 := listen(t, n, "b", ":0")
		defer l3.Close()
		if p := l3.Addr().(sim.Addr).Port; p < 49152 {
			t.Errorf("Listen(:0) got port %d, want an ephemeral one", p)
		}
	})
}

func TestPartition(t *testing.T) {
	sim.Test(t, sim.Config{Latency: sim.Latency{Min: 5 * ms, Max: 5 * ms}}, func(t *testing.T, n *sim.Network) {
		client, server := pair(t, n, "a", "b")
		defer client.Close()
		defer server.Close()
		sw := startWatch(n)

		n.Partition("a", "b")
		if _, err := client.Write([]byte("lost")); err != nil {
			t.Fatalf("Write during partition: %v", err)
		}
		// Lost bytes free their window space: three windows go through.
		if _, err := client.Write(make([]byte, 3*64<<10)); err != nil {
			t.Fatalf("Write of three windows during partition: %v", err)
		}
		res, buf := readAsync(server, sw, 100)
		n.Clock().Sleep(time.Minute)
		n.Wait()
		if !pending(res) {
			r := <-res
			t.Fatalf("Read during partition returned %d, %v", r.n, r.err)
		}

		n.Heal("a", "b")
		if _, err := client.Write([]byte("after heal")); err != nil {
			t.Fatal(err)
		}
		n.Clock().Sleep(time.Minute)
		n.Wait()
		if !pending(res) {
			r := <-res
			t.Fatalf("a connection that lost bytes delivered %q after Heal: streams must not have holes", buf[:r.n])
		}
		// The other direction of that connection still works, and so do
		// new connections.
		if _, err := server.Write([]byte("back")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 4)
		if _, err := io.ReadFull(client, got); err != nil || string(got) != "back" {
			t.Fatalf("b → a after Heal: %q, %v", got, err)
		}
		client2, server2 := pair(t, n, "a", "b")
		defer client2.Close()
		defer server2.Close()
		if _, err := client2.Write([]byte("found")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(server2, got[:4]); err != nil || string(got[:4]) != "foun" {
			t.Fatalf("new connection after Heal: %q, %v", got, err)
		}

		// One way: a → b is cut, b → a still delivers.
		n.PartitionOneWay("a", "b")
		if _, err := server2.Write([]byte("to a")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client2, got); err != nil || string(got) != "to a" {
			t.Fatalf("b → a during one-way cut: %q, %v", got, err)
		}
		res, _ = readAsync(server2, sw, 100)
		n.Clock().Sleep(time.Minute)
		n.Wait()
		if r := <-res; r.err != nil || r.n != 1 { // the "d" of "found", sent before the cut
			t.Fatalf("Read of what preceded the cut = %d, %v", r.n, r.err)
		}
		res, _ = readAsync(server2, sw, 100)
		if _, err := client2.Write([]byte("to b")); err != nil {
			t.Fatal(err)
		}
		client2.Close() // the FIN is lost too: no EOF
		n.Clock().Sleep(time.Minute)
		n.Wait()
		if !pending(res) {
			r := <-res
			t.Fatalf("a → b delivered during one-way cut: %d, %v", r.n, r.err)
		}

		// A dial across the cut waits for its context, exactly.
		n.HealAll()
		n.PartitionOneWay("b", "a") // the SYN-ACK is lost
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		l := listen(t, n, "b", ":90")
		defer l.Close()
		sw = startWatch(n)
		_, err := n.Host("a").Dial(ctx, "b:90")
		if d := sw.elapsed(); d != 3*time.Second {
			t.Errorf("Dial across a partition returned after %v, want exactly 3s", d)
		}
		var ne net.Error
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Dial across a partition = %v, want a timeout wrapping context.DeadlineExceeded", err)
		}

		n.Partition("a", "b")
		ctx, cancel = context.WithCancel(t.Context())
		n.After(time.Second, cancel)
		sw = startWatch(n)
		_, err = n.Host("a").Dial(ctx, "b:90")
		if !errors.Is(err, context.Canceled) || sw.elapsed() != time.Second {
			t.Fatalf("cancelled Dial = %v after %v, want context.Canceled after 1s", err, sw.elapsed())
		}

		// A lost SYN is sent again after 1 s, then 2 s: a partition healed
		// at 2.5 s lets the SYN sent at about 3 s through.
		n.After(2500*ms, n.HealAll)
		sw = startWatch(n)
		c, err := n.Host("a").Dial(t.Context(), "b:90")
		if err != nil {
			t.Fatalf("Dial outlasting a short partition = %v", err)
		}
		c.Close()
		if d := sw.elapsed(); d != 3*time.Second+20*ms {
			t.Errorf("Dial took %v, want 3.02s (SYNs at 0, 1.005, 3.01; 5 ms each way)", d)
		}

		// With the cut lasting, the dial gives up after six retransmissions.
		n.Partition("a", "b")
		sw = startWatch(n)
		_, err = n.Host("a").Dial(t.Context(), "b:90")
		if !errors.Is(err, syscall.ETIMEDOUT) {
			t.Fatalf("Dial across a lasting partition = %v, want ETIMEDOUT", err)
		}
		if d := sw.elapsed(); d != 63*time.Second+35*ms {
			t.Errorf("Dial gave up after %v, want 63.035s (1+2+4+8+16+32 s of retransmission timeouts)", d)
		}
	})
}

func TestReset(t *testing.T) {
	sim.Test(t, sim.Config{Latency: sim.Latency{Min: 5 * ms, Max: 20 * ms}}, func(t *testing.T, n *sim.Network) {
		client, server := pair(t, n, "a", "b")
		defer client.Close()
		defer server.Close()
		other, otherServer := pair(t, n, "a", "c")
		defer other.Close()
		defer otherServer.Close()
		sw := startWatch(n)

		blocked, _ := readAsync(server, sw, 100)
		if _, err := server.Write([]byte("unread")); err != nil {
			t.Fatal(err)
		}
		n.Clock().Sleep(time.Second) // "unread" has arrived at the client
		if _, err := client.Write([]byte("in flight")); err != nil {
			t.Fatal(err)
		}
		n.Reset("b", "a")

		// The pending Read unblocks at once; the in-flight data never arrives.
		if r := <-blocked; !errors.Is(r.err, syscall.ECONNRESET) || r.n != 0 || r.at != time.Second {
			t.Errorf("pending Read after Reset = %d, %v at %v; want 0, ECONNRESET at 1s", r.n, r.err, r.at)
		}
		for name, c := range map[string]net.Conn{"client": client, "server": server} {
			// The client's unread data is gone too.
			if _, err := c.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("%s Read after Reset = %v, want ECONNRESET", name, err)
			}
			if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("%s Write after Reset = %v, want ECONNRESET", name, err)
			}
		}

		// Other connections live on, and new ones work.
		if _, err := other.Write([]byte("ok")); err != nil {
			t.Fatalf("other connection after Reset: %v", err)
		}
		if _, err := io.ReadFull(otherServer, make([]byte, 2)); err != nil {
			t.Fatalf("other connection after Reset: %v", err)
		}
		c2, s2 := pair(t, n, "a", "b")
		defer c2.Close()
		defer s2.Close()
		if _, err := c2.Write([]byte("again")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s2, make([]byte, 5)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCloseEOFAndWriteAfterPeerClosed(t *testing.T) {
	sim.Test(t, sim.Config{Latency: sim.Latency{Min: 10 * ms, Max: 10 * ms}}, func(t *testing.T, n *sim.Network) {
		client, server := pair(t, n, "a", "b")
		sw := startWatch(n)

		// Data, then FIN: the reader drains, then sees EOF.
		if _, err := client.Write([]byte("bye")); err != nil {
			t.Fatal(err)
		}
		if err := client.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := client.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second Close = %v, want net.ErrClosed", err)
		}
		if _, err := client.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close = %v, want net.ErrClosed", err)
		}
		if _, err := client.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close = %v, want net.ErrClosed", err)
		}
		data, err := io.ReadAll(server)
		if err != nil || string(data) != "bye" {
			t.Fatalf("ReadAll = %q, %v; want bye, nil", data, err)
		}
		if d := sw.elapsed(); d != 10*ms {
			t.Errorf("EOF after %v, want 10ms", d)
		}
		if _, err := server.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("Read after EOF = %v, want io.EOF again", err)
		}

		// Writing to a closed peer succeeds locally; the RST comes back.
		if _, err := server.Write([]byte("anyone?")); err != nil {
			t.Fatalf("first Write to a closed peer: %v", err)
		}
		n.Clock().Sleep(20*ms - 1) // the RST takes one round trip
		if _, err := server.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("Read before the RST = %v, want io.EOF still", err)
		}
		n.Clock().Sleep(1)
		n.Wait() // a timer that fires at T runs before the deliveries due at T
		_, err = server.Read(make([]byte, 1))
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Read after writing to a closed peer = %v, want ECONNRESET", err)
		}
		if _, err := server.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Write after RST = %v, want ECONNRESET", err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) {
			t.Fatalf("%T is not a *net.OpError", err)
		}
		if err := server.Close(); err != nil {
			t.Fatalf("Close after RST = %v, want nil", err)
		}
	})
}

func TestDeadlines(t *testing.T) {
	sim.Test(t, sim.Config{Window: 1024}, func(t *testing.T, n *sim.Network) {
		client, server := pair(t, n, "a", "b")
		defer client.Close()
		defer server.Close()
		now := n.Clock().Now

		sw := startWatch(n)
		client.SetReadDeadline(now().Add(5 * time.Second))
		_, err := client.Read(make([]byte, 1))
		if !isTimeout(err) {
			t.Fatalf("Read past deadline = %v, want a timeout", err)
		}
		if d := sw.elapsed(); d != 5*time.Second {
			t.Fatalf("Read timed out after %v, want exactly 5s", d)
		}
		if _, err := client.Write([]byte("w")); err != nil {
			t.Fatalf("Write with only a read deadline: %v", err)
		}

		// Moving the deadline earlier while blocked.
		sw = startWatch(n)
		client.SetReadDeadline(now().Add(10 * time.Second))
		res, _ := readAsync(client, sw, 1)
		n.Clock().Sleep(2 * time.Second)
		client.SetReadDeadline(now().Add(time.Second))
		if r := <-res; !isTimeout(r.err) || r.at != 3*time.Second {
			t.Fatalf("Read = %v at %v, want a timeout at 3s", r.err, r.at)
		}

		// Later.
		sw = startWatch(n)
		client.SetReadDeadline(now().Add(time.Second))
		res, _ = readAsync(client, sw, 1)
		n.Clock().Sleep(500 * ms)
		client.SetReadDeadline(now().Add(4 * time.Second))
		if r := <-res; !isTimeout(r.err) || r.at != 4500*ms {
			t.Fatalf("Read = %v at %v, want a timeout at 4.5s", r.err, r.at)
		}

		// Cleared: data, not a timeout.
		sw = startWatch(n)
		client.SetReadDeadline(now().Add(time.Second))
		res, buf := readAsync(client, sw, 1)
		n.Clock().Sleep(500 * ms)
		client.SetReadDeadline(time.Time{})
		n.Clock().Sleep(time.Hour)
		n.Wait()
		if !pending(res) {
			t.Fatalf("Read returned after its deadline was cleared: %+v", <-res)
		}
		server.Write([]byte("z"))
		if r := <-res; r.err != nil || buf[0] != 'z' {
			t.Fatalf("Read = %q, %v; want z", buf[:r.n], r.err)
		}

		// A past deadline fails at once, even with data ready.
		server.Write([]byte("q"))
		n.Wait()
		client.SetDeadline(now())
		if k, err := client.Read(make([]byte, 1)); k != 0 || !isTimeout(err) {
			t.Fatalf("Read with past deadline = %d, %v", k, err)
		}
		client.SetDeadline(time.Time{})
		if _, err := client.Read(make([]byte, 1)); err != nil {
			t.Fatalf("Read after clearing = %v", err)
		}

		// Write deadline: the window fills, the rest times out.
		sw = startWatch(n)
		client.SetWriteDeadline(now().Add(2 * time.Second))
		k, err := client.Write(make([]byte, 3000))
		if !isTimeout(err) || sw.elapsed() != 2*time.Second {
			t.Fatalf("Write = %v after %v, want a timeout after 2s", err, sw.elapsed())
		}
		if k != 1024-1 { // "w" is still unread
			t.Fatalf("Write queued %d bytes, want the free window, 1023", k)
		}
	})
}

func TestAfter(t *testing.T) {
	var events []sim.Event
	cfg := sim.Config{
		Latency: sim.Latency{Min: 10 * ms, Max: 10 * ms},
		OnEvent: func(e sim.Event) { events = append(events, e) },
	}
	sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
		client, server := pair(t, n, "a", "b") // done at 20ms
		defer client.Close()
		defer server.Close()
		sw := startWatch(n)

		var fired []string
		n.After(10*ms, func() {
			fired = append(fired, "partition")
			if d := sw.elapsed(); d != 10*ms {
				t.Errorf("callback ran after %v, want 10ms", d)
			}
			n.PartitionOneWay("a", "b")
		})
		n.After(10*ms, func() { fired = append(fired, "second") })
		n.After(5*ms, func() { fired = append(fired, "first") })
		n.After(15*ms, func() { n.HealAll() })
		// Due at +10ms, the instant of the partition: callbacks go first,
		// so it is lost.
		client.Write([]byte("lost"))
		// Sent at +15ms, after the heal, on a connection that lost data:
		// it vanishes too. A new connection gets through.
		n.Clock().Sleep(15 * ms)
		client.Write([]byte("gone"))
		client2, server2 := pair(t, n, "a", "b")
		defer client2.Close()
		defer server2.Close()
		client2.Write([]byte("kept"))
		got := make([]byte, 4)
		if _, err := io.ReadFull(server2, got); err != nil || string(got) != "kept" {
			t.Fatalf("Read = %q, %v; want kept", got, err)
		}
		if want := []string{"first", "partition", "second"}; !equal(fired, want) {
			t.Fatalf("callbacks ran in order %v, want %v", fired, want)
		}
		n.Wait()
	})
	var trace []string
	for _, e := range events {
		trace = append(trace, e.String())
	}
	want := []string{
		"10ms syn a#1 a:49152>b:49152",
		"20ms synack a#1 b:49152>a:49152",
		"30ms partition a>b",
		"30ms drop-data a#1 a:49152>b:49152 4B",
		"35ms heal a>b",
		"45ms drop-data a#1 a:49152>b:49152 4B",
		"45ms syn a#2 a:49153>b:49153",
		"55ms synack a#2 b:49153>a:49153",
		"65ms data a#2 a:49153>b:49153 4B",
	}
	if !equal(trace, want) {
		t.Fatalf("trace:\n%s\nwant:\n%s", join(trace), join(want))
	}
}

func TestCloseUnblocksEverything(t *testing.T) {
	sim.Test(t, sim.Config{Window: 16, Latency: sim.Latency{Min: ms, Max: ms}}, func(t *testing.T, n *sim.Network) {
		client, server := pair(t, n, "a", "b")
		l := listen(t, n, "b", ":1")
		n.Partition("a", "c")
		n.Host("c")

		errs := make(chan string, 4)
		go func() {
			_, err := l.Accept()
			errs <- "accept: " + kind(err)
		}()
		go func() {
			_, err := server.Read(make([]byte, 1))
			errs <- "read: " + kind(err)
		}()
		go func() {
			_, err := client.Write(make([]byte, 100)) // the window is 16
			errs <- "write: " + kind(err)
		}()
		go func() {
			_, err := n.Host("a").Dial(context.Background(), "c:1") // no deadline, SYN lost
			errs <- "dial: " + kind(err)
		}()
		n.Wait()
		if len(errs) != 0 {
			t.Fatalf("something returned before Close: %s", <-errs)
		}
		if err := n.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		got := map[string]bool{}
		for range 4 {
			got[<-errs] = true
		}
		for _, want := range []string{"accept: closed", "read: reset", "write: reset", "dial: closed"} {
			if !got[want] {
				t.Errorf("missing %q in %v", want, got)
			}
		}
		if _, err := n.Host("a").Dial(context.Background(), "b:1"); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Dial after Close = %v, want net.ErrClosed", err)
		}
		if _, err := n.Host("a").Listen(":1"); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Listen after Close = %v, want net.ErrClosed", err)
		}
		n.Wait() // returns at once
	})
}

// TestRealClockWithLatency checks the network outside a bubble with delays:
// it must work, only without the determinism.
func TestRealClockWithLatency(t *testing.T) {
	n := sim.New(sim.Config{Latency: sim.Latency{Min: ms, Max: 3 * ms}})
	defer n.Close()
	l := listen(t, n, "srv", ":7")
	defer l.Close()
	go serveEcho(l)
	c := dial(t, n, "cli", "srv:7")
	defer c.Close()
	c.SetDeadline(n.Clock().Now().Add(time.Minute))
	msg := bytes.Repeat([]byte("0123456789"), 20000) // more than a window
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs")
	}
}

func kind(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case err == nil:
		return "nil"
	}
	return err.Error()
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func join(s []string) string {
	var b bytes.Buffer
	for _, x := range s {
		b.WriteString("\t" + x + "\n")
	}
	return b.String()
}

func TestCloseFromCallback(t *testing.T) {
	sim.Test(t, sim.Config{}, func(t *testing.T, n *sim.Network) {
		client, server := pair(t, n, "a", "b")
		l := listen(t, n, "b", ":80")
		sw := startWatch(n)
		n.After(time.Second, func() { n.Close() })
		res, _ := readAsync(client, sw, 1)
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) || sw.elapsed() != time.Second {
			t.Fatalf("Accept = %v after %v, want net.ErrClosed after 1s", err, sw.elapsed())
		}
		if r := <-res; !errors.Is(r.err, syscall.ECONNRESET) || r.at != time.Second {
			t.Fatalf("Read = %v after %v, want ECONNRESET after 1s", r.err, r.at)
		}
		server.Close()
	})
}

func TestRandAndClock(t *testing.T) {
	sim.Test(t, sim.Config{Seed: 5}, func(t *testing.T, n *sim.Network) {
		m := sim.New(sim.Config{Seed: 5, Quiesce: func() {}})
		defer m.Close()
		if n.Rand("x").Uint64() != m.Rand("x").Uint64() {
			t.Error("the same seed and name give different streams")
		}
		if n.Rand("x").Uint64() == n.Rand("y").Uint64() {
			t.Error("streams x and y start the same")
		}
		start := n.Clock().Now()
		n.Clock().Sleep(time.Hour)
		if d := n.Clock().Since(start); d != time.Hour {
			t.Errorf("an hour of bubble time measured %v", d)
		}
	})
}

func TestDialContextAndAddresses(t *testing.T) {
	sim.Test(t, sim.Config{Latency: sim.Latency{Min: ms, Max: ms}}, func(t *testing.T, n *sim.Network) {
		h := n.Host("a")
		if h.Name() != "a" || n.Host("a") != h {
			t.Fatal("Host is not get-or-create")
		}
		l := listen(t, n, "a", "a:80")
		defer l.Close()
		go serveEcho(l)

		// Shaped like net.Dialer.DialContext, and "" dials the host itself.
		var dialer func(context.Context, string, string) (net.Conn, error) = h.DialContext
		c, err := dialer(t.Context(), "tcp", ":80")
		if err != nil {
			t.Fatalf("DialContext(tcp, :80): %v", err)
		}
		c.Close()
		if _, err := dialer(t.Context(), "udp", "a:80"); err == nil {
			t.Error("DialContext(udp) succeeded")
		}
		for _, bad := range []string{"a", "a:http", "a:70000", "a:-1"} {
			if _, err := h.Dial(t.Context(), bad); err == nil {
				t.Errorf("Dial(%q) succeeded", bad)
			}
			if _, err := h.Listen(bad); err == nil {
				t.Errorf("Listen(%q) succeeded", bad)
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := h.Dial(ctx, "a:80"); !errors.Is(err, context.Canceled) {
			t.Errorf("Dial with a done context = %v, want context.Canceled", err)
		}

		// A Reset while the SYN is in flight fails the Dial with ECONNRESET.
		n.After(ms/2, func() { n.Reset("a", "a") })
		if _, err := h.Dial(t.Context(), "a:80"); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Dial reset in flight = %v, want ECONNRESET", err)
		}
	})
}
