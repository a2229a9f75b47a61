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
//   - Everything else is an ordinary Go conversion: integers and floats
//     cost an allocation (small integers are free: the runtime keeps them),
//     strings and byte slices one or two.
type boxer struct {
	seed   maphash.Seed
	intern [internSize]internEntry
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
