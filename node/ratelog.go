package node

import (
	"sync"
	"time"
)

// rateLog keeps a warning that a peer can provoke from flooding the log:
// each kind is logged at most once per rateLogEvery, with the number of
// its occurrences left out since the last line.
type rateLog struct {
	mu   sync.Mutex
	last map[string]time.Time
	left map[string]int
}

const rateLogEvery = 10 * time.Second

// warnRated logs msg at WARN unless a warning of the same kind was logged
// less than rateLogEvery ago.
func (n *Node) warnRated(kind, msg string, args ...any) {
	r := &n.rated
	now := n.clk.Now()
	r.mu.Lock()
	if r.last == nil {
		r.last, r.left = make(map[string]time.Time), make(map[string]int)
	}
	if t, ok := r.last[kind]; ok && now.Sub(t) < rateLogEvery {
		r.left[kind]++
		r.mu.Unlock()
		return
	}
	left := r.left[kind]
	r.last[kind], r.left[kind] = now, 0
	r.mu.Unlock()
	if left > 0 {
		args = append(args, "not_logged_since", left)
	}
	n.log.Warn(msg, args...)
}
