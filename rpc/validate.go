package rpc

import "encoding/binary"

// maxDepth bounds the nesting of a payload.
const maxDepth = 128

// validValue reports whether b holds exactly one well-formed msgpack value
// whose every declared length fits within b, nested at most maxDepth deep.
// It reads b once and allocates nothing; a payload that passes cannot make a
// decoder allocate more than b's size for any length it declares.
func validValue(b []byte) bool {
	n, ok := skipValue(b, 0)
	return ok && n == len(b)
}

// skipValue returns the size of the msgpack value at the start of b.
func skipValue(b []byte, depth int) (int, bool) {
	if len(b) == 0 || depth > maxDepth {
		return 0, false
	}
	c := b[0]
	// fixed size first: how many bytes of header, of data, and of elements
	var hdr, data, elems int
	switch {
	case c <= 0x7f || c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixint, nil, bool
		return 1, true
	case c&0xf0 == 0x80: // fixmap
		hdr, elems = 1, 2*int(c&0x0f)
	case c&0xf0 == 0x90: // fixarray
		hdr, elems = 1, int(c&0x0f)
	case c&0xe0 == 0xa0: // fixstr
		hdr, data = 1, int(c&0x1f)
	case c == 0xcc || c == 0xd0:
		return need(b, 2)
	case c == 0xcd || c == 0xd1:
		return need(b, 3)
	case c == 0xce || c == 0xd2 || c == 0xca:
		return need(b, 5)
	case c == 0xcf || c == 0xd3 || c == 0xcb:
		return need(b, 9)
	case c == 0xd4:
		return need(b, 3)
	case c == 0xd5:
		return need(b, 4)
	case c == 0xd6:
		return need(b, 6)
	case c == 0xd7:
		return need(b, 10)
	case c == 0xd8:
		return need(b, 18)
	case c == 0xc4 || c == 0xd9: // bin8, str8
		if len(b) < 2 {
			return 0, false
		}
		hdr, data = 2, int(b[1])
	case c == 0xc5 || c == 0xda: // bin16, str16
		if len(b) < 3 {
			return 0, false
		}
		hdr, data = 3, int(binary.BigEndian.Uint16(b[1:]))
	case c == 0xc6 || c == 0xdb: // bin32, str32
		if len(b) < 5 {
			return 0, false
		}
		hdr, data = 5, int(binary.BigEndian.Uint32(b[1:]))
	case c == 0xc7: // ext8
		if len(b) < 3 {
			return 0, false
		}
		hdr, data = 3, int(b[1])
	case c == 0xc8: // ext16
		if len(b) < 4 {
			return 0, false
		}
		hdr, data = 4, int(binary.BigEndian.Uint16(b[1:]))
	case c == 0xc9: // ext32
		if len(b) < 6 {
			return 0, false
		}
		hdr, data = 6, int(binary.BigEndian.Uint32(b[1:]))
	case c == 0xdc: // array16
		if len(b) < 3 {
			return 0, false
		}
		hdr, elems = 3, int(binary.BigEndian.Uint16(b[1:]))
	case c == 0xdd: // array32
		if len(b) < 5 {
			return 0, false
		}
		hdr, elems = 5, int(binary.BigEndian.Uint32(b[1:]))
	case c == 0xde: // map16
		if len(b) < 3 {
			return 0, false
		}
		hdr, elems = 3, 2*int(binary.BigEndian.Uint16(b[1:]))
	case c == 0xdf: // map32
		if len(b) < 5 {
			return 0, false
		}
		hdr, elems = 5, 2*int(binary.BigEndian.Uint32(b[1:]))
	default: // 0xc1: never used
		return 0, false
	}
	if data > 0 {
		if data > len(b)-hdr {
			return 0, false
		}
		return hdr + data, true
	}
	if elems > len(b)-hdr { // every element takes at least one byte
		return 0, false
	}
	n := hdr
	for range elems {
		m, ok := skipValue(b[n:], depth+1)
		if !ok {
			return 0, false
		}
		n += m
	}
	return n, true
}

func need(b []byte, n int) (int, bool) { return n, len(b) >= n }
