package measure

// The drivers of the rpc workload shapes, against a peer-specific client.

import (
	"sync"
	"time"
)

// NewCall returns a per-goroutine caller (own buffers) that shares the one
// connection. The closure does one request/response round trip for sequence n.
type NewCall func() func(n int64) error

// RunUnary runs conc goroutines, each issuing calls back-to-back, first for
// warm (not recorded) then for dur (recorded). Every call's latency is kept.
// ops = calls started before the deadline and completed; elapsed = start ->
// last completion.
func RunUnary(conc int, warm, dur time.Duration, mk NewCall) (ops int64, elapsed time.Duration, p50, p99 float64, err error) {
	phase := func(d time.Duration, record bool) (int64, time.Duration, []*Rec, error) {
		var wg sync.WaitGroup
		recs := make([]*Rec, conc)
		counts := make([]int64, conc)
		ends := make([]time.Time, conc)
		errs := make([]error, conc)
		callers := make([]func(int64) error, conc)
		for i := range callers {
			callers[i] = mk()
			hint := 1024
			if record {
				hint = 1 << 16
			}
			recs[i] = NewRec(hint)
		}
		start := time.Now()
		deadline := start.Add(d)
		for g := 0; g < conc; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				call := callers[g]
				rec := recs[g]
				seq := int64(g) << 40
				for {
					t0 := time.Now()
					if !t0.Before(deadline) {
						break
					}
					if err := call(seq); err != nil {
						errs[g] = err
						break
					}
					t1 := time.Now()
					if record {
						rec.Add(t1.Sub(t0))
					}
					counts[g]++
					ends[g] = t1
					seq++
				}
			}(g)
		}
		wg.Wait()
		var n int64
		last := start
		for g := 0; g < conc; g++ {
			if errs[g] != nil {
				return 0, 0, nil, errs[g]
			}
			n += counts[g]
			if ends[g].After(last) {
				last = ends[g]
			}
		}
		return n, last.Sub(start), recs, nil
	}
	if _, _, _, err = phase(warm, false); err != nil {
		return
	}
	var recs []*Rec
	ops, elapsed, recs, err = phase(dur, true)
	if err != nil {
		return
	}
	p50, p99, _ = Pcts(recs...)
	return
}

// Stream is a one-connection pipelined echo: Send and Recv are called from
// two different goroutines; Recv is called exactly once per successful Send.
type Stream struct {
	Send func(n int64) error
	Recv func() error
}

// RunStream: one sender goroutine sends back-to-back while at most `window`
// requests are outstanding; the receiver goroutine counts echoes. Run for warm,
// then measured for dur. ops = echoes received; elapsed = start -> last echo.
func RunStream(window int, warm, dur time.Duration, s Stream) (ops int64, elapsed time.Duration, err error) {
	phase := func(d time.Duration) (int64, time.Duration, error) {
		sem := make(chan struct{}, window)    // bounds outstanding requests
		tokens := make(chan struct{}, window) // one per successful Send
		var sendErr error
		start := time.Now()
		deadline := start.Add(d)
		go func() {
			defer close(tokens)
			var n int64
			for {
				if n&63 == 0 && !time.Now().Before(deadline) {
					return
				}
				sem <- struct{}{}
				if err := s.Send(n); err != nil {
					sendErr = err
					<-sem
					return
				}
				tokens <- struct{}{}
				n++
			}
		}()
		var got int64
		var last time.Time
		var recvErr error
		for range tokens {
			if recvErr == nil {
				if err := s.Recv(); err != nil {
					recvErr = err
				} else {
					got++
					last = time.Now()
				}
			}
			<-sem
		}
		if sendErr != nil {
			return 0, 0, sendErr
		}
		if recvErr != nil {
			return 0, 0, recvErr
		}
		return got, last.Sub(start), nil
	}
	if _, _, err = phase(warm); err != nil {
		return
	}
	return phase(dur)
}
