package main

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherkit/tether/rpc"
)

// Metrics is an rpc.StatsHandler that counts calls and connections in
// Prometheus collectors: a few lines are all it takes to observe rpc.
type Metrics struct {
	calls    *prometheus.CounterVec   // by side, method, class
	duration *prometheus.HistogramVec // by side, method
	bytes    *prometheus.CounterVec   // by side, method, direction
	conns    prometheus.Gauge
}

// NewMetrics makes the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rpc_calls_total", Help: "Calls, streams and one-way messages, by side, method and error class.",
		}, []string{"side", "method", "class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rpc_call_duration_seconds", Help: "How long calls took.", Buckets: prometheus.ExponentialBuckets(50e-6, 4, 10),
		}, []string{"side", "method"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rpc_payload_bytes_total", Help: "Payload bytes of requests and responses.",
		}, []string{"side", "method", "direction"}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rpc_connections_open", Help: "rpc connections open."}),
	}
	reg.MustRegister(m.calls, m.duration, m.bytes, m.conns)
	return m
}

// TagCall leaves the context as it is: there is nothing to carry.
func (m *Metrics) TagCall(ctx context.Context, _ rpc.CallInfo) context.Context { return ctx }

// HandleCall counts the call.
func (m *Metrics) HandleCall(_ context.Context, info rpc.CallInfo, end rpc.CallEnd) {
	side := "server"
	if info.Client {
		side = "client"
	}
	method := info.Method.Name
	m.calls.WithLabelValues(side, method, end.Class.String()).Inc()
	m.duration.WithLabelValues(side, method).Observe(end.Duration.Seconds())
	m.bytes.WithLabelValues(side, method, "request").Add(float64(end.RequestBytes))
	m.bytes.WithLabelValues(side, method, "response").Add(float64(end.ResponseBytes))
}

// HandleConn counts the connections open.
func (m *Metrics) HandleConn(e rpc.ConnEvent) {
	if e.Closed {
		m.conns.Dec()
	} else {
		m.conns.Inc()
	}
}
