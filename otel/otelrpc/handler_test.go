package otelrpc_test

import (
	"context"
	"errors"
	"net"
	"regexp"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/tetherkit/tether/otel/otelrpc"
	"github.com/tetherkit/tether/rpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	get  = rpc.NewMethod[string, string]("kv.get", 1)
	down = rpc.NewMethod[string, string]("kv.down", 1) // the server calls it on itself
)

var traceparent = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`)

// End to end over real TCP: a client span and a server span in one trace,
// the span context carried as W3C trace context in the headers, the
// handler's own call continuing the trace, errors marked, metrics
// recorded; with the SDK's in-memory exporter and a manual reader.
func TestTracesAndMetrics(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	h, err := otelrpc.NewHandler(otelrpc.WithTracerProvider(tp), otelrpc.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}

	// The server: kv.get calls kv.down over a connection of its own, with
	// the handler's context, so that the trace goes on.
	var self *rpc.Conn
	var hs rpc.Handlers
	seen := make(chan string, 1)
	get.Implement(&hs, func(ctx context.Context, key string) (string, error) {
		seen <- rpc.HeaderFromContext(ctx)["traceparent"]
		if key == "missing" {
			return "", rpc.WithClass(errors.New("no such key"), rpc.NotFound)
		}
		return down.Call(ctx, self, key)
	})
	down.Implement(&hs, func(ctx context.Context, key string) (string, error) { return "value of " + key, nil })
	srv, err := rpc.NewServer(rpc.Config{Handlers: &hs, Stats: h})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { srv.Serve(l); close(served) }()
	defer func() { srv.Close(context.Background()); <-served }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if self, err = rpc.Dial(ctx, nil, "tcp", l.Addr().String(), rpc.Config{Stats: h}); err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	c, err := rpc.Dial(ctx, nil, "tcp", l.Addr().String(), rpc.Config{Stats: h})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// A call within a span of the caller's.
	parentCtx, parent := tp.Tracer("test").Start(ctx, "caller")
	got, err := get.Call(parentCtx, c, "k")
	parent.End()
	if err != nil || got != "value of k" {
		t.Fatalf("call = %q, %v", got, err)
	}
	if tp := <-seen; !traceparent.MatchString(tp) {
		t.Fatalf("the handler saw traceparent %q", tp)
	}
	if _, err := get.Call(ctx, c, "missing"); rpc.ClassOf(err) != rpc.NotFound {
		t.Fatalf("failing call = %v", err)
	}
	<-seen

	// Spans: caller → client kv.get → server kv.get → client kv.down →
	// server kv.down, one trace; then the failed call's two.
	ss := spans.GetSpans()
	var caller tracetest.SpanStub
	for _, s := range ss {
		if s.Name == "caller" {
			caller = s
		}
	}
	inTrace := func(name string, kind trace.SpanKind) tracetest.SpanStub {
		t.Helper()
		for _, s := range ss {
			if s.Name == name && s.SpanKind == kind && s.SpanContext.TraceID() == caller.SpanContext.TraceID() {
				return s
			}
		}
		t.Fatalf("no %v span %q in the caller's trace, among %d spans", kind, name, len(ss))
		return tracetest.SpanStub{}
	}
	chain := []tracetest.SpanStub{caller,
		inTrace("kv.get", trace.SpanKindClient), inTrace("kv.get", trace.SpanKindServer),
		inTrace("kv.down", trace.SpanKindClient), inTrace("kv.down", trace.SpanKindServer)}
	for i := 1; i < len(chain); i++ {
		s, p := chain[i], chain[i-1]
		if s.SpanContext.TraceID() != caller.SpanContext.TraceID() || s.Parent.SpanID() != p.SpanContext.SpanID() {
			t.Fatalf("%v %s: trace %v parent %v; want trace %v parent %v (%s)", s.SpanKind, s.Name,
				s.SpanContext.TraceID(), s.Parent.SpanID(), caller.SpanContext.TraceID(), p.SpanContext.SpanID(), p.Name)
		}
		if !hasAttr(s.Attributes, attribute.String("rpc.system", "tether")) || !hasAttr(s.Attributes, attribute.String("rpc.method", s.Name)) {
			t.Fatalf("%s attributes %v", s.Name, s.Attributes)
		}
	}
	failed := 0
	for _, s := range ss {
		if s.Status.Code == codes.Error {
			failed++
			if s.Name != "kv.get" || !hasAttr(s.Attributes, attribute.String("rpc.tether.class", "NotFound")) {
				t.Fatalf("failed span %s %v", s.Name, s.Attributes)
			}
		}
	}
	if len(ss) != 7 || failed != 2 {
		t.Fatalf("%d spans, %d failed; want 7 and 2 (the failed call at both ends)", len(ss), failed)
	}

	// Metrics.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	var conns int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					method, _ := p.Attributes.Value("rpc.method")
					class, _ := p.Attributes.Value("rpc.tether.class")
					counts[m.Name+" "+method.AsString()+" "+class.AsString()] += p.Count
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					conns += p.Value
				}
			}
		}
	}
	for _, want := range []string{"rpc.client.call.duration kv.get OK", "rpc.server.call.duration kv.get OK",
		"rpc.client.call.duration kv.get NotFound", "rpc.server.call.duration kv.down OK"} {
		if counts[want] != 1 {
			t.Fatalf("metric %q counted %d, want 1 (all: %v)", want, counts[want], counts)
		}
	}
	if conns != 4 { // two connections, seen from both ends
		t.Fatalf("%d connections open, want 4", conns)
	}
}

func hasAttr(attrs []attribute.KeyValue, kv attribute.KeyValue) bool {
	for _, a := range attrs {
		if a == kv {
			return true
		}
	}
	return false
}
