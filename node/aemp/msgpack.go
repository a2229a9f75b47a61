package aemp

import (
	"bufio"
	"errors"
	"io"
	"math"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/tetherkit/tether/internal/mp"
)

// The msgpack framing (Go-to-Go only): one msgpack array per frame, back to
// back. It keeps every type of the message model apart, []byte included.
//
// Encoding appends to a byte slice by hand (package internal/mp), in the form
// github.com/vmihailenco/msgpack/v5's Encoder writes, which a test checks
// byte for byte. Decoding parses a wholly buffered frame straight from the
// read buffer (msgpack_fast.go) and otherwise uses msgpack/v5's streaming
// API, never its reflection: decoding into `any` with that library trusts
// declared lengths (a 5-byte array32 header is enough to exhaust memory), so
// the decoder here is a typed walker: it peeks at each code (straight from
// the bufio.Reader, which is PeekCode without two interface calls), reads
// heads and scalars with DecodeArrayLen, DecodeMapLen, DecodeBytesLen,
// DecodeInt64, DecodeUint64, DecodeFloat64, DecodeBool and DecodeNil, checks
// every declared length against what is left of the frame's byte budget
// before it allocates anything, and copies string payloads itself, as their
// bytes arrive. The budget is kept by a reader wrapper that counts the
// frame's bytes. Integers come back as int64 (a uint64 above MaxInt64 as
// the nearest float64), float32 and float64 as float64, str as string, bin
// as []byte; map keys may be str or bin; extension types are refused.
//
// Encoding writes integers in their shortest form, floats as float64, and
// map keys sorted, with no allocation once the destination has grown to the
// frame size.

type msgpackEncoder struct{ encoderState }

func newMsgpackEncoder(w io.Writer, lim Limits) Encoder {
	return &msgpackEncoder{encoderState{framing: FramingMsgpack, w: w, lim: lim}}
}

func (e *msgpackEncoder) Encode(frame []any) error { return e.write(e.Append(e.scratch[:0], frame)) }

func (e *msgpackEncoder) Append(dst []byte, frame []any) ([]byte, error) {
	e.elems = 0
	b, err := e.listWith(dst, nil, frame, 1)
	return e.finish(dst, b, err)
}

func (e *msgpackEncoder) AppendMessage(dst []byte, port string, msg []any) ([]byte, error) {
	e.elems = 0
	b, err := e.listWith(dst, &port, msg, 1)
	return e.finish(dst, b, err)
}

// listWith appends the list [*head, l…] (l if head is nil).
func (e *msgpackEncoder) listWith(b []byte, head *string, l []any, depth int) ([]byte, error) {
	if err := e.tooDeep(depth); err != nil {
		return b, err
	}
	if head != nil {
		b = mp.AppendArrayHead(b, len(l)+1)
		if err := e.count(); err != nil {
			return b, err
		}
		b = mp.AppendStr(b, *head)
	} else {
		b = mp.AppendArrayHead(b, len(l))
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

func (e *msgpackEncoder) value(b []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return mp.AppendNil(b), nil
	case bool:
		return mp.AppendBool(b, x), nil
	case int64:
		return mp.AppendInt(b, x), nil
	case float64:
		return mp.AppendFloat64(b, x), nil
	case string:
		return mp.AppendStr(b, x), nil
	case []byte:
		return mp.AppendBin(b, x), nil
	case []any:
		return e.listWith(b, nil, x, depth+1)
	case map[string]any:
		if err := e.tooDeep(depth + 1); err != nil {
			return b, err
		}
		b = mp.AppendMapHead(b, len(x))
		var kb [16]string
		for _, k := range sortedKeys(x, kb[:0]) {
			if err := e.count(); err != nil {
				return b, err
			}
			b = mp.AppendStr(b, k)
			var err error
			if b, err = e.value(b, x[k], depth+1); err != nil {
				return b, err
			}
		}
		return b, nil
	}
	if i, ok := widenInt(v); ok {
		return mp.AppendInt(b, i), nil
	}
	if f, ok := v.(float32); ok {
		return mp.AppendFloat64(b, float64(f)), nil
	}
	return b, frameErr(FramingMsgpack, "encode", ErrNotInModel, "unsupported type %s (see Normalize)", modelTypeName(v))
}

// budgetReader is what the msgpack.Decoder reads through: it counts the
// bytes of the current frame and fails once the frame would exceed its
// budget. As an io.ByteScanner it keeps the Decoder from adding buffering of
// its own, so the walker may also read r directly (accounting for it).
type budgetReader struct {
	r    *bufio.Reader
	left int  // bytes the frame may still take
	over bool // a read was refused for lack of budget
}

var errBudget = errors.New("frame budget exhausted")

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		b.over = true
		return 0, errBudget
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= n
	return n, err
}

func (b *budgetReader) ReadByte() (byte, error) {
	if b.left <= 0 {
		b.over = true
		return 0, errBudget
	}
	c, err := b.r.ReadByte()
	if err == nil {
		b.left--
	}
	return c, err
}

func (b *budgetReader) UnreadByte() error {
	err := b.r.UnreadByte()
	if err == nil {
		b.left++
	}
	return err
}

type msgpackDecoder struct {
	r     *bufio.Reader
	br    budgetReader
	dec   *msgpack.Decoder
	lim   Limits
	box   *boxer
	elems int
	stack []any    // elements of the lists being decoded
	buf   []byte   // a string or byte string not wholly in r's buffer
	rests restSlab // where DecodeLazy puts rests
}

func newMsgpackDecoder(r *bufio.Reader, lim Limits) Decoder {
	d := &msgpackDecoder{r: r, lim: lim, box: newBoxer()}
	d.br.r = r
	d.dec = msgpack.NewDecoder(&d.br)
	return d
}

// peek returns the next code without consuming it. It is the Decoder's
// PeekCode without the trip through the budget reader: the code is within
// the budget if a byte of the frame is left.
func (d *msgpackDecoder) peek() (byte, error) {
	if d.br.left <= 0 {
		d.br.over = true
		return 0, errBudget
	}
	b, err := d.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

func (d *msgpackDecoder) Decode() ([]any, error) {
	defer d.trim()
	b, err := d.r.Peek(1)
	if err != nil {
		return nil, err // io.EOF between frames, or a read error
	}
	if c := b[0]; !msgpcode.IsFixedArray(c) && c != msgpcode.Array16 && c != msgpcode.Array32 {
		return nil, frameErr(FramingMsgpack, "decode", ErrMalformedFrame, "frame is not an array (code %#x)", c)
	}
	// Peek cannot fail for what is buffered, and the frame's budget bounds
	// what the fast path looks at, so running out there means "too large"
	// or "not yet here" alike: the streaming path tells which.
	b, _ = d.r.Peek(min(d.r.Buffered(), d.lim.MaxFrameSize))
	d.elems = 0
	frame, n, err := d.fastFrame(b)
	switch {
	case err == errShort:
		return d.streamFrame()
	case err != nil:
		return nil, err
	}
	_, _ = d.r.Discard(n) // buffered: cannot fail
	return frame, nil
}

// streamFrame decodes a frame that starts with an array head as it arrives.
func (d *msgpackDecoder) streamFrame() ([]any, error) {
	d.br.left, d.br.over, d.elems = d.lim.MaxFrameSize, false, 0
	frame, err := d.array(1)
	if err != nil {
		return nil, d.fail(err)
	}
	return frame, nil
}

// trim drops buffers that one big frame made big.
func (d *msgpackDecoder) trim() {
	if cap(d.stack) > maxKeptScratch/16 {
		d.stack = nil
	}
	d.buf = keepScratch(d.buf)
}

// fail turns an error from inside a frame into what Decode returns.
func (d *msgpackDecoder) fail(err error) error {
	var fe *FrameError
	switch {
	case d.br.over || errors.Is(err, errBudget):
		return frameErr(FramingMsgpack, "decode", ErrFrameTooLarge, "more than %d bytes", d.lim.MaxFrameSize)
	case errors.As(err, &fe):
		return fe
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return io.ErrUnexpectedEOF
	}
	return err
}

func (d *msgpackDecoder) tooLarge(what string, n int) error {
	return frameErr(FramingMsgpack, "decode", ErrFrameTooLarge, "%s of %d declared with %d bytes of the frame left", what, n, d.br.left)
}

func (d *msgpackDecoder) count(n int) error {
	if n > d.lim.MaxElements-d.elems {
		return frameErr(FramingMsgpack, "decode", ErrTooManyElements, "limit %d", d.lim.MaxElements)
	}
	d.elems += n
	return nil
}

// smallArray is the most elements an array may declare to get its []any
// allocated before its elements arrive.
const smallArray = 16

func (d *msgpackDecoder) array(depth int) ([]any, error) {
	if depth > d.lim.MaxDepth {
		return nil, frameErr(FramingMsgpack, "decode", ErrFrameTooDeep, "limit %d", d.lim.MaxDepth)
	}
	n, err := d.dec.DecodeArrayLen()
	if err != nil {
		return nil, err
	}
	if n > d.br.left { // every element takes at least a byte
		return nil, d.tooLarge("array", n)
	}
	if err := d.count(n); err != nil {
		return nil, err
	}
	if n <= smallArray {
		// Cheaper than going through the stack. Only the arrays on the
		// path being decoded can be waiting for their elements, so what a
		// peer can make us allocate ahead of its data is at most
		// MaxDepth × smallArray slots.
		out := d.box.list(n)
		for i := range out {
			if out[i], err = d.value(depth); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	base := len(d.stack)
	for range n {
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		d.stack = append(d.stack, v)
	}
	out := make([]any, n)
	copy(out, d.stack[base:])
	clear(d.stack[base:])
	d.stack = d.stack[:base]
	return out, nil
}

func (d *msgpackDecoder) object(depth int) (map[string]any, error) {
	if depth > d.lim.MaxDepth {
		return nil, frameErr(FramingMsgpack, "decode", ErrFrameTooDeep, "limit %d", d.lim.MaxDepth)
	}
	n, err := d.dec.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	if n > d.br.left/2 { // every entry takes at least two bytes
		return nil, d.tooLarge("map", n)
	}
	if err := d.count(n); err != nil {
		return nil, err
	}
	m := make(map[string]any, min(n, 8))
	for range n {
		c, err := d.peek()
		if err != nil {
			return nil, err
		}
		if !msgpcode.IsString(c) && !msgpcode.IsBin(c) {
			return nil, frameErr(FramingMsgpack, "decode", ErrMalformedFrame, "map key is not a string (code %#x)", c)
		}
		p, err := d.payload()
		if err != nil {
			return nil, err
		}
		k := d.box.key(p)
		if m[k], err = d.value(depth); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (d *msgpackDecoder) value(depth int) (any, error) {
	c, err := d.peek()
	if err != nil {
		return nil, err
	}
	switch {
	case msgpcode.IsFixedNum(c), c >= msgpcode.Int8 && c <= msgpcode.Int64, c >= msgpcode.Uint8 && c <= msgpcode.Uint32:
		n, err := d.dec.DecodeInt64()
		return d.box.int(n), err
	case c == msgpcode.Uint64:
		u, err := d.dec.DecodeUint64()
		if u > math.MaxInt64 {
			return d.box.float(float64(u)), err
		}
		return d.box.int(int64(u)), err
	case c == msgpcode.Nil:
		return nil, d.dec.DecodeNil()
	case c == msgpcode.False, c == msgpcode.True:
		return d.dec.DecodeBool()
	case c == msgpcode.Float, c == msgpcode.Double:
		f, err := d.dec.DecodeFloat64()
		return d.box.float(f), err
	case msgpcode.IsString(c):
		p, err := d.payload()
		if err != nil {
			return nil, err
		}
		return d.box.str(p), nil
	case msgpcode.IsBin(c):
		p, err := d.payload()
		if err != nil {
			return nil, err
		}
		return d.box.bytes(p), nil
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		return d.array(depth + 1)
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		return d.object(depth + 1)
	case msgpcode.IsExt(c):
		return nil, frameErr(FramingMsgpack, "decode", ErrNotInModel, "extension type (code %#x)", c)
	}
	return nil, frameErr(FramingMsgpack, "decode", ErrMalformedFrame, "invalid code %#x", c)
}

// payload reads the header of a str or bin and its bytes. The result aliases
// r's buffer or d.buf and is valid until the next read.
func (d *msgpackDecoder) payload() ([]byte, error) {
	n, err := d.dec.DecodeBytesLen()
	if err != nil {
		return nil, err
	}
	if n > d.br.left {
		return nil, d.tooLarge("string", n)
	}
	if n <= d.r.Buffered() {
		p, _ := d.r.Peek(n)
		_, _ = d.r.Discard(n) // buffered: cannot fail, and p stays valid until the next read
		d.br.left -= n
		return p, nil
	}
	// Copy what has arrived, chunk by chunk, so that memory grows with the
	// bytes actually received, not with the declared length.
	d.buf = d.buf[:0]
	for len(d.buf) < n {
		if d.r.Buffered() == 0 {
			if _, err := d.r.Peek(1); err != nil {
				return nil, err
			}
		}
		k := min(d.r.Buffered(), n-len(d.buf))
		p, _ := d.r.Peek(k)
		d.buf = append(d.buf, p...)
		_, _ = d.r.Discard(k) // buffered: cannot fail
		d.br.left -= k
	}
	return d.buf, nil
}
