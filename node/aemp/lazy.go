package aemp

import "errors"

// Lazy decoding splits a frame's work in two: the link's reader checks each
// frame and finds the port it is for; whoever runs that port decodes it. On
// a busy link the reader is the one goroutine every frame passes through,
// and decoding is most of its work: left to the ports' executors, it runs
// in parallel and next to the code that uses the values.

// A LazyDecoder is a Decoder that can leave most of a frame encoded. The
// Msgpack framing's decoders are LazyDecoders.
type LazyDecoder interface {
	Decoder
	// DecodeLazy reads the next frame and checks all of it, with the errors
	// of Decode. When the frame is an array whose first element is a
	// non-empty string, it may return that string's bytes as to, valid
	// until the next call, and the other elements, still encoded, as rest,
	// for an Unpacker of the same framing. Otherwise it returns the frame
	// decoded, as Decode would, and an empty rest.
	DecodeLazy() (frame []any, to []byte, rest Rest, err error)
	// Buffered returns how many bytes have been read but not yet decoded.
	// When it is zero, the next call may wait for the network: the moment
	// for a caller to hand on what it has batched.
	Buffered() int
}

// errEager: the frame is not [port, …]; decode it whole.
var errEager = errors.New("frame is decoded eagerly")

func (d *msgpackDecoder) Buffered() int { return d.r.Buffered() }

// DecodeLazy is Decode that leaves [port, …] frames encoded.
func (d *msgpackDecoder) DecodeLazy() ([]any, []byte, Rest, error) {
	b, err := d.r.Peek(1)
	if err != nil {
		return nil, nil, Rest{}, err
	}
	if c := b[0]; c&0xf0 != 0x90 && c != 0xdc && c != 0xdd {
		return nil, nil, Rest{}, frameErr(FramingMsgpack, "decode", ErrMalformedFrame, "frame is not an array (code %#x)", c)
	}
	to, body, count, n, err := d.checkBuffered()
	if buf := d.r.Buffered(); err == errShort && buf < min(d.r.Size(), d.lim.MaxFrameSize) {
		// The frame runs on past what is buffered, as one cut by the end
		// of a read does: read once more and check again. A frame still
		// not whole (trickling in, or larger than the buffer) is left to
		// Decode, which streams it, in time linear in its size; so do a
		// stream that ends or fails, for Decode to report.
		if _, perr := d.r.Peek(buf + 1); perr == nil {
			to, body, count, n, err = d.checkBuffered()
		}
	}
	switch {
	case err == errEager, err == errShort:
		frame, err := d.Decode()
		return frame, nil, Rest{}, err
	case err != nil:
		return nil, nil, Rest{}, err
	}
	rest := d.rests.carve(count, body)
	_, _ = d.r.Discard(n) // buffered: cannot fail; to stays valid until the next read
	if d.r.Buffered() == 0 {
		// The next frame may be a while: let the chunk go rather than
		// hold it, mostly empty, for as long as the link stays quiet.
		d.rests.release()
	}
	return nil, to, rest, nil
}

// checkBuffered is checkFrame on the bytes buffered, cut to the frame size
// limit.
func (d *msgpackDecoder) checkBuffered() (to, body []byte, count, n int, err error) {
	b, _ := d.r.Peek(min(d.r.Buffered(), d.lim.MaxFrameSize))
	d.elems = 0
	return d.checkFrame(b)
}

// checkFrame checks the frame at the start of b (cut to the frame size
// limit) as fastFrame would decode it, without decoding. For a frame
// [port, …] it returns the port's bytes, the encoded elements after it and
// their count, and the frame's size. It returns errEager for other frames
// and errShort, as fastFrame does, when b ends inside the frame.
func (d *msgpackDecoder) checkFrame(b []byte) (to, body []byte, count, n int, err error) {
	f := fastDecoder{d: d, b: b}
	var elems int
	switch c := b[0]; {
	case c&0xf0 == 0x90:
		elems, f.i = int(c&0x0f), 1
	default:
		f.i = 1
		if elems, err = f.length(2 << (c - 0xdc)); err != nil {
			return nil, nil, 0, 0, err
		}
	}
	if elems == 0 || d.lim.MaxDepth < 1 {
		return nil, nil, 0, 0, errEager
	}
	if elems > len(b)-f.i {
		return nil, nil, 0, 0, errShort
	}
	if err := d.count(elems); err != nil {
		return nil, nil, 0, 0, err
	}
	// The port: a non-empty str.
	var pn int
	switch c := b[f.i]; {
	case c&0xe0 == 0xa0:
		pn, f.i = int(c&0x1f), f.i+1
	case c == 0xd9 || c == 0xda || c == 0xdb:
		f.i++
		if pn, err = f.length(1 << (c - 0xd9)); err != nil {
			return nil, nil, 0, 0, err
		}
	}
	if pn == 0 {
		return nil, nil, 0, 0, errEager
	}
	if to, err = f.take(pn); err != nil {
		return nil, nil, 0, 0, err
	}
	start := f.i
	for range elems - 1 {
		if err := f.skip(1); err != nil {
			return nil, nil, 0, 0, err
		}
	}
	return to, b[start:f.i], elems - 1, f.i, nil
}

// skip checks one value as value would decode it, without decoding it.
func (f *fastDecoder) skip(depth int) error {
	p, err := f.take(1)
	if err != nil {
		return err
	}
	switch c := p[0]; {
	case c <= 0x7f, c >= 0xe0:
		return nil
	case c&0xf0 == 0x90:
		return f.skipArray(int(c&0x0f), depth+1)
	case c&0xf0 == 0x80:
		return f.skipMap(int(c&0x0f), depth+1)
	case c&0xe0 == 0xa0:
		_, err := f.take(int(c & 0x1f))
		return err
	}
	switch c := p[0]; c {
	case 0xc0, 0xc2, 0xc3:
		return nil
	case 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3:
		_, err := f.take(1 << ((c - 0xcc) & 3))
		return err
	case 0xca:
		_, err := f.take(4)
		return err
	case 0xcb:
		_, err := f.take(8)
		return err
	case 0xd9, 0xda, 0xdb:
		return f.skipBytes(1 << (c - 0xd9))
	case 0xc4, 0xc5, 0xc6:
		return f.skipBytes(1 << (c - 0xc4))
	case 0xdc, 0xdd:
		n, err := f.length(2 << (c - 0xdc))
		if err != nil {
			return err
		}
		return f.skipArray(n, depth+1)
	case 0xde, 0xdf:
		n, err := f.length(2 << (c - 0xde))
		if err != nil {
			return err
		}
		return f.skipMap(n, depth+1)
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return frameErr(FramingMsgpack, "decode", ErrNotInModel, "extension type (code %#x)", c)
	}
	return frameErr(FramingMsgpack, "decode", ErrMalformedFrame, "invalid code %#x", p[0])
}

// skipBytes skips a str or bin whose length takes size bytes.
func (f *fastDecoder) skipBytes(size int) error {
	n, err := f.length(size)
	if err != nil {
		return err
	}
	_, err = f.take(n)
	return err
}

func (f *fastDecoder) skipArray(n, depth int) error {
	d := f.d
	if depth > d.lim.MaxDepth {
		return frameErr(FramingMsgpack, "decode", ErrFrameTooDeep, "limit %d", d.lim.MaxDepth)
	}
	if n > len(f.b)-f.i {
		return errShort
	}
	if err := d.count(n); err != nil {
		return err
	}
	for range n {
		if err := f.skip(depth); err != nil {
			return err
		}
	}
	return nil
}

func (f *fastDecoder) skipMap(n, depth int) error {
	d := f.d
	if depth > d.lim.MaxDepth {
		return frameErr(FramingMsgpack, "decode", ErrFrameTooDeep, "limit %d", d.lim.MaxDepth)
	}
	if n > (len(f.b)-f.i)/2 {
		return errShort
	}
	if err := d.count(n); err != nil {
		return err
	}
	for range n {
		p, err := f.take(1)
		if err != nil {
			return err
		}
		switch c := p[0]; {
		case c&0xe0 == 0xa0:
			_, err = f.take(int(c & 0x1f))
		case c == 0xd9 || c == 0xda || c == 0xdb:
			err = f.skipBytes(1 << (c - 0xd9))
		case c == 0xc4 || c == 0xc5 || c == 0xc6:
			err = f.skipBytes(1 << (c - 0xc4))
		default:
			return frameErr(FramingMsgpack, "decode", ErrMalformedFrame, "map key is not a string (code %#x)", c)
		}
		if err != nil {
			return err
		}
		if err := f.skip(depth); err != nil {
			return err
		}
	}
	return nil
}
