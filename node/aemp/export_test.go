package aemp

import (
	"bufio"
	"bytes"
)

// MsgpackBothWays decodes the first frame of data with the fast decoder
// (which sees all of data, cut to the frame size limit) and with the
// streaming one, and reports what each made of it: the frame, the bytes
// taken and the error. fastShort says the fast decoder ran out of bytes and
// left the frame to the streaming one.
func MsgpackBothWays(data []byte, lim Limits) (fast []any, fastN int, fastErr error, fastShort bool, stream []any, streamN int, streamErr error) {
	lim = lim.withDefaults()
	d := newMsgpackDecoder(bufio.NewReader(bytes.NewReader(nil)), lim).(*msgpackDecoder)
	fast, fastN, fastErr = d.fastFrame(data[:min(len(data), lim.MaxFrameSize)])
	if fastErr == errShort {
		fast, fastN, fastErr, fastShort = nil, 0, nil, true
	}
	s := newMsgpackDecoder(bufio.NewReader(bytes.NewReader(data)), lim).(*msgpackDecoder)
	stream, streamErr = s.streamFrame()
	return fast, fastN, fastErr, fastShort, stream, lim.MaxFrameSize - s.br.left, streamErr
}

// SetForge turns boxing into slabs on or off and returns a function that
// restores the setting.
func SetForge(on bool) (restore func()) {
	old := forge
	forge = on
	return func() { forge = old }
}

// LayoutOK reports the start-up check of the interface layout.
func LayoutOK() bool { return layoutOK() }

// RestOf makes a Rest of b, as if a decoder had given it out.
func RestOf(b []byte) Rest { return Rest{c: &restChunk{buf: b}, end: len(b)} }

// ChunkOf identifies the chunk r was carved from (nil: none).
func ChunkOf(r Rest) any { return r.c }

// HeldChunk is the chunk d carves its next rest from (nil: none held).
func HeldChunk(d LazyDecoder) any {
	if c := d.(*msgpackDecoder).rests.c; c != nil {
		return c
	}
	return nil
}
