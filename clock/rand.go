package clock

import (
	crand "crypto/rand"
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"
)

// Rand is a seeded pseudo-random source, safe for concurrent use.
//
// The zero value is a usable generator with seed 0. Use [NewRand] for another
// seed and [Rand.Derive] to give each component its own independent stream.
type Rand struct {
	seed, stream uint64

	mu sync.Mutex
	r  *rand.Rand // created on first use, so the zero value works
}

// NewRand returns the root stream for seed.
func NewRand(seed uint64) *Rand { return &Rand{seed: seed} }

// RandomSeed returns a seed drawn from the operating system's secure source.
// Programs that do not need reproducibility use NewRand(RandomSeed()); the
// seed can be logged so that a run can be repeated.
func RandomSeed() uint64 {
	var b [8]byte
	_, _ = crand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return binary.LittleEndian.Uint64(b[:])
}

// Seed returns the root seed this stream was derived from.
func (r *Rand) Seed() uint64 { return r.seed }

// Derive returns the stream named name under r. The result depends only on
// r's seed, r's own derivation path and name — not on how many numbers r or
// any other stream has produced — so components can be added without changing
// what existing components draw. Deriving the same name twice gives two
// generators that produce the same sequence.
func (r *Rand) Derive(name string) *Rand {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], r.stream)
	h.Write(b[:])
	h.Write([]byte(name))
	return &Rand{seed: r.seed, stream: h.Sum64()}
}

// lock locks r and returns its generator; the caller unlocks r.mu.
func (r *Rand) lock() *rand.Rand {
	r.mu.Lock()
	if r.r == nil {
		r.r = rand.New(rand.NewPCG(r.seed, r.stream))
	}
	return r.r
}

// Uint64 returns a uniformly distributed 64-bit value.
func (r *Rand) Uint64() uint64 {
	g := r.lock()
	defer r.mu.Unlock()
	return g.Uint64()
}

// Float64 returns a uniformly distributed value in [0, 1).
func (r *Rand) Float64() float64 {
	g := r.lock()
	defer r.mu.Unlock()
	return g.Float64()
}

// IntN returns a uniformly distributed value in [0, n). It panics if n <= 0.
func (r *Rand) IntN(n int) int {
	g := r.lock()
	defer r.mu.Unlock()
	return g.IntN(n)
}

// Int64N returns a uniformly distributed value in [0, n). It panics if n <= 0.
func (r *Rand) Int64N(n int64) int64 {
	g := r.lock()
	defer r.mu.Unlock()
	return g.Int64N(n)
}

// Shuffle permutes n elements using swap, as math/rand/v2's Shuffle.
func (r *Rand) Shuffle(n int, swap func(i, j int)) {
	g := r.lock()
	defer r.mu.Unlock()
	g.Shuffle(n, swap)
}

// Jitter returns d spread uniformly over [d−f·d, d+f·d): the randomized delay
// d ± U[0, f·d). f is clamped to [0, 1]; d <= 0 or f == 0 returns d unchanged.
func (r *Rand) Jitter(d time.Duration, f float64) time.Duration {
	if d <= 0 || f <= 0 {
		return d
	}
	f = min(f, 1)
	u := r.Float64()
	return d + time.Duration((2*u-1)*f*float64(d))
}
