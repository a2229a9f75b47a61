package aemp

import "hash/maphash"

// Decoders hand every scalar they produce to a boxer, which turns it into an
// `any` as cheaply as it can. Putting a string, an int64 or a []byte into an
// interface normally costs a heap allocation each (two for strings and byte
// slices: the data and the header), which would dominate the cost of
// decoding a small message. A boxer avoids most of them:
//
//   - Short strings are interned per decoder: a direct-mapped table of
//     internSize entries keeps the boxed value of the last string that
//     hashed to each slot, so the tags and port names that recur in a stream
//     cost a hash and a compare, no allocation. A hostile peer can only make
//     it miss.
//   - Short byte strings and short lists are carved out of slabs, chunks
//     allocated a few kilobytes at a time, so that they cost a fraction of
//     an allocation each. The price: a value kept alive keeps its slab
//     chunk (slabBytes bytes, or slabSlots list elements) alive too.
//   - Everything else is an ordinary Go conversion: integers and floats
//     cost an allocation (small integers are free: the runtime keeps them),
//     and a byte slice's header one more.
type boxer struct {
	seed   maphash.Seed
	intern [internSize]internEntry
	bslab  []byte // bytes not yet handed out
	lslab  []any  // list slots not yet handed out
}

const (
	slabBytes   = 8 << 10 // bytes per byte-slab chunk
	slabMaxLen  = 256     // longer byte strings get their own allocation
	slabSlots   = 512     // elements per list-slab chunk
	slabMaxList = 16      // longer lists get their own allocation
)

// bytes boxes a copy of p (which may alias a read buffer).
func (b *boxer) bytes(p []byte) any {
	if len(p) > slabMaxLen {
		return boxBytes(p)
	}
	if len(p) > cap(b.bslab)-len(b.bslab) {
		b.bslab = make([]byte, 0, slabBytes)
	}
	start := len(b.bslab)
	b.bslab = append(b.bslab, p...)
	return b.bslab[start:len(b.bslab):len(b.bslab)] // capped: appending copies
}

// list returns a fresh list of n elements (n <= slabMaxList).
func (b *boxer) list(n int) []any {
	if n > cap(b.lslab)-len(b.lslab) {
		b.lslab = make([]any, 0, slabSlots)
	}
	start := len(b.lslab)
	b.lslab = b.lslab[:start+n]
	return b.lslab[start : start+n : start+n] // capped: appending copies
}

const (
	internSize   = 256 // entries in the intern table; a power of two
	internMaxLen = 32  // longer strings are not interned
)

type internEntry struct {
	s string // the key; equal to v's string
	v any    // the boxed string
}

func newBoxer() *boxer { return &boxer{seed: maphash.MakeSeed()} }

// str boxes the bytes of a string. p may alias a read buffer: it is copied.
func (b *boxer) str(p []byte) any {
	if len(p) == 0 {
		return ""
	}
	if len(p) > internMaxLen {
		return boxString(p)
	}
	e := &b.intern[maphash.Bytes(b.seed, p)&(internSize-1)]
	if e.v != nil && e.s == string(p) {
		return e.v
	}
	v := boxString(p)
	e.s, e.v = v.(string), v
	return v
}

// key returns the bytes of a map key as a string, interned like str.
func (b *boxer) key(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	if len(p) > internMaxLen {
		return string(p)
	}
	return b.str(p).(string)
}

// int boxes an integer.
func (*boxer) int(x int64) any { return x }

// float boxes a float.
func (*boxer) float(f float64) any { return f }

func boxString(p []byte) any { return string(p) }

func boxBytes(p []byte) any {
	c := make([]byte, len(p))
	copy(c, p)
	return c
}
