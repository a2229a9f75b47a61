package aemp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/big"
	"reflect"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// The cbor framing: CBOR items (RFC 8949) back to back, as CBOR::XS writes
// them; each item must be an array.
//
// Decoding goes in two steps. cborScan walks the item heads of one frame as
// its bytes arrive, checking every declared length against the Limits before
// anything is kept, and refusing what the message model has no place for
// (tags, simple values other than false/true/null/undefined); then
// github.com/fxamacker/cbor/v2 decodes the complete frame with its own
// limits as a second fence. Byte strings and text strings both become
// string, map keys included (Perl sends its ASCII strings as byte strings);
// floats of every width become float64; integers become int64, and those
// outside int64 the nearest float64; undefined becomes nil. Text strings
// must be valid UTF-8.
//
// Encoding is written by hand (no reflection, no allocation): strings as
// text strings (or byte strings when they are not valid UTF-8, which a text
// string may not carry), []byte as byte strings, integers in their shortest
// head, floats as single precision when that is exact and double otherwise
// (as CBOR::XS does), map keys sorted.

type cborEncoder struct{ encoderState }

func newCBOREncoder(w io.Writer, lim Limits) Encoder {
	return &cborEncoder{encoderState{framing: FramingCBOR, w: w, lim: lim}}
}

func (e *cborEncoder) Encode(frame []any) error { return e.write(e.Append(e.scratch[:0], frame)) }

func (e *cborEncoder) Append(dst []byte, frame []any) ([]byte, error) {
	e.elems = 0
	b, err := e.listWith(dst, nil, frame, 1)
	return e.finish(dst, b, err)
}

func (e *cborEncoder) AppendMessage(dst []byte, port string, msg []any) ([]byte, error) {
	e.elems = 0
	b, err := e.listWith(dst, &port, msg, 1)
	return e.finish(dst, b, err)
}

// CBOR major types.
const (
	cborUint   = 0
	cborNegint = 1
	cborBytes  = 2
	cborText   = 3
	cborArray  = 4
	cborMap    = 5
	cborTag    = 6
	cborSimple = 7
)

func cborHead(b []byte, major byte, arg uint64) []byte {
	m := major << 5
	switch {
	case arg < 24:
		return append(b, m|byte(arg))
	case arg <= math.MaxUint8:
		return append(b, m|24, byte(arg))
	case arg <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(arg))
	case arg <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(arg))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), arg)
}

func cborString(b []byte, s string) []byte {
	if utf8.ValidString(s) {
		return append(cborHead(b, cborText, uint64(len(s))), s...)
	}
	return append(cborHead(b, cborBytes, uint64(len(s))), s...)
}

func (e *cborEncoder) list(b []byte, l []any, depth int) ([]byte, error) {
	return e.listWith(b, nil, l, depth)
}

// listWith encodes the list [*head, l…] (l if head is nil).
func (e *cborEncoder) listWith(b []byte, head *string, l []any, depth int) ([]byte, error) {
	if err := e.tooDeep(depth); err != nil {
		return b, err
	}
	if head != nil {
		b = cborHead(b, cborArray, uint64(len(l)+1))
		if err := e.count(); err != nil {
			return b, err
		}
		var err error
		if b, err = e.value(b, *head, depth); err != nil {
			return b, err
		}
	} else {
		b = cborHead(b, cborArray, uint64(len(l)))
	}
	for _, v := range l {
		if err := e.count(); err != nil {
			return b, err
		}
		var err error
		if b, err = e.value(b, v, depth); err != nil {
			return b, err
		}
	}
	return b, nil
}

func (e *cborEncoder) value(b []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, 0xf6), nil
	case bool:
		if x {
			return append(b, 0xf5), nil
		}
		return append(b, 0xf4), nil
	case int64:
		return cborInt(b, x), nil
	case float64:
		return cborFloat(b, x), nil
	case string:
		return cborString(b, x), nil
	case []byte:
		return append(cborHead(b, cborBytes, uint64(len(x))), x...), nil
	case []any:
		return e.list(b, x, depth+1)
	case map[string]any:
		depth++
		if err := e.tooDeep(depth); err != nil {
			return b, err
		}
		b = cborHead(b, cborMap, uint64(len(x)))
		var kb [16]string
		for _, k := range sortedKeys(x, kb[:0]) {
			if err := e.count(); err != nil {
				return b, err
			}
			b = cborString(b, k)
			var err error
			if b, err = e.value(b, x[k], depth); err != nil {
				return b, err
			}
		}
		return b, nil
	}
	if i, ok := widenInt(v); ok {
		return cborInt(b, i), nil
	}
	if f, ok := v.(float32); ok {
		return cborFloat(b, float64(f)), nil
	}
	return b, frameErr(FramingCBOR, "encode", ErrNotInModel, "unsupported type %s (see Normalize)", modelTypeName(v))
}

func cborInt(b []byte, x int64) []byte {
	if x >= 0 {
		return cborHead(b, cborUint, uint64(x))
	}
	return cborHead(b, cborNegint, ^uint64(x))
}

// cborFloat writes x in the shortest of single and double precision that
// holds it exactly.
func cborFloat(b []byte, x float64) []byte {
	if f32 := float32(x); float64(f32) == x {
		return binary.BigEndian.AppendUint32(append(b, 0xfa), math.Float32bits(f32))
	}
	if math.IsNaN(x) {
		return append(b, 0xfa, 0x7f, 0xc0, 0, 0)
	}
	return binary.BigEndian.AppendUint64(append(b, 0xfb), math.Float64bits(x))
}

// cborDecoder finds each item with cborScan, then decodes it with
// fxamacker/cbor.
type cborDecoder struct {
	x    extentReader
	scan cborScan
	dm   cbor.DecMode
}

func newCBORDecoder(r *bufio.Reader, lim Limits) Decoder {
	d := &cborDecoder{dm: cborDecMode(lim)}
	d.scan.lim = lim
	d.x = extentReader{r: r, s: &d.scan, max: lim.MaxFrameSize}
	return d
}

func clampInt(v, lo, hi int) int { return max(lo, min(v, hi)) }

func cborDecMode(lim Limits) cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:             cbor.DupMapKeyQuiet,
		MaxNestedLevels:       clampInt(lim.MaxDepth+1, 4, 65535),
		MaxArrayElements:      clampInt(lim.MaxElements, 16, math.MaxInt32),
		MaxMapPairs:           clampInt(lim.MaxElements, 16, math.MaxInt32),
		IndefLength:           cbor.IndefLengthAllowed,
		TagsMd:                cbor.TagsForbidden,
		IntDec:                cbor.IntDecConvertSignedOrBigInt,
		BigIntDec:             cbor.BigIntDecodePointer,
		DefaultMapType:        reflect.TypeOf(map[string]any(nil)),
		DefaultByteStringType: reflect.TypeOf(""),
		ByteStringToString:    cbor.ByteStringToStringAllowed,
		UTF8:                  cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic("aemp: cbor options: " + err.Error()) // the options are constant and valid
	}
	return dm
}

func (d *cborDecoder) Decode() ([]any, error) {
	b, err := d.x.next(FramingCBOR)
	if err != nil {
		return nil, err
	}
	var v any
	err = d.dm.Unmarshal(b, &v)
	d.x.release()
	if err != nil {
		return nil, cborDecodeError(err)
	}
	frame, ok := v.([]any)
	if !ok {
		return nil, frameErr(FramingCBOR, "decode", ErrMalformedFrame, "frame is a %T, not an array", v)
	}
	if err := cborFix(frame); err != nil {
		return nil, err
	}
	return frame, nil
}

func cborDecodeError(err error) error {
	reason := ErrMalformedFrame
	var (
		nested *cbor.MaxNestedLevelError
		arr    *cbor.MaxArrayElementsError
		pairs  *cbor.MaxMapPairsError
		tag    *cbor.TagsMdError
	)
	switch {
	case errors.As(err, &nested):
		reason = ErrFrameTooDeep
	case errors.As(err, &arr), errors.As(err, &pairs):
		reason = ErrTooManyElements
	case errors.As(err, &tag):
		reason = ErrNotInModel
	}
	return &FrameError{Op: "decode", Framing: FramingCBOR, Reason: reason, Err: err}
}

// cborFix puts what fxamacker/cbor decoded into the message model in place:
// big integers become float64; anything else foreign is an error.
func cborFix(l []any) error {
	for i, v := range l {
		n, err := cborFixValue(v)
		if err != nil {
			return err
		}
		l[i] = n
	}
	return nil
}

func cborFixValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, []byte:
		return v, nil
	case []any:
		return x, cborFix(x)
	case map[string]any:
		for k, e := range x {
			n, err := cborFixValue(e)
			if err != nil {
				return nil, err
			}
			if _, isBig := e.(*big.Int); isBig {
				x[k] = n
			}
		}
		return x, nil
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return f, nil
	}
	return nil, frameErr(FramingCBOR, "decode", ErrNotInModel, "%T", v)
}

// cborScan finds the end of one CBOR item by walking its heads.
type cborScan struct {
	lim   Limits
	off   int
	seen  bool // a byte of the frame has been seen
	top   bool // the top-level head has been read
	depth int  // open arrays and maps
	elems int
	open  []cborOpen
}

// cborOpen is a container or indefinite-length string not yet complete.
type cborOpen struct {
	left   uint64 // items still to come in a definite container
	items  uint64 // items seen in an indefinite container
	indef  bool   // indefinite length: ends with a break
	isMap  bool
	strMaj int8 // for an indefinite string: its major type; else -1
}

func (s *cborScan) reset() {
	s.off, s.seen, s.top, s.depth, s.elems = 0, false, false, 0, 0
	s.open = s.open[:0]
}

func (s *cborScan) blank() bool { return !s.seen }

func (s *cborScan) fail(reason error, format string, args ...any) (int, bool, error) {
	return 0, false, frameErr(FramingCBOR, "decode", reason, "at byte %d: "+format, append([]any{s.off}, args...)...)
}

func (s *cborScan) scan(b []byte) (int, bool, error) {
	s.seen = s.seen || len(b) > 0
	limit := uint64(s.lim.MaxFrameSize)
	for {
		if s.off > len(b) {
			return 0, false, nil // a string's bytes are still to come
		}
		if s.top && len(s.open) == 0 {
			return s.off, true, nil
		}
		if s.off == len(b) {
			return 0, false, nil // the next head is still to come
		}
		ib := b[s.off]
		major, ai := ib>>5, ib&31
		hl := 1
		switch {
		case ai < 24, ai == 31:
		case ai <= 27:
			hl += 1 << (ai - 24)
		default:
			return s.fail(ErrMalformedFrame, "reserved additional information %d", ai)
		}
		if uint64(s.off+hl) > limit {
			return s.fail(ErrFrameTooLarge, "limit %d", limit)
		}
		if s.off+hl > len(b) {
			return 0, false, nil
		}
		arg := uint64(ai)
		switch hl {
		case 2:
			arg = uint64(b[s.off+1])
		case 3:
			arg = uint64(binary.BigEndian.Uint16(b[s.off+1:]))
		case 5:
			arg = uint64(binary.BigEndian.Uint32(b[s.off+1:]))
		case 9:
			arg = binary.BigEndian.Uint64(b[s.off+1:])
		}
		if !s.top {
			if major != cborArray {
				return s.fail(ErrMalformedFrame, "frame is not an array (major type %d)", major)
			}
			s.top = true
		}
		if n := len(s.open); n > 0 && s.open[n-1].strMaj >= 0 && ib != 0xff &&
			(int8(major) != s.open[n-1].strMaj || ai == 31) {
			return s.fail(ErrMalformedFrame, "bad chunk in an indefinite-length string")
		}
		rest := limit - uint64(s.off+hl) // bytes the frame may still take after this head
		switch major {
		case cborUint, cborNegint:
			if ai == 31 {
				return s.fail(ErrMalformedFrame, "indefinite integer")
			}
			s.off += hl
		case cborBytes, cborText:
			if ai == 31 {
				s.off += hl
				s.open = append(s.open, cborOpen{indef: true, strMaj: int8(major)})
				continue
			}
			if arg > rest {
				return s.fail(ErrFrameTooLarge, "string of %d bytes, limit %d", arg, limit)
			}
			s.off += hl + int(arg)
		case cborArray, cborMap:
			if s.depth++; s.depth > s.lim.MaxDepth {
				return s.fail(ErrFrameTooDeep, "limit %d", s.lim.MaxDepth)
			}
			s.off += hl
			if ai == 31 {
				s.open = append(s.open, cborOpen{indef: true, isMap: major == cborMap, strMaj: -1})
				continue
			}
			items := arg
			if major == cborMap {
				if arg > rest/2 {
					return s.fail(ErrFrameTooLarge, "map of %d entries, limit %d bytes", arg, limit)
				}
				items = 2 * arg
			} else if arg > rest {
				return s.fail(ErrFrameTooLarge, "array of %d elements, limit %d bytes", arg, limit)
			}
			if arg > uint64(s.lim.MaxElements-s.elems) {
				return s.fail(ErrTooManyElements, "limit %d", s.lim.MaxElements)
			}
			s.elems += int(arg)
			if items > 0 {
				s.open = append(s.open, cborOpen{left: items, strMaj: -1})
				continue
			}
			s.depth--
		case cborTag:
			return s.fail(ErrNotInModel, "tag %d", arg)
		case cborSimple:
			switch {
			case ib == 0xff:
				n := len(s.open)
				if n == 0 || !s.open[n-1].indef {
					return s.fail(ErrMalformedFrame, "unexpected break")
				}
				o := s.open[n-1]
				if o.isMap && o.items%2 != 0 {
					return s.fail(ErrMalformedFrame, "indefinite map with a key and no value")
				}
				if o.strMaj < 0 {
					s.depth--
				}
				s.open = s.open[:n-1]
				s.off += hl
			case ai >= 20 && ai <= 23, ai >= 25 && ai <= 27: // false true null undefined, floats
				s.off += hl
			default:
				return s.fail(ErrNotInModel, "simple value %d", arg)
			}
		}
		if err := s.itemDone(); err != nil {
			return 0, false, err
		}
	}
}

// itemDone records that an item finished at the innermost open level,
// closing the definite containers it completes.
func (s *cborScan) itemDone() error {
	for n := len(s.open); n > 0; n = len(s.open) {
		o := &s.open[n-1]
		switch {
		case o.strMaj >= 0:
			return nil // a chunk of an indefinite string
		case o.indef:
			o.items++
			if !o.isMap || o.items%2 == 0 {
				if s.elems++; s.elems > s.lim.MaxElements {
					_, _, err := s.fail(ErrTooManyElements, "limit %d", s.lim.MaxElements)
					return err
				}
			}
			return nil
		}
		if o.left--; o.left > 0 {
			return nil
		}
		s.open = s.open[:n-1]
		s.depth--
	}
	return nil
}
