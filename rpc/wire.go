package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/tetherkit/tether/internal/mp"
	"github.com/vmihailenco/msgpack/v5"
)

// The frame kinds. A frame is a 4-byte big-endian length, then a body of
// msgpack values: the kind, the kind's fields, and for some kinds a payload
// (one msgpack value, the user's request, response, message or item).
type kind uint8

const (
	kindHello        kind = 1  // magic, versions, identification, menu, max frame, stream window
	kindCall         kind = 2  // id, method, timeout µs, payload
	kindReply        kind = 3  // id, payload
	kindError        kind = 4  // id, code, message, [size, max]
	kindOneWay       kind = 5  // method, payload
	kindCancel       kind = 6  // id: the caller gave up on a call or stream
	kindStreamOpen   kind = 7  // id, method, timeout µs, payload
	kindStreamItem   kind = 8  // id, payload: opener → acceptor
	kindStreamItemBk kind = 9  // id, payload: acceptor → opener
	kindStreamEnd    kind = 10 // id: the opener will send no more items
	kindStreamEndBk  kind = 11 // id, code, message: the acceptor's handler returned
	kindStreamCredit kind = 12 // id, n: the opener may receive n more items
	kindStreamCredBk kind = 13 // id, n: the acceptor may receive n more items
	kindHeartbeat    kind = 14
	kindCloseStarted kind = 15 // reason: no new calls, please; in-flight ones finish
	kindClose        kind = 16 // reason: the connection is closing now

	// Version 2.
	kindCallMD       kind = 17 // id, method, timeout µs, metadata, payload
	kindStreamOpenMD kind = 18 // id, method, timeout µs, metadata, payload
	kindTrailer      kind = 19 // id, metadata: precedes the reply, error or stream end of id
	kindOneWayMD     kind = 20 // method, metadata, payload
	kindDrained      kind = 21 // after close started: the sender starts no more calls or streams
	lastKind              = kindDrained
)

var kindNames = [...]string{
	kindHello: "hello", kindCall: "call", kindReply: "reply", kindError: "error",
	kindOneWay: "one-way", kindCancel: "cancel", kindStreamOpen: "stream open",
	kindStreamItem: "stream item", kindStreamItemBk: "stream item", kindStreamEnd: "stream end",
	kindStreamEndBk: "stream end", kindStreamCredit: "stream credit", kindStreamCredBk: "stream credit",
	kindHeartbeat: "heartbeat", kindCloseStarted: "close started", kindClose: "close",
	kindCallMD: "call", kindStreamOpenMD: "stream open", kindTrailer: "trailer", kindOneWayMD: "one-way",
	kindDrained: "drained",
}

func (k kind) String() string {
	if k >= 1 && k <= lastKind {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error codes in error frames and in the end of a stream.
const (
	codeOK            = 0
	codeApplication   = 1 // the handler returned an error
	codeUnknownMethod = 2
	codePanic         = 3 // the handler panicked
	codeTooLarge      = 4 // a message exceeded a maximum size
	codeBadRequest    = 5 // the request could not be decoded
	codeClosing       = 6 // the connection is closing and takes no new calls
	codeCanceled      = 7 // the caller cancelled, or the deadline passed

	codeResourceExhausted = 8 // refused, unrun: serving it would pass a limit
	codeResponseTooLarge  = 9 // the handler ran; its response exceeded the maximum (version 2)
)

const headerLen = 4 // the frame length prefix

// frame is a buffer that one frame is encoded into: the length prefix is
// reserved at the start and filled in by finish.
type frame struct {
	b   []byte
	enc *msgpack.Encoder
}

var framePool = sync.Pool{New: func() any {
	f := &frame{b: make([]byte, 0, 256)}
	f.enc = msgpack.NewEncoder(f)
	return f
}}

// newFrame starts a frame of kind k.
func newFrame(k kind) *frame {
	f := framePool.Get().(*frame)
	f.b = append(f.b[:0], 0, 0, 0, 0, byte(k)) // k < 128: a positive fixint
	return f
}

func (f *frame) free() {
	if cap(f.b) <= 64<<10 {
		framePool.Put(f)
	}
}

// Write, WriteByte and WriteString let the msgpack encoder append to f.
func (f *frame) Write(p []byte) (int, error)       { f.b = append(f.b, p...); return len(p), nil }
func (f *frame) WriteByte(c byte) error            { f.b = append(f.b, c); return nil }
func (f *frame) WriteString(s string) (int, error) { f.b = append(f.b, s...); return len(s), nil }

func (f *frame) uint(v uint64) { f.b = mp.AppendUint(f.b, v) }
func (f *frame) str(s string)  { f.b = mp.AppendStr(f.b, s) }

// payload encodes v as the frame's payload: by its own method if it
// implements msgpack.CustomEncoder (the fast path), else by reflection. A
// panic in the encoding is returned as an error.
func (f *frame) payload(v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w %T: the encoder panicked: %v", errEncode, v, r)
		}
	}()
	if ce, ok := v.(msgpack.CustomEncoder); ok {
		err = ce.EncodeMsgpack(f.enc)
	} else {
		err = f.enc.Encode(v)
	}
	if err != nil {
		return fmt.Errorf("%w %T: %w", errEncode, v, err)
	}
	return nil
}

// finish fills in the length prefix and returns the whole frame, or a
// *TooLargeError if its body exceeds max.
func (f *frame) finish(max int) ([]byte, error) {
	n := len(f.b) - headerLen
	if n > max {
		return nil, &TooLargeError{Size: n, Max: max}
	}
	binary.BigEndian.PutUint32(f.b, uint32(n))
	return f.b, nil
}

// errMalformed is the cause of every failure to parse a frame's fields.
var errMalformed = errors.New("malformed frame")

// body reads the fields of a received frame body. Every read is bounded by
// the body; a malformed body makes the reads return errMalformed.
type body struct {
	b   []byte
	err error
}

func (r *body) fail() { r.err, r.b = errMalformed, nil }

// uint reads a msgpack unsigned integer (or a non-negative signed one).
func (r *body) uint() uint64 {
	if r.err != nil || len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	need := 0
	switch {
	case c < 0x80:
		r.b = r.b[1:]
		return uint64(c)
	case c == 0xcc || c == 0xd0:
		need = 1
	case c == 0xcd || c == 0xd1:
		need = 2
	case c == 0xce || c == 0xd2:
		need = 4
	case c == 0xcf || c == 0xd3:
		need = 8
	default:
		r.fail()
		return 0
	}
	if len(r.b) < 1+need {
		r.fail()
		return 0
	}
	p := r.b[1 : 1+need]
	r.b = r.b[1+need:]
	var v uint64
	switch need {
	case 1:
		v = uint64(p[0])
		if c == 0xd0 && int8(p[0]) < 0 {
			r.fail()
		}
	case 2:
		v = uint64(binary.BigEndian.Uint16(p))
		if c == 0xd1 && int16(v) < 0 {
			r.fail()
		}
	case 4:
		v = uint64(binary.BigEndian.Uint32(p))
		if c == 0xd2 && int32(v) < 0 {
			r.fail()
		}
	case 8:
		v = binary.BigEndian.Uint64(p)
		if c == 0xd3 && int64(v) < 0 {
			r.fail()
		}
	}
	return v
}

// str reads a msgpack string of at most max bytes.
func (r *body) str(max int) string {
	if r.err != nil || len(r.b) == 0 {
		r.fail()
		return ""
	}
	c := r.b[0]
	var n, hdr int
	switch {
	case c&0xe0 == 0xa0:
		n, hdr = int(c&0x1f), 1
	case c == 0xd9 && len(r.b) >= 2:
		n, hdr = int(r.b[1]), 2
	case c == 0xda && len(r.b) >= 3:
		n, hdr = int(binary.BigEndian.Uint16(r.b[1:])), 3
	case c == 0xdb && len(r.b) >= 5:
		n, hdr = int(binary.BigEndian.Uint32(r.b[1:])), 5
	default:
		r.fail()
		return ""
	}
	if n > max || len(r.b) < hdr+n {
		r.fail()
		return ""
	}
	s := string(r.b[hdr : hdr+n])
	r.b = r.b[hdr+n:]
	return s
}

// arrayLen reads a msgpack array header whose length is at most max.
func (r *body) arrayLen(max int) int {
	if r.err != nil || len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	var n, hdr int
	switch {
	case c&0xf0 == 0x90:
		n, hdr = int(c&0x0f), 1
	case c == 0xdc && len(r.b) >= 3:
		n, hdr = int(binary.BigEndian.Uint16(r.b[1:])), 3
	case c == 0xdd && len(r.b) >= 5:
		n, hdr = int(binary.BigEndian.Uint32(r.b[1:])), 5
	default:
		r.fail()
		return 0
	}
	if n > max || n > len(r.b) { // every element takes at least a byte
		r.fail()
		return 0
	}
	r.b = r.b[hdr:]
	return n
}

// mapLen reads a msgpack map header (fixmap or map16) whose length is at
// most max.
func (r *body) mapLen(max int) int {
	if r.err != nil || len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	var n, hdr int
	switch {
	case c&0xf0 == 0x80:
		n, hdr = int(c&0x0f), 1
	case c == 0xde && len(r.b) >= 3:
		n, hdr = int(binary.BigEndian.Uint16(r.b[1:])), 3
	default:
		r.fail()
		return 0
	}
	if n > max || 2*n > len(r.b)-hdr { // every key and value takes at least a byte
		r.fail()
		return 0
	}
	r.b = r.b[hdr:]
	return n
}

// rest returns the unread part of the body: the payload.
func (r *body) rest() []byte {
	b := r.b
	r.b = nil
	return b
}

// decoders are pooled with the reader they decode from; a decoder stays
// bound to its reader, which is reset to each payload.
type decoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decoderPool = sync.Pool{New: func() any {
	d := &decoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

// decodePayload decodes payload, one msgpack value, into v (a pointer).
//
// Payloads come from the network: before decoding, validValue walks the
// value without allocating, checking that it is well formed, that it is
// exactly one value, and that every length it declares fits in payload — so
// no declared length can make the decoder allocate more than the frame
// holds. A type that implements msgpack.CustomDecoder is decoded by its own
// method (the fast path); anything else by reflection. A panic inside the
// decoder is returned as an error.
func decodePayload(payload []byte, v any) (err error) {
	if !validValue(payload) {
		return errors.New("malformed payload")
	}
	d := decoderPool.Get().(*decoder)
	d.r.Reset(payload)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoding into %T panicked: %v", v, r)
			d.dec.Reset(&d.r) // whatever state the panic left behind
		}
		decoderPool.Put(d)
	}()
	if cd, ok := v.(msgpack.CustomDecoder); ok {
		err = cd.DecodeMsgpack(d.dec)
	} else {
		err = d.dec.Decode(v)
	}
	if err == nil && d.r.Len() != 0 {
		err = fmt.Errorf("%d bytes left after decoding %T", d.r.Len(), v)
	}
	return err
}

// putLen writes the length prefix of the frame that starts b.
func putLen(b []byte) { binary.BigEndian.PutUint32(b, uint32(len(b)-headerLen)) }
