package rpc_test

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/rpc"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(replicaEnv); spec != "" {
		runReplica(spec) // this process is a replica that a test started
		return
	}
	goleak.VerifyTestMain(m)
}

const patience = 10 * time.Second

// Echo is the benchmark message: a 16-byte payload and a sequence number,
// encoded as a msgpack array by reflection (the default path).
type Echo struct {
	//lint:ignore U1000 read by msgpack through reflection
	_msgpack struct{} `msgpack:",as_array"`
	Payload  []byte
	N        int64
}

var (
	echo       = rpc.NewMethod[Echo, Echo]("echo", 1)
	echoStream = rpc.NewStream[Echo, Echo]("echo-stream", 1)
	notify     = rpc.NewOneWay[Echo]("notify", 1)
)

func patient(t testing.TB) context.Context {
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), patience)
	t.Cleanup(cancel)
	return ctx
}

// serve starts a server with hs on 127.0.0.1 and returns its address.
func serve(t testing.TB, cfg rpc.Config) (string, *rpc.Server) {
	t.Helper()
	s, err := rpc.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(l); close(done) }()
	t.Cleanup(func() {
		s.Close(context.Background())
		<-done
	})
	return l.Addr().String(), s
}

func dial(t testing.TB, addr string, cfg rpc.Config) *rpc.Conn {
	t.Helper()
	c, err := rpc.Dial(patient(t), nil, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echoHandlers implements echo, echo-stream and notify (into got).
func echoHandlers(got chan<- Echo) *rpc.Handlers {
	var hs rpc.Handlers
	echo.Implement(&hs, func(ctx context.Context, req Echo) (Echo, error) { return req, nil })
	echoStream.Implement(&hs, func(ctx context.Context, req Echo, st *rpc.ServerStream[Echo, Echo]) error {
		if err := st.Send(req); err != nil {
			return err
		}
		for {
			r, err := st.Recv()
			if err != nil {
				return nil // io.EOF: the opener is done
			}
			if err := st.Send(r); err != nil {
				return err
			}
		}
	})
	notify.Implement(&hs, func(ctx context.Context, m Echo) error {
		if got != nil {
			got <- m
		}
		return nil
	})
	return &hs
}
