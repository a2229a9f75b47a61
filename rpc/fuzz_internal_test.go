package rpc

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tetherkit/tether/clock"
)

// Run a fuzzer under a memory limit: a decoder that trusts a declared
// length can take the machine down.
//
//	(ulimit -v 4000000; go test -run '^$' -fuzz FuzzHello -fuzztime 30s ./rpc/)

func FuzzHello(f *testing.F) {
	h := helloFor(1, 2)
	h.menu = []MethodInfo{{Name: "echo", Version: 1, Kind: "method"}}
	good := h.encode()
	f.Add(good[headerLen:])
	f.Add([]byte{byte(kindHello), 0xaa, 't', 'e', 't', 'h', 'e', 'r', '-', 'r', 'p', 'c', 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHello(b)
		if err != nil {
			return
		}
		if len(h.menu) > maxMenuLen || len(h.versions) > maxVersionsSent || h.maxFrame < 64 {
			t.Fatalf("parseHello accepted %+v", h)
		}
	})
}

// Payloads: validValue accepts exactly one well-formed value whose lengths
// fit (msgpack's own Skip agrees), and decoding what it accepts neither
// panics nor allocates far beyond the payload's size.
func FuzzPayload(f *testing.F) {
	for _, v := range []any{nil, 1, -1, "s", []byte("b"), []any{1, "x"}, map[string]any{"k": 1.5}, struct {
		A int
		B []string
	}{1, []string{"x"}}} {
		b, _ := msgpack.Marshal(v)
		f.Add(b)
	}
	f.Add([]byte{0xdd, 0x0f, 0xff, 0xff, 0xff})
	f.Add([]byte{0xdf, 0x0f, 0xff, 0xff, 0xff})
	f.Add([]byte{0xc6, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if !validValue(b) {
			return
		}
		// What we accept, msgpack's own walk accepts too, as exactly one
		// value: our check is never laxer than the decoder.
		r := bytes.NewReader(b)
		if err := msgpack.NewDecoder(r).Skip(); err != nil || r.Len() != 0 {
			t.Fatalf("validValue accepted % x, which msgpack's Skip refuses (%v, %d left)", b, err, r.Len())
		}
		var into struct {
			A int
			B []string
			C map[string]int
			D []byte
		}
		_ = decodePayload(b, &into)
		var anyv any
		_ = decodePayload(b, &anyv)
	})
}

// The bytes after a hello: whatever a peer sends, the connection neither
// panics nor hangs — it serves, or closes with a reason.
func FuzzConnInput(f *testing.F) {
	f.Add(rawFrame(kindHeartbeat, nil))
	f.Add(rawFrame(kindCall, []byte{0x01}, 1, 0, 0))
	f.Add(rawFrame(kindCall, []byte{0xdd, 0x0f, 0xff, 0xff, 0xff}, 1, 0, 0))
	f.Add(rawFrame(kindStreamOpen, []byte{0xa1, 'x'}, 3, 1, 5))
	f.Add(rawFrame(kindStreamItem, []byte{0x01}, 3))
	f.Add(rawFrame(kindCloseStarted, []byte{0xa3, 'b', 'y', 'e'}))
	f.Add(append(rawFrame(kindCancel, nil, 1), 0xff, 0xff, 0xff, 0xff))
	f.Add([]byte{0, 0, 0, 1, 99})
	var hs Handlers
	NewMethod[[]byte, []byte]("echo", 1).Implement(&hs, func(_ context.Context, b []byte) ([]byte, error) { return b, nil })
	NewStream[string, string]("words", 1).Implement(&hs, func(ctx context.Context, s string, st *ServerStream[string, string]) error {
		for {
			w, err := st.Recv()
			if err != nil {
				return nil
			}
			st.Send(w)
		}
	})
	f.Fuzz(func(t *testing.T, input []byte) {
		a, b := net.Pipe()
		defer a.Close()
		go func() {
			b.Write(helloFor(1).encode())
			b.Write(input)
			b.Close()
		}()
		go func() { // drain what the connection sends
			buf := make([]byte, 4096)
			for {
				if _, err := a.Read(buf); err != nil {
					return
				}
			}
		}()
		ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 5*time.Second)
		defer cancel()
		c, err := NewConn(ctx, a, Config{Handlers: &hs, MaxFrameSize: 4096, HeartbeatInterval: -1})
		if err != nil {
			return
		}
		select {
		case <-c.Done():
		case <-ctx.Done():
			t.Fatal("the connection neither served nor closed within 5 s")
		}
	})
}
