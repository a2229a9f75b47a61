package aemp

import "io"

// encoderState is what the encoder of every framing keeps and does alike:
// where Encode writes, the limits, the count of the frame's elements, the
// scratch space; the frame-size check. Each framing adds listWith, which
// appends the list [*head, l…] (l if head is nil) at a depth, and calls it
// directly: it is the hot path.
type encoderState struct {
	framing string
	w       io.Writer
	lim     Limits
	elems   int
	scratch []byte
}

// write writes a frame that Append made (b, err) to w, keeping b as
// scratch space for the next.
func (s *encoderState) write(b []byte, err error) error {
	if err != nil {
		return err
	}
	s.scratch = keepScratch(b)
	_, err = s.w.Write(b)
	return err
}

// finish ends a frame appended to dst (b, err from listWith at depth 1):
// it checks the frame's size and returns dst as it was on an error.
func (s *encoderState) finish(dst, b []byte, err error) ([]byte, error) {
	if err == nil && len(b)-len(dst) > s.lim.MaxFrameSize {
		err = frameErr(s.framing, "encode", ErrFrameTooLarge, "%d bytes, limit %d", len(b)-len(dst), s.lim.MaxFrameSize)
	}
	if err != nil {
		return dst, err
	}
	return b, nil
}

// count counts one more element of the frame against MaxElements. (The
// errors are built apart, so that the checks inline.)
func (s *encoderState) count() error {
	if s.elems++; s.elems > s.lim.MaxElements {
		return s.tooManyErr()
	}
	return nil
}

// tooDeep checks a list's or map's depth against MaxDepth.
func (s *encoderState) tooDeep(depth int) error {
	if depth > s.lim.MaxDepth {
		return s.tooDeepErr()
	}
	return nil
}

func (s *encoderState) tooManyErr() error {
	return frameErr(s.framing, "encode", ErrTooManyElements, "limit %d", s.lim.MaxElements)
}

func (s *encoderState) tooDeepErr() error {
	return frameErr(s.framing, "encode", ErrFrameTooDeep, "limit %d", s.lim.MaxDepth)
}
