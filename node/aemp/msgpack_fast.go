package aemp

import (
	"encoding/binary"
	"errors"
	"math"
)

// The msgpack hot path of decoding: it parses a frame straight from the
// read buffer when the whole frame is
// already there — nearly always, for the small frames of a busy link — and
// leaves frames that are not (or not wholly) buffered to the streaming
// decoder. It accepts exactly what the streaming code does, with the same
// limits: the fuzz target checks the two decoders against each other.

// errShort: the buffered bytes end inside the frame.
var errShort = errors.New("frame not wholly buffered")

// fastDecoder parses one frame from a byte slice.
type fastDecoder struct {
	d *msgpackDecoder
	b []byte
	i int
}

// fastFrame decodes the frame at the start of b, which the caller cuts to the
// frame size limit. It returns the number of bytes it took; errShort means b
// ends first and nothing is decided.
func (d *msgpackDecoder) fastFrame(b []byte) ([]any, int, error) {
	f := fastDecoder{d: d, b: b}
	if len(b) == 0 {
		return nil, 0, errShort
	}
	var n int
	var err error
	switch c := b[0]; {
	case c&0xf0 == 0x90:
		n, f.i = int(c&0x0f), 1
	case c == 0xdc, c == 0xdd:
		f.i = 1
		n, err = f.length(2 << (c - 0xdc))
	default:
		return nil, 0, frameErr(FramingMsgpack, "decode", ErrMalformedFrame, "frame is not an array (code %#x)", c)
	}
	if err != nil {
		return nil, 0, err
	}
	frame, err := f.array(n, 1)
	if err != nil {
		return nil, 0, err
	}
	return frame, f.i, nil
}

// take returns the next n bytes, or errShort.
func (f *fastDecoder) take(n int) ([]byte, error) {
	if n > len(f.b)-f.i {
		return nil, errShort
	}
	p := f.b[f.i : f.i+n]
	f.i += n
	return p, nil
}

// length reads a big-endian length of size bytes (1, 2 or 4).
func (f *fastDecoder) length(size int) (int, error) {
	p, err := f.take(size)
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return int(p[0]), nil
	case 2:
		return int(binary.BigEndian.Uint16(p)), nil
	default:
		return int(binary.BigEndian.Uint32(p)), nil
	}
}

func (f *fastDecoder) value(depth int) (any, error) {
	p, err := f.take(1)
	if err != nil {
		return nil, err
	}
	box := f.d.box
	switch c := p[0]; {
	case c <= 0x7f:
		return box.int(int64(c)), nil
	case c >= 0xe0:
		return box.int(int64(int8(c))), nil
	case c&0xf0 == 0x90:
		return f.list(int(c&0x0f), depth+1)
	case c&0xf0 == 0x80:
		return f.object(int(c&0x0f), depth+1)
	case c&0xe0 == 0xa0:
		return f.str(int(c & 0x1f))
	}
	switch c := p[0]; c {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3:
		return f.integer(c)
	case 0xca:
		q, err := f.take(4)
		if err != nil {
			return nil, err
		}
		return box.float(float64(math.Float32frombits(binary.BigEndian.Uint32(q)))), nil
	case 0xcb:
		q, err := f.take(8)
		if err != nil {
			return nil, err
		}
		return box.float(math.Float64frombits(binary.BigEndian.Uint64(q))), nil
	case 0xd9, 0xda, 0xdb:
		n, err := f.length(1 << (c - 0xd9))
		if err != nil {
			return nil, err
		}
		return f.str(n)
	case 0xc4, 0xc5, 0xc6:
		n, err := f.length(1 << (c - 0xc4))
		if err != nil {
			return nil, err
		}
		q, err := f.take(n)
		if err != nil {
			return nil, err
		}
		return box.bytes(q), nil
	case 0xdc, 0xdd:
		n, err := f.length(2 << (c - 0xdc))
		if err != nil {
			return nil, err
		}
		return f.list(n, depth+1)
	case 0xde, 0xdf:
		n, err := f.length(2 << (c - 0xde))
		if err != nil {
			return nil, err
		}
		return f.object(n, depth+1)
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return nil, frameErr(FramingMsgpack, "decode", ErrNotInModel, "extension type (code %#x)", c)
	}
	return nil, frameErr(FramingMsgpack, "decode", ErrMalformedFrame, "invalid code %#x", p[0])
}

func (f *fastDecoder) integer(c byte) (any, error) {
	size := 1 << ((c - 0xcc) & 3) // 0xcc..0xcf and 0xd0..0xd3 share their sizes
	q, err := f.take(size)
	if err != nil {
		return nil, err
	}
	box := f.d.box
	signed := c >= 0xd0
	switch size {
	case 1:
		if signed {
			return box.int(int64(int8(q[0]))), nil
		}
		return box.int(int64(q[0])), nil
	case 2:
		u := binary.BigEndian.Uint16(q)
		if signed {
			return box.int(int64(int16(u))), nil
		}
		return box.int(int64(u)), nil
	case 4:
		u := binary.BigEndian.Uint32(q)
		if signed {
			return box.int(int64(int32(u))), nil
		}
		return box.int(int64(u)), nil
	default:
		u := binary.BigEndian.Uint64(q)
		if signed || u <= math.MaxInt64 {
			return box.int(int64(u)), nil
		}
		return box.float(float64(u)), nil
	}
}

func (f *fastDecoder) str(n int) (any, error) {
	q, err := f.take(n)
	if err != nil {
		return nil, err
	}
	return f.d.box.str(q), nil
}

// list is array as a value.
func (f *fastDecoder) list(n, depth int) (any, error) {
	l, err := f.array(n, depth)
	if err != nil {
		return nil, err
	}
	return l, nil
}

func (f *fastDecoder) array(n, depth int) ([]any, error) {
	d := f.d
	if depth > d.lim.MaxDepth {
		return nil, frameErr(FramingMsgpack, "decode", ErrFrameTooDeep, "limit %d", d.lim.MaxDepth)
	}
	if n > len(f.b)-f.i { // every element takes at least a byte
		return nil, errShort
	}
	if err := d.count(n); err != nil {
		return nil, err
	}
	var out []any
	if n <= slabMaxList {
		out = d.box.list(n)
	} else {
		out = make([]any, n)
	}
	for i := range out {
		v, err := f.value(depth)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (f *fastDecoder) object(n, depth int) (any, error) {
	d := f.d
	if depth > d.lim.MaxDepth {
		return nil, frameErr(FramingMsgpack, "decode", ErrFrameTooDeep, "limit %d", d.lim.MaxDepth)
	}
	if n > (len(f.b)-f.i)/2 { // every entry takes at least two bytes
		return nil, errShort
	}
	if err := d.count(n); err != nil {
		return nil, err
	}
	m := make(map[string]any, min(n, 8))
	for range n {
		p, err := f.take(1)
		if err != nil {
			return nil, err
		}
		var kn int
		switch c := p[0]; {
		case c&0xe0 == 0xa0:
			kn = int(c & 0x1f)
		case c == 0xd9 || c == 0xda || c == 0xdb:
			kn, err = f.length(1 << (c - 0xd9))
		case c == 0xc4 || c == 0xc5 || c == 0xc6:
			kn, err = f.length(1 << (c - 0xc4))
		default:
			return nil, frameErr(FramingMsgpack, "decode", ErrMalformedFrame, "map key is not a string (code %#x)", c)
		}
		if err != nil {
			return nil, err
		}
		kb, err := f.take(kn)
		if err != nil {
			return nil, err
		}
		k := d.box.key(kb)
		if m[k], err = f.value(depth); err != nil {
			return nil, err
		}
	}
	return m, nil
}
