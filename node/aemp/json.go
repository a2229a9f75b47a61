package aemp

import (
	"bufio"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The json framing: UTF-8 JSON texts back to back with no separator, as
// JSON::XS's incremental parser reads them. Whitespace between texts is
// skipped. Each text must be an array.
//
// Decoding: an integer literal (no fraction, no exponent) that fits int64
// becomes int64, every other number float64; strings are strings (Perl's
// booleans arrive as "1" and "" and stay strings); true/false/null are
// bool/nil. Invalid UTF-8 is refused (JSON::XS refuses it too), a \u escape
// of a lone surrogate becomes U+FFFD as in encoding/json, and a number
// beyond float64's range is malformed.
//
// Encoding: []byte is written as a string of the same bytes, so it arrives
// as a string; a string or []byte that is not valid UTF-8 cannot be sent
// (ErrNotUTF8), and neither can NaN or an infinity (ErrNotInModel). Floats
// are written so that they read back as floats (1.0, not 1), map keys in
// sorted order.

type jsonEncoder struct{ encoderState }

func newJSONEncoder(w io.Writer, lim Limits) Encoder {
	return &jsonEncoder{encoderState{framing: FramingJSON, w: w, lim: lim}}
}

func (e *jsonEncoder) Encode(frame []any) error { return e.write(e.Append(e.scratch[:0], frame)) }

func (e *jsonEncoder) Append(dst []byte, frame []any) ([]byte, error) {
	e.elems = 0
	b, err := e.listWith(dst, nil, frame, 1)
	return e.finish(dst, b, err)
}

func (e *jsonEncoder) AppendMessage(dst []byte, port string, msg []any) ([]byte, error) {
	e.elems = 0
	b, err := e.listWith(dst, &port, msg, 1)
	return e.finish(dst, b, err)
}

func (e *jsonEncoder) list(b []byte, l []any, depth int) ([]byte, error) {
	return e.listWith(b, nil, l, depth)
}

// listWith encodes the list [*head, l…] (l if head is nil).
func (e *jsonEncoder) listWith(b []byte, head *string, l []any, depth int) ([]byte, error) {
	if err := e.tooDeep(depth); err != nil {
		return b, err
	}
	b = append(b, '[')
	if head != nil {
		if err := e.count(); err != nil {
			return b, err
		}
		var err error
		if b, err = e.value(b, *head, depth); err != nil {
			return b, err
		}
	}
	for i, v := range l {
		if err := e.count(); err != nil {
			return b, err
		}
		if i > 0 || head != nil {
			b = append(b, ',')
		}
		var err error
		if b, err = e.value(b, v, depth); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

func (e *jsonEncoder) value(b []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		return jsonFloat(b, x)
	case string:
		return appendJSONString(b, x)
	case []byte:
		return appendJSONString(b, x)
	case []any:
		return e.list(b, x, depth+1)
	case map[string]any:
		return e.object(b, x, depth+1)
	}
	if i, ok := widenInt(v); ok {
		return strconv.AppendInt(b, i, 10), nil
	}
	if f, ok := v.(float32); ok {
		return jsonFloat(b, float64(f))
	}
	return b, frameErr(FramingJSON, "encode", ErrNotInModel, "unsupported type %s (see Normalize)", modelTypeName(v))
}

func jsonFloat(b []byte, x float64) ([]byte, error) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return b, frameErr(FramingJSON, "encode", ErrNotInModel, "JSON cannot carry %v", x)
	}
	return appendJSONFloat(b, x), nil
}

func (e *jsonEncoder) object(b []byte, m map[string]any, depth int) ([]byte, error) {
	if err := e.tooDeep(depth); err != nil {
		return b, err
	}
	b = append(b, '{')
	var kb [16]string
	for i, k := range sortedKeys(m, kb[:0]) {
		if err := e.count(); err != nil {
			return b, err
		}
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendJSONString(b, k); err != nil {
			return b, err
		}
		b = append(b, ':')
		if b, err = e.value(b, m[k], depth); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

// sortedKeys appends m's keys to buf in sorted order, so that encoding is
// deterministic.
func sortedKeys(m map[string]any, buf []string) []string {
	for k := range m {
		buf = append(buf, k)
	}
	slices.Sort(buf)
	return buf
}

// appendJSONFloat writes f as encoding/json does, plus ".0" on integral
// values so that they read back as floats.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-07 → e-7, as encoding/json does.
		if n := len(b); n-start >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b
	}
	for _, c := range b[start:] {
		if c == '.' {
			return b
		}
	}
	return append(b, ".0"...)
}

const hexDigits = "0123456789abcdef"

func appendJSONString[S string | []byte](b []byte, s S) ([]byte, error) {
	b = append(b, '"')
	run := 0 // start of the bytes not yet copied
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			if r == utf8.RuneError && size == 1 {
				return b, frameErr(FramingJSON, "encode", ErrNotUTF8, "invalid byte %#x at offset %d", c, i)
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[run:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		run = i
	}
	b = append(b, s[run:]...)
	return append(b, '"'), nil
}

// jsonDecoder finds each text with jsonScan, then parses it with jsonParser.
type jsonDecoder struct {
	x    extentReader
	scan jsonScan
	p    jsonParser
}

func newJSONDecoder(r *bufio.Reader, lim Limits) Decoder {
	d := &jsonDecoder{}
	d.scan.lim = lim
	d.x = extentReader{r: r, s: &d.scan, max: lim.MaxFrameSize}
	d.p = jsonParser{lim: lim, box: newBoxer()}
	return d
}

func (d *jsonDecoder) Decode() ([]any, error) {
	b, err := d.x.next(FramingJSON)
	if err != nil {
		return nil, err
	}
	frame, err := d.p.parse(b)
	d.x.release()
	if err != nil {
		return nil, err
	}
	return frame, nil
}

// jsonScan finds the end of one JSON array by counting brackets outside
// strings. It checks depth and size; the parser checks everything else.
type jsonScan struct {
	lim   Limits
	off   int
	depth int
	state uint8
}

const (
	jsonBefore   = iota // whitespace before the frame
	jsonInFrame         // between tokens
	jsonInString        // inside a string
	jsonEscape          // just after a backslash in a string
)

func (s *jsonScan) reset()      { s.off, s.depth, s.state = 0, 0, jsonBefore }
func (s *jsonScan) blank() bool { return s.state == jsonBefore }

func (s *jsonScan) scan(b []byte) (int, bool, error) {
	i := s.off
	for i < len(b) {
		c := b[i]
		switch s.state {
		case jsonBefore:
			switch c {
			case ' ', '\t', '\n', '\r':
			case '[':
				s.state, s.depth = jsonInFrame, 1
			default:
				return 0, false, frameErr(FramingJSON, "decode", ErrMalformedFrame, "frame starts with %q, not '['", c)
			}
		case jsonInFrame:
			switch c {
			case '"':
				s.state = jsonInString
			case '[', '{':
				s.depth++
				if s.depth > s.lim.MaxDepth {
					return 0, false, frameErr(FramingJSON, "decode", ErrFrameTooDeep, "limit %d", s.lim.MaxDepth)
				}
			case ']', '}':
				s.depth--
				if s.depth == 0 {
					s.off = i + 1
					return i + 1, true, nil
				}
			}
		case jsonInString:
			for i < len(b) && b[i] != '"' && b[i] != '\\' {
				i++
			}
			if i == len(b) {
				continue
			}
			if b[i] == '"' {
				s.state = jsonInFrame
			} else {
				s.state = jsonEscape
			}
		case jsonEscape:
			s.state = jsonInString
		}
		i++
	}
	s.off = i
	if i > s.lim.MaxFrameSize {
		return 0, false, frameErr(FramingJSON, "decode", ErrFrameTooLarge, "more than %d bytes", s.lim.MaxFrameSize)
	}
	return 0, false, nil
}

// jsonParser parses one complete frame into the message model.
type jsonParser struct {
	lim   Limits
	box   *boxer
	b     []byte
	i     int
	elems int
	stack []any  // elements of the lists being parsed
	buf   []byte // unescaped string
}

func (p *jsonParser) parse(b []byte) (frame []any, err error) {
	p.b, p.i, p.elems = b, 0, 0
	defer func() {
		p.b = nil
		if cap(p.stack) > maxKeptScratch/16 {
			p.stack = nil
		}
		p.buf = keepScratch(p.buf)
	}()
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '[' {
		return nil, p.fail(ErrMalformedFrame, "frame is not an array")
	}
	p.i++
	if frame, err = p.array(1); err != nil {
		return nil, err
	}
	if p.ws(); p.i != len(p.b) {
		return nil, p.fail(ErrMalformedFrame, "data after the frame")
	}
	return frame, nil
}

func (p *jsonParser) fail(reason error, what string) error {
	return frameErr(FramingJSON, "decode", reason, "%s at byte %d", what, p.i)
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips whitespace and returns the next byte, or 0 at the end.
func (p *jsonParser) next() byte {
	if p.ws(); p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *jsonParser) count() error {
	p.elems++
	if p.elems > p.lim.MaxElements {
		return p.fail(ErrTooManyElements, "more than "+strconv.Itoa(p.lim.MaxElements)+" values")
	}
	return nil
}

// array parses the elements after '[' and the closing ']'.
func (p *jsonParser) array(depth int) ([]any, error) {
	if depth > p.lim.MaxDepth {
		return nil, p.fail(ErrFrameTooDeep, "nesting beyond "+strconv.Itoa(p.lim.MaxDepth))
	}
	if p.next() == ']' {
		p.i++
		return []any{}, nil
	}
	base := len(p.stack)
	for {
		if err := p.count(); err != nil {
			return nil, err
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		p.stack = append(p.stack, v)
		c := p.next()
		p.i++
		if c == ']' {
			break
		}
		if c != ',' {
			p.i--
			return nil, p.fail(ErrMalformedFrame, "expected ',' or ']'")
		}
	}
	out := make([]any, len(p.stack)-base)
	copy(out, p.stack[base:])
	clear(p.stack[base:])
	p.stack = p.stack[:base]
	return out, nil
}

// object parses the members after '{' and the closing '}'.
func (p *jsonParser) object(depth int) (map[string]any, error) {
	if depth > p.lim.MaxDepth {
		return nil, p.fail(ErrFrameTooDeep, "nesting beyond "+strconv.Itoa(p.lim.MaxDepth))
	}
	m := make(map[string]any)
	if p.next() == '}' {
		p.i++
		return m, nil
	}
	for {
		if err := p.count(); err != nil {
			return nil, err
		}
		if p.next() != '"' {
			return nil, p.fail(ErrMalformedFrame, "expected a string key")
		}
		p.i++
		kb, err := p.str()
		if err != nil {
			return nil, err
		}
		k := p.box.key(kb)
		if p.next() != ':' {
			return nil, p.fail(ErrMalformedFrame, "expected ':'")
		}
		p.i++
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		m[k] = v
		c := p.next()
		p.i++
		if c == '}' {
			return m, nil
		}
		if c != ',' {
			p.i--
			return nil, p.fail(ErrMalformedFrame, "expected ',' or '}'")
		}
	}
}

func (p *jsonParser) value(depth int) (any, error) {
	switch c := p.next(); c {
	case '[':
		p.i++
		return p.array(depth + 1)
	case '{':
		p.i++
		return p.object(depth + 1)
	case '"':
		p.i++
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return p.box.str(s), nil
	case 't':
		return p.literal("true", true)
	case 'f':
		return p.literal("false", false)
	case 'n':
		return p.literal("null", nil)
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return p.number()
		}
		return nil, p.fail(ErrMalformedFrame, "unexpected "+strconv.QuoteRune(rune(c)))
	}
}

func (p *jsonParser) literal(word string, v any) (any, error) {
	if len(p.b)-p.i < len(word) || string(p.b[p.i:p.i+len(word)]) != word {
		return nil, p.fail(ErrMalformedFrame, "bad literal")
	}
	p.i += len(word)
	return v, nil
}

// str parses a string after its opening quote and returns its contents,
// which alias either the input or p.buf.
func (p *jsonParser) str() ([]byte, error) {
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				return nil, p.fail(ErrMalformedFrame, "string is not valid UTF-8")
			}
			return s, nil
		case c == '\\':
			return p.strEscaped(start)
		case c < 0x20:
			return nil, p.fail(ErrMalformedFrame, "control character in string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	return nil, p.fail(ErrMalformedFrame, "unterminated string")
}

// strEscaped continues str from the first backslash, unescaping into p.buf.
func (p *jsonParser) strEscaped(start int) ([]byte, error) {
	buf := append(p.buf[:0], p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			p.buf = buf
			if !utf8.Valid(buf) {
				return nil, p.fail(ErrMalformedFrame, "string is not valid UTF-8")
			}
			return buf, nil
		case c < 0x20:
			return nil, p.fail(ErrMalformedFrame, "control character in string")
		case c != '\\':
			buf = append(buf, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			break
		}
		p.i += 2
		switch e := p.b[p.i-1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, p.fail(ErrMalformedFrame, "bad \\u escape")
			}
			if utf16IsSurrogate(r) {
				r = p.lowSurrogate(r)
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return nil, p.fail(ErrMalformedFrame, "bad escape")
		}
	}
	p.buf = buf
	return nil, p.fail(ErrMalformedFrame, "unterminated string")
}

func utf16IsSurrogate(r rune) bool { return r >= 0xd800 && r < 0xe000 }

// lowSurrogate combines the high surrogate r with a following \uDC00-\uDFFF
// escape, consuming it; anything else makes r U+FFFD, as encoding/json does.
func (p *jsonParser) lowSurrogate(r rune) rune {
	if r >= 0xdc00 || len(p.b)-p.i < 6 || p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
		return utf8.RuneError
	}
	save := p.i
	p.i += 2
	lo, ok := p.hex4()
	if !ok || lo < 0xdc00 || lo >= 0xe000 {
		p.i = save
		return utf8.RuneError
	}
	return 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.i += 4
	return r, true
}

func (p *jsonParser) digits() int {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

func (p *jsonParser) number() (any, error) {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	switch n := p.digits(); {
	case n == 0:
		return nil, p.fail(ErrMalformedFrame, "bad number")
	case n > 1 && p.b[p.i-n] == '0':
		return nil, p.fail(ErrMalformedFrame, "leading zero in number")
	}
	integral := true
	if p.i < len(p.b) && p.b[p.i] == '.' {
		integral = false
		p.i++
		if p.digits() == 0 {
			return nil, p.fail(ErrMalformedFrame, "bad fraction")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		integral = false
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return nil, p.fail(ErrMalformedFrame, "bad exponent")
		}
	}
	lit := p.b[start:p.i]
	if integral {
		if v, ok := parseInt64(lit); ok {
			return p.box.int(v), nil
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return nil, p.fail(ErrMalformedFrame, "number out of range")
	}
	return p.box.float(f), nil
}

// parseInt64 parses a JSON integer literal; ok is false if it overflows.
func parseInt64(lit []byte) (int64, bool) {
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	var u uint64
	for _, c := range lit {
		d := uint64(c - '0')
		if u > (math.MaxUint64-d)/10 {
			return 0, false
		}
		u = u*10 + d
	}
	switch {
	case neg && u <= 1<<63:
		return int64(-u), true
	case !neg && u <= math.MaxInt64:
		return int64(u), true
	}
	return 0, false
}
