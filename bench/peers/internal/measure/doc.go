// Package measure is what the peer programs share, so that every peer is
// measured by the same code: the latency recorder and its nearest-rank
// percentiles (stats.go), the result line every benchmark prints, and the
// drivers of the rpc workload shapes — unary calls at a given concurrency,
// a pipelined stream (drive.go).
package measure
