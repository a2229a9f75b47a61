package aemp

import (
	"sync"
	"sync/atomic"

	"github.com/tetherkit/tether/internal/mp"
)

// A Rest is what a LazyDecoder left encoded of one or more frames [port, …]
// to one port: the elements after the port, for an Unpacker to decode,
// message by message. The zero Rest is empty.
//
// A Rest's bytes are the decoder's, lent: small rests are carved from
// chunks that go back to a pool, to be read into again, once every rest
// carved from them has been unpacked. So unpack each Rest once, and do not
// keep copies of it; a Rest dropped before it is used up costs nothing but
// the chunk's return to the pool (the garbage collector takes it instead).
type Rest struct {
	c        *restChunk // nil: the zero Rest
	off, end int        // the bytes in c.buf
}

// Len returns the number of encoded bytes left in r.
func (r Rest) Len() int { return r.end - r.off }

// Join appends next to r, without copying, when next lies right after r
// in the same chunk — as consecutive rests from one LazyDecoder usually do
// — and reports whether it could. If it could not, r and next stay apart.
func (r *Rest) Join(next Rest) bool {
	if r.c == nil || next.c != r.c || next.off != r.end || r.off == r.end || next.off == next.end {
		return false
	}
	r.end = next.end
	return true
}

const (
	restChunkSize = 8 << 10 // bytes per rest chunk
	restMaxPooled = 2 << 10 // larger rests get their own allocation
)

// A restChunk is a block of rests, or one large rest. The decoder carving
// from a pooled chunk adds what it carved once it moves on to another
// chunk, and Unpackers take off what they have unpacked: owed reaches zero
// exactly once, when both are done, and whoever brings it there returns
// the chunk to the pool.
type restChunk struct {
	buf    []byte
	owed   atomic.Int64
	pooled bool
}

var restChunks = sync.Pool{New: func() any {
	return &restChunk{buf: make([]byte, restChunkSize), pooled: true}
}}

// settle adds n to what the chunk is owed, and recycles it at zero.
func (c *restChunk) settle(n int) {
	if n != 0 && c.owed.Add(int64(n)) == 0 {
		restChunks.Put(c)
	}
}

// A restSlab is the chunk a decoder carves rests from.
type restSlab struct {
	c    *restChunk
	used int
}

// carve copies body, the encoding of count elements, behind an array head
// into the slab. The chunks' bytes hold no pointers, so queued rests cost the
// garbage collector nothing to scan, and they are recycled, so a busy link
// allocates none.
func (s *restSlab) carve(count int, body []byte) Rest {
	size := len(body) + 5
	if size > restMaxPooled {
		b := append(mp.AppendArrayHead(make([]byte, 0, size), count), body...)
		return Rest{c: &restChunk{buf: b}, end: len(b)}
	}
	if s.c == nil || size > restChunkSize-s.used {
		s.release() // the decoder moves on
		s.c = restChunks.Get().(*restChunk)
	}
	start := s.used
	b := append(mp.AppendArrayHead(s.c.buf[start:start], count), body...)
	s.used += len(b)
	return Rest{c: s.c, off: start, end: s.used}
}

// release lets the chunk go: it returns to the pool once what was carved
// from it has been unpacked, and the next carve takes another. A decoder
// whose link goes quiet releases its chunk, so that a thousand quiet links
// do not hold a thousand chunks, and the chunks of a burst spread over
// many links are the same few, recycled.
func (s *restSlab) release() {
	if s.c != nil {
		s.c.settle(s.used)
		s.c, s.used = nil, 0
	}
}

// An Unpacker decodes the rests that a LazyDecoder left encoded. It keeps
// slabs and an intern table like a decoder's, so it is cheap to reuse and
// not safe for concurrent use: give each goroutine its own.
type Unpacker struct {
	d    msgpackDecoder
	owe  *restChunk // the chunk of the rests being unpacked
	owed int        // bytes unpacked from owe, not yet taken off its count
}

// NewUnpacker returns an Unpacker for the rests of msgpack decoders whose
// Limits are lim or smaller (zero fields take their defaults).
func NewUnpacker(lim Limits) *Unpacker {
	return &Unpacker{d: msgpackDecoder{lim: lim.withDefaults(), box: newBoxer()}}
}

// Unpack decodes the first message in r into the list of that frame's
// elements after the port, and takes it off r. The list and the values in
// it belong to the caller: nothing in them refers to r's bytes, which go
// back to the decoder once r is used up. Rests were checked when they were
// read, so Unpack fails only on an empty Rest.
func (u *Unpacker) Unpack(r *Rest) ([]any, error) {
	if r.c == nil {
		return nil, errBadRest
	}
	u.d.elems = 0
	list, n, err := u.d.fastFrame(r.c.buf[r.off:r.end])
	if err != nil {
		return nil, errBadRest
	}
	r.off += n
	if r.c.pooled {
		if r.c != u.owe {
			u.settle()
			u.owe = r.c
		}
		u.owed += n
		if r.off == r.end {
			u.settle()
		}
	}
	return list, nil
}

// settle takes what was unpacked off the count of its chunk. (Once per
// rest, not per message: the count is shared with other goroutines.)
func (u *Unpacker) settle() {
	if u.owe != nil {
		u.owe.settle(-u.owed)
		u.owe, u.owed = nil, 0
	}
}

var errBadRest = frameErr(FramingMsgpack, "unpack", ErrMalformedFrame, "not the rest of a frame from DecodeLazy")
