package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/rpc"
)

// The methods of a small key/value service, declared once and shared by
// the server and its clients.
type (
	GetReq struct {
		Key string
	}
	GetResp struct {
		Value string
	}
)

var (
	Get   = rpc.NewMethod[GetReq, GetResp]("kv.get", 1)
	Watch = rpc.NewStream[GetReq, string]("kv.watch", 1)
	Note  = rpc.NewOneWay[string]("kv.note", 1)
)

// kvHandlers implements the service over a fixed map.
func kvHandlers(notes chan<- string) *rpc.Handlers {
	data := map[string]string{"greeting": "hello", "answer": "42"}
	var hs rpc.Handlers
	Get.Implement(&hs, func(ctx context.Context, req GetReq) (GetResp, error) {
		v, ok := data[req.Key]
		if !ok {
			return GetResp{}, rpc.WithClass(fmt.Errorf("no key %q", req.Key), rpc.NotFound)
		}
		return GetResp{Value: v}, nil
	})
	Watch.Implement(&hs, func(ctx context.Context, req GetReq, st *rpc.ServerStream[GetReq, string]) error {
		for i := range 3 {
			if err := st.Send(fmt.Sprintf("%s #%d", data[req.Key], i)); err != nil {
				return err
			}
		}
		return nil // the stream ends: the opener's Recv returns io.EOF
	})
	Note.Implement(&hs, func(ctx context.Context, msg string) error {
		notes <- msg
		return nil
	})
	return &hs
}

// startKV serves the service on 127.0.0.1 and returns its address and a
// function that stops it.
func startKV(cfg rpc.Config) (string, func()) {
	if cfg.Handlers == nil {
		cfg.Handlers = kvHandlers(nil)
	}
	srv, err := rpc.NewServer(cfg)
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	return l.Addr().String(), func() { srv.Close(context.Background()); <-done }
}

// A server, a connection to it, and a call.
func Example() {
	srv, err := rpc.NewServer(rpc.Config{Handlers: kvHandlers(nil), Identification: "kv"})
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close(context.Background())

	conn, err := rpc.Dial(context.Background(), nil, "tcp", l.Addr().String(), rpc.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	resp, err := Get.Call(context.Background(), conn, GetReq{Key: "greeting"})
	fmt.Println(resp.Value, err, conn.Peer().Identification)
	// Output: hello <nil> kv
}

// A Client keeps a connection to a service that may move between hosts,
// here one of two replicas: calls wait for a connection, and go to the
// other replica if one goes away.
func ExampleNewClient() {
	a, stopA := startKV(rpc.Config{})
	defer stopA()
	b, stopB := startKV(rpc.Config{})
	defer stopB()

	client, err := rpc.NewClient(rpc.ClientConfig{
		ServerName: "kv",
		Resolver:   addr.NewList(a, b), // the next replica on each attempt
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close(context.Background())
	resp, err := Get.Call(context.Background(), client, GetReq{Key: "answer"})
	fmt.Println(resp.Value, err)
	// Output: 42 <nil>
}

// With Replicas, a Client keeps a connection to each of several replicas
// and spreads its calls over those that are up.
func ExampleClientConfig_replicas() {
	a, stopA := startKV(rpc.Config{Identification: "a"})
	defer stopA()
	b, stopB := startKV(rpc.Config{Identification: "b"})
	defer stopB()

	client, err := rpc.NewClient(rpc.ClientConfig{ServerName: "kv", Resolver: addr.NewList(a, b), Replicas: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close(context.Background())
	seen := map[string]bool{}
	for len(seen) < 2 {
		conn, err := client.Conn(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		if _, err := Get.Call(context.Background(), conn, GetReq{Key: "answer"}); err != nil {
			log.Fatal(err)
		}
		seen[conn.Peer().Identification] = true
	}
	fmt.Println(seen["a"], seen["b"])
	// Output: true true
}

// A stream: the handler sends items until it returns.
func ExampleStream_Open() {
	address, stop := startKV(rpc.Config{})
	defer stop()
	conn, err := rpc.Dial(context.Background(), nil, "tcp", address, rpc.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	st, err := Watch.Open(context.Background(), conn, GetReq{Key: "greeting"})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	for {
		item, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(item)
	}
	// Output:
	// hello #0
	// hello #1
	// hello #2
}

// One-way messages are handled in the order sent, without a response.
func ExampleOneWay_Send() {
	notes := make(chan string, 2)
	address, stop := startKV(rpc.Config{Handlers: kvHandlers(notes)})
	defer stop()
	conn, err := rpc.Dial(context.Background(), nil, "tcp", address, rpc.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	Note.Send(context.Background(), conn, "first")
	Note.Send(context.Background(), conn, "second")
	fmt.Println(<-notes, <-notes)
	// Output: first second
}

// Interceptors wrap calls at both ends; headers travel with the call, and
// the handler's trailer comes back.
func ExampleInterceptors() {
	// The server's interceptor refuses calls without a token, and tells
	// the caller who served it.
	auth := func(ctx context.Context, info *rpc.MethodInfo, req any, next rpc.UnaryHandler) (any, error) {
		if rpc.HeaderFromContext(ctx)["authorization"] != "Bearer s3cret" {
			return nil, rpc.WithClass(errors.New("who are you?"), rpc.Unauthenticated)
		}
		rpc.SetTrailer(ctx, "served-by", "replica-1")
		return next(ctx, req)
	}
	address, stop := startKV(rpc.Config{Interceptors: rpc.Interceptors{Unary: []rpc.UnaryServerInterceptor{auth}}})
	defer stop()

	// The client's interceptor adds the token and logs each call.
	token := func(ctx context.Context, info *rpc.MethodInfo, req, resp any, next rpc.Invoker) error {
		err := next(rpc.WithHeader(ctx, "authorization", "Bearer s3cret"), info, req, resp)
		fmt.Printf("%s v%d: %v\n", info.Name, info.Version, rpc.ClassOf(err))
		return err
	}
	conn, err := rpc.Dial(context.Background(), nil, "tcp", address, rpc.Config{
		Interceptors: rpc.Interceptors{UnaryClient: []rpc.UnaryClientInterceptor{token}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	var trailer rpc.Metadata
	ctx := rpc.ReceiveTrailer(context.Background(), &trailer)
	resp, err := Get.Call(ctx, conn, GetReq{Key: "greeting"})
	fmt.Println(resp.Value, err, trailer["served-by"])
	// Output:
	// kv.get v1: OK
	// hello <nil> replica-1
}

// Every error of a call has a class, and says whether the call may have
// run at the peer.
func ExampleClassOf() {
	address, stop := startKV(rpc.Config{})
	defer stop()
	conn, err := rpc.Dial(context.Background(), nil, "tcp", address, rpc.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	_, err = Get.Call(context.Background(), conn, GetReq{Key: "nothing"})
	fmt.Println(rpc.ClassOf(err), rpc.MayHaveRun(err))
	var re *rpc.RemoteError
	fmt.Println(errors.As(err, &re), re.Message)

	_, err = rpc.NewMethod[GetReq, GetResp]("kv.put", 1).Call(context.Background(), conn, GetReq{})
	fmt.Println(rpc.ClassOf(err), rpc.MayHaveRun(err), strings.Contains(err.Error(), "does not implement kv.put"))
	// Output:
	// NotFound true
	// true no key "nothing"
	// Unimplemented false true
}
