package aemp

import (
	"bufio"
	"errors"
	"io"
)

// JSON and CBOR frames are found before they are decoded: a small resumable
// scanner walks the bytes of one frame — brackets and strings for JSON, item
// heads for CBOR — checking the Limits as it goes, and only a complete frame
// is handed to the decoder proper. So a hostile peer can make a decoder hold
// at most Limits.MaxFrameSize bytes, and only as many as it actually sent:
// nothing is allocated on the strength of a declared length.

// extentScanner finds the end of one frame. scan is called with the frame's
// bytes so far (always from the frame's first byte, growing between calls)
// and resumes where the previous call stopped.
type extentScanner interface {
	reset()
	// scan returns the frame's length and true once the frame is complete
	// within b, false if it needs more bytes, or a *FrameError.
	scan(b []byte) (n int, done bool, err error)
	// blank reports whether nothing but inter-frame whitespace has been seen
	// since reset, so that end of stream is a clean io.EOF.
	blank() bool
}

// extentReader cuts frames out of a bufio.Reader with an extentScanner.
type extentReader struct {
	r       *bufio.Reader
	s       extentScanner
	max     int
	acc     []byte // the frame's earlier bytes when it spans several reads
	pending int    // bytes of the last frame still to be discarded from r
}

// next returns the bytes of the next frame. They alias r's buffer or the
// reader's own, and are valid until the next call to next or release. The
// caller must call release when done with them.
func (x *extentReader) next(framing string) ([]byte, error) {
	x.s.reset()
	x.acc = x.acc[:0]
	for {
		win, err := x.window()
		if err != nil {
			if err == io.EOF {
				if x.s.blank() {
					return nil, io.EOF
				}
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		base := len(x.acc) // at most x.max: a longer unfinished frame has failed
		if room := x.max + 1 - base; len(win) > room {
			win = win[:room] // enough to tell that the frame is too large
		}
		frame := win
		if base > 0 {
			x.acc = x.appendAcc(win)
			frame = x.acc
		}
		n, done, err := x.s.scan(frame)
		if err != nil {
			return nil, err
		}
		if done {
			if n > x.max {
				return nil, frameErr(framing, "decode", ErrFrameTooLarge, "%d bytes, limit %d", n, x.max)
			}
			x.pending = n - base
			return frame[:n], nil
		}
		if len(frame) > x.max {
			return nil, frameErr(framing, "decode", ErrFrameTooLarge, "more than %d bytes, limit %d", len(frame), x.max)
		}
		if base == 0 {
			x.acc = x.appendAcc(win)
		}
		if _, err := x.r.Discard(len(win)); err != nil {
			return nil, err
		}
	}
}

// appendAcc appends p to x.acc, doubling its capacity (append grows big
// slices by only a quarter, which would allocate five times the frame) but
// never beyond the most a frame may need.
func (x *extentReader) appendAcc(p []byte) []byte {
	if need := len(x.acc) + len(p); need > cap(x.acc) {
		acc := make([]byte, len(x.acc), min(max(2*cap(x.acc), need, 512), x.max+1))
		copy(acc, x.acc)
		x.acc = acc
	}
	return append(x.acc, p...)
}

// release consumes the frame returned by next from r.
func (x *extentReader) release() {
	if x.pending > 0 {
		_, _ = x.r.Discard(x.pending) // the bytes are buffered: Discard cannot fail
		x.pending = 0
	}
	x.acc = keepScratch(x.acc)
}

// window returns everything buffered in r, reading once if nothing is.
func (x *extentReader) window() ([]byte, error) {
	if x.r.Buffered() == 0 {
		if _, err := x.r.Peek(1); err != nil {
			return nil, err
		}
	}
	b, err := x.r.Peek(x.r.Buffered())
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	return b, nil
}
