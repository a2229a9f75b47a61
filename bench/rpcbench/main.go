// rpcbench measures tether's rpc with the peers' shapes (suite rpc in
// ../README.md): request = a 16-byte payload and an int64, echoed; client
// and server in separate processes on 127.0.0.1; a warm-up, then a
// measured window.
//
//	rpcbench -mode server -addr 127.0.0.1:17700
//	rpcbench -mode client -addr 127.0.0.1:17700 -dur 3s -warm 500ms
//
// Workloads: unary_c1, unary_c64 (64 goroutines on one connection), stream
// (one bidirectional stream, at most -window requests outstanding) and
// oneway (one-way messages, counted at the server).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/rpc"
)

var (
	mode      = flag.String("mode", "client", "server|client")
	addr      = flag.String("addr", "127.0.0.1:17700", "listen/dial address")
	dur       = flag.Duration("dur", 3*time.Second, "measured window per workload")
	warm      = flag.Duration("warm", 500*time.Millisecond, "warm-up per workload")
	conc      = flag.Int("conc", 64, "callers for unary_cN")
	window    = flag.Int("window", 1024, "outstanding requests in the stream workload")
	works     = flag.String("workloads", "unary_c1,unary_cN,stream,oneway", "comma-separated workloads")
	prof      = flag.String("cpuprofile", "", "write a CPU profile of this process to the file")
	trc       = flag.String("trace", "", "write an execution trace of this process to the file")
	codecFlag = flag.String("codec", "custom", "custom: the message implements msgpack.CustomEncoder/Decoder (rpc's fast path); reflect: plain struct tags")
	hooksFlag = flag.Bool("hooks", false, "install a stats handler that does nothing and one pass-through interceptor of each kind (both ends must say so); the client reports as peer tether-hooks")
)

// Msg is the benchmark message, encoded by its own methods: rpc's fast path
// for hot message types (what generated code is to protobuf).
type Msg struct {
	Payload []byte
	N       int64
}

// EncodeMsgpack writes m as [payload, n].
func (m *Msg) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeArrayLen(2); err != nil {
		return err
	}
	if err := e.EncodeBytes(m.Payload); err != nil {
		return err
	}
	return e.EncodeInt(m.N)
}

// DecodeMsgpack reads m from [payload, n].
func (m *Msg) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n != 2 {
		return fmt.Errorf("Msg: %d fields, want 2", n)
	}
	if m.Payload, err = d.DecodeBytes(); err != nil {
		return err
	}
	m.N, err = d.DecodeInt64()
	return err
}

// PlainMsg is the same message with struct tags only: rpc's default,
// reflection-based path.
type PlainMsg struct {
	//lint:ignore U1000 read by msgpack through reflection
	_msgpack struct{} `msgpack:",as_array"`
	Payload  []byte
	N        int64
}

// Count is the one-way workload's result, from the server.
type Count struct {
	//lint:ignore U1000 read by msgpack through reflection
	_msgpack struct{} `msgpack:",as_array"`
	N        int64
	Nanos    int64
}

// codec is the benchmark's methods for one message type M, and how to make
// and read an M.
type codec[M any] struct {
	echo   *rpc.Method[M, M]
	echoes *rpc.Stream[M, M]
	oneway *rpc.OneWay[M]
	make   func(payload []byte, n int64) M
	fields func(M) ([]byte, int64)
	peer   string // the name in the result lines
}

var (
	custom = codec[Msg]{
		echo:   rpc.NewMethod[Msg, Msg]("echo", 1),
		echoes: rpc.NewStream[Msg, Msg]("echoes", 1),
		oneway: rpc.NewOneWay[Msg]("oneway", 1),
		make:   func(p []byte, n int64) Msg { return Msg{Payload: p, N: n} },
		fields: func(m Msg) ([]byte, int64) { return m.Payload, m.N },
		peer:   "tether",
	}
	plain = codec[PlainMsg]{
		echo:   rpc.NewMethod[PlainMsg, PlainMsg]("echo-plain", 1),
		echoes: rpc.NewStream[PlainMsg, PlainMsg]("echoes-plain", 1),
		oneway: rpc.NewOneWay[PlainMsg]("oneway-plain", 1),
		make:   func(p []byte, n int64) PlainMsg { return PlainMsg{Payload: p, N: n} },
		fields: func(m PlainMsg) ([]byte, int64) { return m.Payload, m.N },
		peer:   "tether-reflect",
	}
	onewayEnd = rpc.NewMethod[int64, Count]("oneway-done", 1)
)

var clk = clock.Real()

func main() {
	flag.Parse()
	log.SetFlags(0)
	if *trc != "" {
		f, err := os.Create(*trc)
		if err != nil {
			log.Fatal(err)
		}
		trace.Start(f)
		defer func() { trace.Stop(); f.Close() }()
	}
	if *prof != "" {
		stop := profile(*prof)
		defer stop()
		if *mode == "server" {
			// Stop profiling on SIGTERM/SIGINT, which is how servers end.
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
			go func() { <-sig; stop(); os.Exit(0) }()
		}
	}
	switch *mode {
	case "server":
		server()
	case "client":
		client()
	default:
		log.Fatalf("bad -mode %q", *mode)
	}
}

// counter counts one-way messages at the server.
type counter struct {
	mu          sync.Mutex
	count       int64
	first, last time.Time
	changed     chan struct{}
}

func (c *counter) add() {
	now := clk.Now()
	c.mu.Lock()
	if c.count == 0 {
		c.first = now
	}
	c.count++
	c.last = now
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// wait waits until sent messages were counted (or 5 s have passed), and
// returns the count and the time from the first to the last; it resets the
// counter.
func (c *counter) wait(sent int64) Count {
	deadline := clk.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		n, el := c.count, c.last.Sub(c.first)
		if n >= sent {
			c.count = 0
			c.mu.Unlock()
			return Count{N: n, Nanos: int64(el)}
		}
		c.mu.Unlock()
		select {
		case <-c.changed:
		case <-deadline.Chan():
			c.mu.Lock()
			c.count = 0
			c.mu.Unlock()
			return Count{N: n, Nanos: int64(el)}
		}
	}
}

func implement[M any](hs *rpc.Handlers, cd codec[M], cnt *counter) {
	cd.echo.Implement(hs, func(_ context.Context, m M) (M, error) { return cd.make(cd.fields(m)), nil })
	cd.echoes.Implement(hs, func(_ context.Context, m M, st *rpc.ServerStream[M, M]) error {
		if err := st.Send(cd.make(cd.fields(m))); err != nil {
			return err
		}
		for {
			m, err := st.Recv()
			if err != nil {
				return nil
			}
			if err := st.Send(cd.make(cd.fields(m))); err != nil {
				return err
			}
		}
	})
	cd.oneway.Implement(hs, func(_ context.Context, m M) error {
		if p, _ := cd.fields(m); len(p) != 16 {
			return fmt.Errorf("payload of %d bytes", len(p))
		}
		cnt.add()
		return nil
	})
}

func server() {
	var hs rpc.Handlers
	cnt := &counter{changed: make(chan struct{}, 1)}
	implement(&hs, custom, cnt)
	implement(&hs, plain, cnt)
	onewayEnd.Implement(&hs, func(ctx context.Context, sent int64) (Count, error) { return cnt.wait(sent), nil })
	s, err := rpc.NewServer(hooked(rpc.Config{Handlers: &hs, Identification: "rpcbench server"}))
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(s.Serve(l))
}

func client() {
	for _, w := range strings.Split(*works, ",") {
		name := w
		if w == "unary_cN" {
			name = fmt.Sprintf("unary_c%d", *conc)
		}
		var err error
		peer := custom.peer
		switch {
		case *codecFlag == "reflect":
			peer = plain.peer
			err = run(plain, w)
		case *hooksFlag:
			hooks := custom
			hooks.peer = "tether-hooks"
			peer = hooks.peer
			err = run(hooks, w)
		default:
			err = run(custom, w)
		}
		if err != nil {
			fail(peer, name, err)
		}
	}
}

func connect() (*rpc.Conn, error) {
	var lastErr error
	for range 100 { // the server may still be starting
		ctx, cancel := clock.WithTimeout(context.Background(), clk, 5*time.Second)
		c, err := rpc.Dial(ctx, nil, "tcp", *addr, hooked(rpc.Config{Identification: "rpcbench client"}))
		cancel()
		if err == nil {
			return c, nil
		}
		lastErr = err
		clk.Sleep(50 * time.Millisecond)
	}
	return nil, lastErr
}

func payload() []byte { return []byte("abcdefghijklmnop") }

func run[M any](cd codec[M], w string) error {
	c, err := connect()
	if err != nil {
		return err
	}
	defer c.Close()
	switch w {
	case "unary_c1":
		return unary(cd, c, 1, "unary_c1")
	case "unary_cN":
		return unary(cd, c, *conc, fmt.Sprintf("unary_c%d", *conc))
	case "stream":
		return stream(cd, c)
	case "oneway":
		return oneWay(cd, c)
	}
	return fmt.Errorf("unknown workload %q", w)
}

// unary runs conc callers back to back, for the warm-up and then for the
// measured window; every call's latency is kept. ops = calls started before
// the deadline that completed; elapsed = start → last completion.
func unary[M any](cd codec[M], c *rpc.Conn, conc int, name string) error {
	phase := func(d time.Duration, record bool) (int64, time.Duration, []samples, error) {
		var wg sync.WaitGroup
		recs := make([]samples, conc)
		counts := make([]int64, conc)
		ends := make([]time.Time, conc)
		errs := make([]error, conc)
		start := clk.Now()
		deadline := start.Add(d)
		ctx := context.Background()
		for g := range conc {
			if record {
				recs[g] = make(samples, 0, 1<<16)
			}
			wg.Go(func() {
				p := payload()
				n := int64(g) << 40
				for {
					t0 := clk.Now()
					if !t0.Before(deadline) {
						return
					}
					r, err := cd.echo.Call(ctx, c, cd.make(p, n))
					if rp, rn := cd.fields(r); err == nil && (rn != n || !bytes.Equal(rp, p)) {
						err = fmt.Errorf("bad echo")
					}
					if err != nil {
						errs[g] = err
						return
					}
					t1 := clk.Now()
					if record {
						recs[g] = append(recs[g], t1.Sub(t0))
					}
					counts[g]++
					ends[g] = t1
					n++
				}
			})
		}
		wg.Wait()
		var total int64
		last := start
		for g := range conc {
			if errs[g] != nil {
				return 0, 0, nil, errs[g]
			}
			total += counts[g]
			if ends[g].After(last) {
				last = ends[g]
			}
		}
		return total, last.Sub(start), recs, nil
	}
	if _, _, _, err := phase(*warm, false); err != nil {
		return err
	}
	n, el, recs, err := phase(*dur, true)
	if err != nil {
		return err
	}
	p50, p99 := percentiles(recs...)
	line(cd.peer, name, n, el, p50, p99, fmt.Sprintf("conc=%d conns=1", conc))
	return nil
}

// stream pipelines echoes over one stream: a sender keeps at most window
// requests outstanding, a receiver counts echoes. ops = echoes received;
// elapsed = start → last echo.
func stream[M any](cd codec[M], c *rpc.Conn) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := cd.echoes.Open(ctx, c, cd.make(payload(), -1))
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Recv(); err != nil {
		return err
	}
	phase := func(d time.Duration) (int64, time.Duration, error) {
		sem := make(chan struct{}, *window)
		sent := make(chan struct{}, *window)
		var sendErr atomic.Value
		start := clk.Now()
		deadline := start.Add(d)
		go func() {
			defer close(sent)
			p := payload()
			for n := int64(0); ; n++ {
				if n&63 == 0 && !clk.Now().Before(deadline) {
					return
				}
				sem <- struct{}{}
				if err := st.Send(cd.make(p, n)); err != nil {
					sendErr.Store(err)
					return
				}
				sent <- struct{}{}
			}
		}()
		var got int64
		var last time.Time
		var recvErr error
		for range sent {
			if recvErr == nil {
				if _, err := st.Recv(); err != nil {
					recvErr = err
				} else {
					got++
					last = clk.Now()
				}
			}
			<-sem
		}
		if err, _ := sendErr.Load().(error); err != nil {
			return 0, 0, err
		}
		if recvErr != nil {
			return 0, 0, recvErr
		}
		return got, last.Sub(start), nil
	}
	if _, _, err := phase(*warm); err != nil {
		return err
	}
	n, el, err := phase(*dur)
	if err != nil {
		return err
	}
	line(cd.peer, "stream", n, el, -1, -1, fmt.Sprintf("window=%d conns=1 kind=bidi_stream", *window))
	return nil
}

// oneWay sends one-way messages back to back for the window, then asks the
// server how many arrived and how long from the first to the last: the rate
// is taken at the receiver.
func oneWay[M any](cd codec[M], c *rpc.Conn) error {
	phase := func(d time.Duration) (sent int64, got Count, err error) {
		ctx := context.Background()
		deadline := clk.Now().Add(d)
		p := payload()
		for n := int64(0); ; n++ {
			if n&255 == 0 && !clk.Now().Before(deadline) {
				break
			}
			if err := cd.oneway.Send(ctx, c, cd.make(p, n)); err != nil {
				return 0, Count{}, err
			}
			sent++
		}
		got, err = onewayEnd.Call(ctx, c, sent)
		return sent, got, err
	}
	if _, _, err := phase(*warm); err != nil {
		return err
	}
	sent, got, err := phase(*dur)
	if err != nil {
		return err
	}
	line(cd.peer, "oneway", got.N, time.Duration(got.Nanos), -1, -1,
		fmt.Sprintf("sent=%d recv=%d lost=%d conns=1", sent, got.N, sent-got.N))
	return nil
}

// profile starts a CPU profile into file and returns the function that
// stops it (safe to call twice).
func profile(file string) func() {
	f, err := os.Create(file)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	var once sync.Once
	return func() { once.Do(func() { pprof.StopCPUProfile(); f.Close() }) }
}

// hooked adds, with -hooks, what a production deployment leaves on: a
// stats handler (one that does nothing, to measure the hook itself) and
// one interceptor of each kind, passing calls through.
func hooked(cfg rpc.Config) rpc.Config {
	if !*hooksFlag {
		return cfg
	}
	cfg.Stats = noopStats{}
	cfg.Interceptors = rpc.Interceptors{
		Unary: []rpc.UnaryServerInterceptor{func(ctx context.Context, _ *rpc.MethodInfo, req any, next rpc.UnaryHandler) (any, error) {
			return next(ctx, req)
		}},
		Stream: []rpc.StreamServerInterceptor{func(ctx context.Context, _ *rpc.MethodInfo, req any, st rpc.ServerStreamer, next rpc.StreamHandler) error {
			return next(ctx, req, st)
		}},
		UnaryClient: []rpc.UnaryClientInterceptor{func(ctx context.Context, info *rpc.MethodInfo, req, resp any, next rpc.Invoker) error {
			return next(ctx, info, req, resp)
		}},
		StreamClient: []rpc.StreamClientInterceptor{func(ctx context.Context, info *rpc.MethodInfo, req any, next rpc.Streamer) (rpc.ClientStreamer, error) {
			return next(ctx, info, req)
		}},
	}
	return cfg
}

// noopStats is a stats handler that does nothing.
type noopStats struct{}

func (noopStats) TagCall(ctx context.Context, _ rpc.CallInfo) context.Context { return ctx }
func (noopStats) HandleCall(context.Context, rpc.CallInfo, rpc.CallEnd)       {}
func (noopStats) HandleConn(rpc.ConnEvent)                                    {}
