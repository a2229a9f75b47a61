package rpc

import "sync/atomic"

// budget bounds the bytes a Server holds for its peers across all its
// connections (Config.MaxServerBytes): hellos being read, frames larger
// than a connection's read buffer being read, and requests held by the
// handlers serving them. Whoever would go past it is refused instead of
// waiting — a call with a resource-exhausted error, a handshake with a
// failure — so that no connection's reader ever blocks on another's
// handlers.
//
// A nil *budget bounds nothing: connections made by Dial and NewConn have
// none.
type budget struct {
	max  int64
	used atomic.Int64
}

func newBudget(max int) *budget { return &budget{max: int64(max)} }

// take counts n more bytes and reports true, or reports false if that
// would go past the bound. When nothing is held, any n is let through, so
// that one message larger than the bound can still be served alone.
func (b *budget) take(n int) bool {
	if b == nil || n <= 0 {
		return true
	}
	for {
		cur := b.used.Load()
		if cur > 0 && cur+int64(n) > b.max {
			return false
		}
		if b.used.CompareAndSwap(cur, cur+int64(n)) {
			return true
		}
	}
}

// give returns n bytes taken before.
func (b *budget) give(n int) {
	if b != nil && n > 0 {
		b.used.Add(-int64(n))
	}
}

// inUse returns the bytes held now.
func (b *budget) inUse() int {
	if b == nil {
		return 0
	}
	return int(b.used.Load())
}
