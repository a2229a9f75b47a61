package rpc

import (
	"fmt"
	"sync"
	"time"

	"github.com/tetherkit/tether/clock"
)

// heartbeat sends a heartbeat frame every interval and closes the
// connection when the peer has been silent for the timeout.
//
// Silence is judged by heartbeats sent without hearing anything in between,
// not by the time since the last frame: if this process stalls (a long GC, a
// stopped debugger, an overloaded machine), it has not sent heartbeats
// either, so it does not blame a healthy peer for the gap when it wakes up.
// It runs on timers of the connection's clock, with no goroutine of its own.
type heartbeat struct {
	c        *Conn
	interval time.Duration
	limit    int // heartbeats sent in silence before giving up

	mu      sync.Mutex
	timer   clock.Timer
	silent  int       // heartbeats sent since anything was heard
	quietAt time.Time // when silence began (the tick that heard nothing first)
	stopped bool
}

func (h *heartbeat) start(c *Conn) {
	if c.cfg.HeartbeatInterval < 0 {
		return
	}
	h.c = c
	h.interval = c.cfg.HeartbeatInterval
	h.limit = int((c.cfg.HeartbeatTimeout + h.interval - 1) / h.interval)
	h.mu.Lock()
	h.timer = c.cfg.Clock.AfterFunc(h.interval, h.tick)
	h.mu.Unlock()
}

func (h *heartbeat) tick() {
	c := h.c
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	if c.heard.Swap(false) {
		h.silent = 0
	} else {
		if h.silent == 0 {
			h.quietAt = c.cfg.Clock.Now().Add(-h.interval)
		}
		h.silent++
	}
	if h.silent >= h.limit {
		quiet := c.cfg.Clock.Since(h.quietAt).Round(time.Millisecond)
		h.stopped = true
		h.mu.Unlock()
		c.log.Info("heartbeat timeout", "silent", quiet)
		c.shutdown(&ClosedError{Reason: fmt.Sprintf("heartbeat timeout: nothing heard from the peer for %v (%d heartbeats sent)", quiet, h.limit)}, true)
		return
	}
	h.timer = c.cfg.Clock.AfterFunc(h.interval, h.tick)
	h.mu.Unlock()
	c.sendSmall(kindHeartbeat)
}

func (h *heartbeat) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	if h.timer != nil {
		h.timer.Stop()
	}
}
