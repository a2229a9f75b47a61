package sim_test

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherkit/tether/test/sim"
)

// Datagrams below TCP's promises: lost, duplicated and reordered at the
// rates set, lost to partitions, and the same on every run of a seed.
func TestPacketFaults(t *testing.T) {
	const sent = 2000
	type result struct {
		got                 []uint32
		lost, dropped, dups int
		trace               string
	}
	run := func(seed uint64) result {
		var r result
		var trace []string
		cfg := sim.Config{
			Seed:    seed,
			Latency: sim.Latency{Min: ms, Max: 20 * ms},
			OnEvent: func(e sim.Event) {
				trace = append(trace, e.String())
				switch e.Kind {
				case "lose-dgram":
					r.lost++
				case "drop-dgram":
					r.dropped++
				}
			},
		}
		sim.Test(t, cfg, func(t *testing.T, n *sim.Network) {
			a, err := n.Host("a").ListenPacket(":0")
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := n.Host("b").ListenPacket(":9")
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			n.SetPacketFaults("a", "b", sim.PacketFaults{Loss: 0.1, Duplicate: 0.05})
			n.After(time.Second, func() { n.Partition("a", "b") })
			n.After(1100*ms, func() { n.Heal("a", "b") })
			go func() {
				buf := make([]byte, 4)
				for i := range uint32(sent) {
					binary.BigEndian.PutUint32(buf, i)
					if k, err := a.WriteTo(buf, sim.Addr{Host: "b", Port: 9}); k != 4 || err != nil {
						t.Errorf("WriteTo = %d, %v", k, err)
					}
					n.Clock().Sleep(ms)
				}
			}()
			buf := make([]byte, 100)
			for {
				b.SetReadDeadline(n.Host("b").Clock().Now().Add(time.Second))
				k, from, err := b.ReadFrom(buf)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				if err != nil || k != 4 || from.String() != a.LocalAddr().String() {
					t.Fatalf("ReadFrom = %d, %v, %v", k, from, err)
				}
				r.got = append(r.got, binary.BigEndian.Uint32(buf))
			}
		})
		r.trace = strings.Join(trace, "\n")
		return r
	}
	r := run(1)
	seen := make(map[uint32]int)
	reordered := 0
	for i, x := range r.got {
		seen[x]++
		if i > 0 && x < r.got[i-1] {
			reordered++
		}
	}
	for x, k := range seen {
		if k > 1 {
			r.dups += k - 1
		}
		if x >= sent {
			t.Fatalf("received %d, never sent", x)
		}
	}
	t.Logf("%d sent: %d received (%d distinct), %d lost, %d dropped by the partition, %d duplicates, %d overtaken",
		sent, len(r.got), len(seen), r.lost, r.dropped, r.dups, reordered)
	switch {
	case r.lost < sent/20 || r.lost > sent/5:
		t.Errorf("%d lost, want about 10 %%", r.lost)
	case r.dups < sent/100 || r.dups > sent/10:
		t.Errorf("%d duplicates, want about 5 %%", r.dups)
	case r.dropped < 50 || r.dropped > 150:
		t.Errorf("%d dropped by the 100 ms partition, want about 100", r.dropped)
	case reordered == 0:
		t.Error("nothing overtaken with latencies of 1–20 ms")
	case len(seen) > sent-r.lost || len(seen) < sent-r.lost-r.dropped:
		t.Errorf("%d distinct received of %d sent, %d lost, %d dropped", len(seen), sent, r.lost, r.dropped)
	}
	if again := run(1); again.trace != r.trace {
		t.Error("the same seed gave another trace")
	}
	if other := run(2); other.trace == r.trace {
		t.Error("seeds 1 and 2 gave the same trace")
	}
}

func TestPacketSocket(t *testing.T) {
	sim.Test(t, sim.Config{Latency: sim.Latency{Min: ms, Max: ms}}, func(t *testing.T, n *sim.Network) {
		h := n.Host("a")
		p, err := h.ListenPacket(":53")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.ListenPacket(":53"); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("second ListenPacket on :53 = %v, want EADDRINUSE", err)
		}
		if _, err := p.WriteTo([]byte("x"), sim.Addr{Host: "nowhere", Port: 1}); err == nil {
			t.Error("WriteTo an unknown host succeeded")
		}
		// To a port nobody listens on: sent, and dropped there.
		if k, err := p.WriteTo([]byte("x"), sim.Addr{Host: "a", Port: 1}); k != 1 || err != nil {
			t.Errorf("WriteTo = %d, %v", k, err)
		}
		// Truncation.
		q, _ := n.Host("b").ListenPacket(":0")
		q.WriteTo([]byte("hello"), sim.Addr{Host: "a", Port: 53})
		buf := make([]byte, 2)
		if k, from, err := p.ReadFrom(buf); k != 2 || string(buf) != "he" || from.String() != q.LocalAddr().String() || err != nil {
			t.Errorf("ReadFrom = %d %q, %v, %v", k, buf, from, err)
		}
		// A crash freezes the reader; Close releases it.
		res := make(chan error, 1)
		go func() {
			_, _, err := p.ReadFrom(buf)
			res <- err
		}()
		n.Crash("a")
		q.WriteTo([]byte("late"), sim.Addr{Host: "a", Port: 53})
		n.Clock().Sleep(time.Second)
		n.Wait()
		if len(res) != 0 {
			t.Fatalf("a crashed host's ReadFrom returned %v", <-res)
		}
		p.Close()
		if err := <-res; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ReadFrom after Close = %v", err)
		}
		q.Close()
	})
}
