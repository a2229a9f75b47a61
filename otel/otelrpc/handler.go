package otelrpc

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tetherkit/tether/rpc"
)

// instrumentation is the name of the tracer and the meter.
const instrumentation = "github.com/tetherkit/tether/otel/otelrpc"

// Option configures a Handler.
type Option func(*config)

type config struct {
	tp   trace.TracerProvider
	mp   metric.MeterProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider sets the tracer provider; the default is the global
// one (otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider sets the meter provider; the default is the global one
// (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// WithPropagators sets how span contexts travel in the headers; the default
// is W3C trace context and baggage.
func WithPropagators(p propagation.TextMapPropagator) Option { return func(c *config) { c.prop = p } }

// Handler is an rpc.StatsHandler that makes spans and metrics. It is safe
// for concurrent use, and one Handler may serve any number of connections
// and servers.
type Handler struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator

	duration [2]metric.Float64Histogram // [server, client]
	reqSize  [2]metric.Int64Histogram
	respSize [2]metric.Int64Histogram
	conns    metric.Int64UpDownCounter
}

var _ rpc.StatsHandler = (*Handler)(nil)

// NewHandler returns a Handler, or an error if its instruments cannot be
// made.
func NewHandler(opts ...Option) (*Handler, error) {
	c := config{
		tp:   otel.GetTracerProvider(),
		mp:   otel.GetMeterProvider(),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	for _, o := range opts {
		o(&c)
	}
	h := &Handler{tracer: c.tp.Tracer(instrumentation), prop: c.prop}
	m := c.mp.Meter(instrumentation)
	var err error
	for i, side := range []string{"server", "client"} {
		if h.duration[i], err = m.Float64Histogram("rpc."+side+".call.duration", metric.WithUnit("s"),
			metric.WithDescription("How long calls took, from their start to their end.")); err != nil {
			return nil, err
		}
		if h.reqSize[i], err = m.Int64Histogram("rpc."+side+".request.size", metric.WithUnit("By"),
			metric.WithDescription("Payload bytes of the requests of calls (a stream's: its opening and every request item).")); err != nil {
			return nil, err
		}
		if h.respSize[i], err = m.Int64Histogram("rpc."+side+".response.size", metric.WithUnit("By"),
			metric.WithDescription("Payload bytes of the responses of calls (a stream's: every item).")); err != nil {
			return nil, err
		}
	}
	if h.conns, err = m.Int64UpDownCounter("rpc.tether.connections", metric.WithUnit("{connection}"),
		metric.WithDescription("rpc connections open.")); err != nil {
		return nil, err
	}
	return h, nil
}

// TagCall starts the call's span: at the caller, a client span whose
// context it puts in the call's headers; at the server, a server span
// whose parent is the one in the headers.
func (h *Handler) TagCall(ctx context.Context, info rpc.CallInfo) context.Context {
	attrs := trace.WithAttributes(
		attribute.String("rpc.system", "tether"),
		attribute.String("rpc.method", info.Method.Name),
		attribute.Int("rpc.tether.version", info.Method.Version),
		attribute.String("network.peer.address", peerAddr(info.Peer)),
	)
	if info.Client {
		ctx, _ = h.tracer.Start(ctx, info.Method.Name, trace.WithSpanKind(trace.SpanKindClient), attrs)
		md := rpc.Metadata{}
		h.prop.Inject(ctx, propagation.MapCarrier(md))
		if len(md) > 0 {
			ctx = rpc.WithHeaders(ctx, md)
		}
		return ctx
	}
	ctx = h.prop.Extract(ctx, propagation.MapCarrier(rpc.HeaderFromContext(ctx)))
	ctx, _ = h.tracer.Start(ctx, info.Method.Name, trace.WithSpanKind(trace.SpanKindServer), attrs)
	return ctx
}

// HandleCall ends the call's span and records its metrics.
func (h *Handler) HandleCall(ctx context.Context, info rpc.CallInfo, end rpc.CallEnd) {
	span := trace.SpanFromContext(ctx)
	class := attribute.String("rpc.tether.class", end.Class.String())
	if end.Err != nil {
		span.SetStatus(codes.Error, end.Err.Error())
		span.SetAttributes(class)
	}
	span.End()

	side := 0
	if info.Client {
		side = 1
	}
	set := metric.WithAttributes(
		attribute.String("rpc.system", "tether"),
		attribute.String("rpc.method", info.Method.Name),
		attribute.Int("rpc.tether.version", info.Method.Version),
		class,
	)
	h.duration[side].Record(ctx, end.Duration.Seconds(), set)
	h.reqSize[side].Record(ctx, int64(end.RequestBytes), set)
	h.respSize[side].Record(ctx, int64(end.ResponseBytes), set)
}

// HandleConn counts the connections open.
func (h *Handler) HandleConn(e rpc.ConnEvent) {
	n := int64(1)
	if e.Closed {
		n = -1
	}
	h.conns.Add(context.Background(), n, metric.WithAttributes(attribute.String("rpc.system", "tether")))
}

func peerAddr(p *rpc.Peer) string {
	if p == nil || p.Addr == nil {
		return ""
	}
	return p.Addr.String()
}
