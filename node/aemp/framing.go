package aemp

import (
	"bufio"
	"io"
)

// Framing names for the greeting and the auth line.
const (
	FramingJSON    = "json"
	FramingCBOR    = "cbor"
	FramingMsgpack = "msgpack"
)

// DefaultFramings is what a Go node offers, best first: msgpack for Go peers
// (Perl nodes never list it), then what Perl nodes speak.
var DefaultFramings = []string{FramingMsgpack, FramingCBOR, FramingJSON}

// An Encoder turns frames into bytes in one framing. It keeps scratch space
// between calls, so it is cheap to reuse and not safe for concurrent use.
type Encoder interface {
	// Encode writes one frame to the encoder's writer with a single Write
	// call. The caller decides when to flush, so a link's writer goroutine
	// can batch many frames per syscall by handing the encoder a
	// *bufio.Writer. If the frame is not in the message model (Go's
	// integer types and float32 are taken as Normalize converts them) or
	// exceeds the encoder's Limits, it returns a *FrameError and writes
	// nothing; a write error is returned as is.
	Encode(frame []any) error
	// Append appends the encoding of one frame to dst and returns the
	// extended slice, for callers that encode into their own buffers. On a
	// *FrameError it returns dst unchanged.
	Append(dst []byte, frame []any) ([]byte, error)
	// AppendMessage is Append for the frame [port, msg…], without building
	// that slice.
	AppendMessage(dst []byte, port string, msg []any) ([]byte, error)
}

// AppendMessage is e.AppendMessage(dst, port, msg), except that neither msg
// nor anything in it escapes to the heap: a caller's slice, such as the
// arguments of a variadic call, and the values boxed into it can stay on
// its stack. (A call through the Encoder interface makes the compiler
// assume that they escape; this package's encoders are called directly,
// and others are given a deep copy of msg.)
func AppendMessage(e Encoder, dst []byte, port string, msg []any) ([]byte, error) {
	switch x := e.(type) {
	case *msgpackEncoder:
		return x.AppendMessage(dst, port, msg)
	case *cborEncoder:
		return x.AppendMessage(dst, port, msg)
	case *jsonEncoder:
		return x.AppendMessage(dst, port, msg)
	}
	c, err := CopyList(msg)
	if err != nil {
		return dst, err
	}
	return e.AppendMessage(dst, port, c)
}

// A Decoder reads frames written back to back in one framing. It is not safe
// for concurrent use.
type Decoder interface {
	// Decode reads the next frame. It returns io.EOF when the stream ends
	// cleanly between frames, io.ErrUnexpectedEOF when it ends inside one,
	// the reader's own error for other read failures, and a *FrameError for
	// bytes that are not a frame or break the Limits. After any error other
	// than io.EOF the position in the stream is lost: close the connection.
	// The frame and everything in it belong to the caller.
	Decode() ([]any, error)
}

// A Framing is one way of putting frames on the wire. The package has three:
// [JSON], [CBOR] and [Msgpack].
type Framing struct {
	name       string
	newEncoder func(w io.Writer, lim Limits) Encoder
	newDecoder func(r *bufio.Reader, lim Limits) Decoder
}

// Name returns the framing's name as it appears in greetings ("json", …).
func (f *Framing) Name() string { return f.name }

// String returns Name.
func (f *Framing) String() string { return f.name }

// NewEncoder returns an encoder that writes frames to w (normally a
// *bufio.Writer that the caller flushes) and refuses frames beyond lim (zero
// fields take their defaults).
func (f *Framing) NewEncoder(w io.Writer, lim Limits) Encoder {
	return f.newEncoder(w, lim.withDefaults())
}

// NewDecoder returns a decoder that reads frames from r, bounded by lim
// (zero fields take their defaults). r may be the reader that read the
// handshake lines: the decoder starts at its current position and reads no
// further than the frames it returns (JSON and CBOR may look ahead in r's
// buffer without consuming).
func (f *Framing) NewDecoder(r *bufio.Reader, lim Limits) Decoder {
	return f.newDecoder(r, lim.withDefaults())
}

// The framings.
var (
	// JSON is UTF-8 JSON texts back to back with no separator.
	JSON = &Framing{name: FramingJSON, newEncoder: newJSONEncoder, newDecoder: newJSONDecoder}
	// CBOR is CBOR items back to back, as CBOR::XS writes them.
	CBOR = &Framing{name: FramingCBOR, newEncoder: newCBOREncoder, newDecoder: newCBORDecoder}
	// Msgpack is msgpack arrays back to back (Go-to-Go links only).
	Msgpack = &Framing{name: FramingMsgpack, newEncoder: newMsgpackEncoder, newDecoder: newMsgpackDecoder}
)

// FramingByName returns the framing called name, or nil if this package does
// not implement it (storable, for one, is never supported).
func FramingByName(name string) *Framing {
	switch name {
	case FramingJSON:
		return JSON
	case FramingCBOR:
		return CBOR
	case FramingMsgpack:
		return Msgpack
	}
	return nil
}

// keepScratch returns b for reuse as scratch space, or nil when it grew
// beyond maxKeptScratch for one big frame.
func keepScratch(b []byte) []byte {
	if cap(b) > maxKeptScratch {
		return nil
	}
	return b[:0]
}

// maxKeptScratch is the most scratch space an encoder or decoder keeps
// between frames; a bigger buffer made for one big frame is dropped after it.
const maxKeptScratch = 64 << 10
