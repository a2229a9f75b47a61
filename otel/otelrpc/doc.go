// Package otelrpc traces and measures tether's rpc calls with
// OpenTelemetry, through rpc's stats hook: give the Handler to
// rpc.Config.Stats at both ends.
//
//	h, err := otelrpc.NewHandler()                  // the global providers, W3C trace context
//	srv, err := rpc.NewServer(rpc.Config{Handlers: hs, Stats: h})
//	client, err := rpc.NewClient(rpc.ClientConfig{…, Conn: rpc.Config{Stats: h}})
//
// Each call, stream and one-way message is a span: of kind client at the
// caller (one per attempt, on a Client), of kind server at the handler,
// whose parent it is — the caller's span context travels in the call's
// headers as W3C trace context ("traceparent", "tracestate"), and the
// handler's context carries the server span, so the handler's own calls
// continue the trace. A span ends with status Error and the attribute
// rpc.tether.class when the call failed.
//
// Metrics, for each side: rpc.{client,server}.call.duration (seconds),
// rpc.{client,server}.request.size and .response.size (bytes), with the
// attributes rpc.system ("tether"), rpc.method, rpc.tether.version and
// rpc.tether.class; and rpc.tether.connections, the connections open.
//
// This package is a module of its own (github.com/tetherkit/tether/otel),
// so that tether itself does not depend on OpenTelemetry.
package otelrpc
