package rpc

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tetherkit/tether/clock"
)

// logEvery is how often a rate-limited log line may repeat.
const logEvery = 10 * time.Second

// logLimit logs one line of a kind at most every logEvery; the next line
// says how many were suppressed in between. A limit that bites under
// attack says so once, not once per refused connection.
type logLimit struct {
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// log logs msg with attrs at level, unless a line was logged less than
// logEvery ago on clk.
func (l *logLimit) log(logger *slog.Logger, clk clock.Clock, level slog.Level, msg string, attrs ...any) {
	if !logger.Enabled(context.Background(), level) {
		return
	}
	now := clk.Now()
	l.mu.Lock()
	if now.Before(l.next) {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.next = now.Add(logEvery)
	n := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if n > 0 {
		attrs = append(attrs, "suppressed", n)
	}
	logger.Log(context.Background(), level, msg, attrs...)
}
