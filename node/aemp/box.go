package aemp

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// Decoders hand every scalar they produce to a boxer, which turns it into an
// `any` as cheaply as it can. Putting a string, an int64 or a []byte into an
// interface normally costs a heap allocation each (two for strings and byte
// slices: the data and the header), which would dominate the cost of
// decoding a small message. A boxer avoids nearly all of them:
//
//   - Short strings are interned per decoder: a direct-mapped table of
//     internSize entries keeps the boxed value of the last string that
//     hashed to each slot, so the tags and port names that recur in a stream
//     cost a hash and a compare, no allocation. A hostile peer can only make
//     it miss.
//   - Everything else is carved out of slabs, chunks allocated a few
//     kilobytes at a time: byte and string contents, list elements, and the
//     boxed int64s, byte-slice headers and string headers (see boxAt), so
//     that each costs a small fraction of an allocation. The price: a value
//     kept alive keeps its slab chunks (a few kilobytes) alive too.
//   - Small integers are free (the runtime keeps them boxed); floats, long
//     byte strings and lists cost an ordinary allocation.
type boxer struct {
	intern *[internSize]internEntry // allocated on first use: a link's reader may never need it
	bslab  slab[byte]               // byte and string contents
	lslab  slab[any]                // list elements
	islab  slab[int64]              // boxed int64s
	hslab  slab[[]byte]             // boxed byte-slice headers
	sslab  slab[string]             // boxed string headers
}

// A slab hands out the elements of a chunk, and allocates a new chunk when
// one runs out. It counts what it has handed out instead of reslicing the
// chunk, so that handing out writes no pointer: no write barrier while the
// garbage collector runs.
type slab[T any] struct {
	chunk []T
	used  int
}

// take returns n fresh elements, with the capacity cut to n, from a chunk
// of size elements (n <= size).
func (s *slab[T]) take(n, size int) []T {
	if n > len(s.chunk)-s.used {
		s.chunk, s.used = make([]T, size), 0
	}
	e := s.chunk[s.used : s.used+n : s.used+n]
	s.used += n
	return e
}

const (
	slabBytes   = 8 << 10 // bytes per byte-slab chunk
	slabMaxLen  = 256     // longer byte strings get their own allocation
	slabSlots   = 512     // elements per list-slab chunk
	slabMaxList = 16      // longer lists get their own allocation
	slabValues  = 256     // boxed values per int, header or string slab chunk
)

// bytes boxes a copy of p (which may alias a read buffer).
func (b *boxer) bytes(p []byte) any {
	if len(p) > slabMaxLen {
		return boxBytes(p)
	}
	c := b.carve(p) // capped: appending copies
	if !forge {
		return c
	}
	h := b.hslab.take(1, slabValues)
	h[0] = c
	return boxAt(bytesType, unsafe.Pointer(&h[0]))
}

// carve returns a copy of p (len(p) <= slabMaxLen) in the byte slab, with
// its capacity cut to its length.
func (b *boxer) carve(p []byte) []byte {
	c := b.bslab.take(len(p), slabBytes)
	copy(c, p)
	return c
}

// list returns a fresh list of n elements (n <= slabMaxList).
func (b *boxer) list(n int) []any {
	return b.lslab.take(n, slabSlots) // capped: appending copies
}

const (
	internBits   = 8               // log2 of internSize
	internSize   = 1 << internBits // entries in the intern table
	internMaxLen = 32              // longer strings are not interned
)

// internSlot hashes p (1 to internMaxLen bytes) to a slot of the intern
// table, from a few words of it. It needs no seed and no resistance to
// collisions: a collision only makes a string miss.
func internSlot(p []byte) uint {
	n := len(p)
	var x uint64
	switch le := binary.LittleEndian; {
	case n > 16:
		x = le.Uint64(p) ^ bits.RotateLeft64(le.Uint64(p[n/2-4:]), 21) ^ bits.RotateLeft64(le.Uint64(p[n-8:]), 42)
	case n >= 8:
		x = le.Uint64(p) ^ bits.RotateLeft64(le.Uint64(p[n-8:]), 29)
	case n >= 4:
		x = uint64(le.Uint32(p)) | uint64(le.Uint32(p[n-4:]))<<32
	default:
		x = uint64(p[0]) | uint64(p[n/2])<<8 | uint64(p[n-1])<<16
	}
	x = (x ^ uint64(n)) * 0x9e3779b97f4a7c15
	return uint(x >> (64 - internBits))
}

type internEntry struct {
	s string // the key; equal to v's string
	v any    // the boxed string
}

func newBoxer() *boxer { return &boxer{} }

// str boxes the bytes of a string. p may alias a read buffer: it is copied.
func (b *boxer) str(p []byte) any {
	if len(p) == 0 {
		return ""
	}
	if len(p) > internMaxLen {
		return b.string(p)
	}
	if b.intern == nil {
		b.intern = new([internSize]internEntry)
	}
	e := &b.intern[internSlot(p)]
	if e.v != nil && e.s == string(p) {
		return e.v
	}
	// Not from the slabs: an entry would keep its chunks alive for as long
	// as the decoder lives.
	v := boxString(p)
	e.s, e.v = v.(string), v
	return v
}

// string boxes a string that is not interned.
func (b *boxer) string(p []byte) any {
	if !forge || len(p) > slabMaxLen {
		return boxString(p)
	}
	c := b.carve(p) // never handed out as bytes, so never written again
	h := b.sslab.take(1, slabValues)
	h[0] = unsafe.String(&c[0], len(c))
	return boxAt(stringType, unsafe.Pointer(&h[0]))
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
func (b *boxer) int(x int64) any {
	if !forge || uint64(x) < 256 { // the runtime boxes these for free
		return x
	}
	h := b.islab.take(1, slabValues)
	h[0] = x
	return boxAt(int64Type, unsafe.Pointer(&h[0]))
}

// float boxes a float.
func (*boxer) float(f float64) any { return f }

func boxString(p []byte) any { return string(p) }

func boxBytes(p []byte) any {
	c := make([]byte, len(p))
	copy(c, p)
	return c
}
