package aemp_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/tetherkit/tether/node/aemp"
)

var framings = []*aemp.Framing{aemp.Msgpack, aemp.CBOR, aemp.JSON}

// valueTable is frames with every model type, nesting, edge values.
func valueTable() map[string][]any {
	long := strings.Repeat("x", 70000)
	return map[string][]any{
		"empty":      {},
		"tag":        {"bench"},
		"node port":  {"", "kil0", "port", "die", "reason"},
		"scalars":    {nil, true, false, int64(0), int64(1), int64(-1), 1.5, -0.25, "s"},
		"int heads":  {int64(23), int64(24), int64(255), int64(256), int64(65535), int64(65536), int64(1 << 32), int64(-24), int64(-25), int64(-129), int64(-32769), int64(-1 << 31), int64(-1<<31 - 1)},
		"big ints":   {int64(math.MaxInt64), int64(math.MinInt64), int64(math.MaxInt32), int64(1<<53 + 1)},
		"floats":     {0.1, 1e300, -1e-300, 5e-324, math.MaxFloat64, 1.0, math.Copysign(0, -1), 123456789.0, 1795239271.1003175, 3.4028234663852886e+38},
		"strings":    {"", "a", "☺ü", "\x00\x01\x1f\"\\/", "line\nbreak\ttab\r", "\u2028\u2029", "日本語テキスト", "\U0001F600"},
		"long str":   {long, strings.Repeat("ab", 40)},
		"bytes":      {[]byte{}, []byte{0, 1, 2, 127}, bytes.Repeat([]byte{7}, 100), []byte("☺")},
		"nested":     {[]any{}, []any{[]any{[]any{int64(1)}}}, map[string]any{}, map[string]any{"k": "v", "n": []any{int64(1), int64(2)}, "m": map[string]any{"deep": nil}}},
		"map keys":   {map[string]any{"": int64(1), "☺": true, "a b": 2.5, "'l": map[string]any{"node": []any{"127.0.0.1:4152"}}}},
		"bench":      {"bench", int64(123456789), []byte("0123456789abcdef")},
		"many":       manyElems(1000),
		"g_slave db": {"", "g_slave", map[string]any{"'l": map[string]any{"gonode": []any{"127.0.0.1:4999"}}, "gofam": map[string]any{"k1": "v1"}}},
	}
}

// binaryTable is frames that JSON cannot carry.
func binaryTable() map[string][]any {
	return map[string][]any{
		"binary":   {[]byte{0, 1, 2, 255}, []byte{0xc3}, bytes.Repeat([]byte{0xfe}, 70)},
		"bad utf8": {"\xff\xfe", map[string]any{"\xff": "\xc3("}},
		"nan inf":  {math.NaN(), math.Inf(1), math.Inf(-1)},
	}
}

func manyElems(n int) []any {
	l := make([]any, n)
	for i := range l {
		l[i] = int64(i * 1000)
	}
	return l
}

// loose reports what framing f cannot tell apart: []byte from string
// (cbor, json) and NaN/Inf (json cannot carry them at all).
func loose(f *aemp.Framing) bool { return f != aemp.Msgpack }

func roundTrip(t *testing.T, f *aemp.Framing, frame []any) []any {
	t.Helper()
	var buf bytes.Buffer
	if err := f.NewEncoder(&buf, aemp.Limits{}).Encode(frame); err != nil {
		t.Fatalf("%s encode %s: %v", f, show(frame), err)
	}
	got, err := f.NewDecoder(bufio.NewReader(&buf), aemp.Limits{}).Decode()
	if err != nil {
		t.Fatalf("%s decode %s: %v", f, show(frame), err)
	}
	return got
}

func TestRoundTrip(t *testing.T) {
	for name, frame := range valueTable() {
		for _, f := range framings {
			got := roundTrip(t, f, frame)
			if !equal(frame, got, loose(f)) {
				t.Errorf("%s %s:\n got %s\nwant %s", f, name, show(got), show(frame))
			}
			if !loose(f) && !equal(frame, got, false) {
				t.Errorf("%s %s: types changed", f, name)
			}
		}
	}
	for name, frame := range binaryTable() {
		for _, f := range []*aemp.Framing{aemp.Msgpack, aemp.CBOR} {
			got := roundTrip(t, f, frame)
			if !equal(frame, got, loose(f)) {
				t.Errorf("%s %s:\n got %s\nwant %s", f, name, show(got), show(frame))
			}
			if !loose(f) && !equal(frame, got, false) {
				t.Errorf("%s %s: types changed", f, name)
			}
		}
	}
}

// TestCrossFraming: a frame decodes to the same value through every
// framing (modulo []byte vs string).
func TestCrossFraming(t *testing.T) {
	for name, frame := range valueTable() {
		var results [][]any
		for _, f := range framings {
			results = append(results, roundTrip(t, f, frame))
		}
		for i := 1; i < len(results); i++ {
			if !equal(results[0], results[i], true) {
				t.Errorf("%s: %s gives %s, %s gives %s", name, framings[0], show(results[0]), framings[i], show(results[i]))
			}
		}
	}
}

func TestDecodedTypes(t *testing.T) {
	frame := []any{"s", []byte("b"), int64(1), 1.5, float64(2), nil, true}
	want := map[string][]string{
		"msgpack": {"string", "[]uint8", "int64", "float64", "float64", "nil", "bool"},
		"cbor":    {"string", "string", "int64", "float64", "float64", "nil", "bool"},
		"json":    {"string", "string", "int64", "float64", "float64", "nil", "bool"},
	}
	for _, f := range framings {
		got := roundTrip(t, f, frame)
		for i, v := range got {
			typ := "nil"
			if v != nil {
				switch v.(type) {
				case string:
					typ = "string"
				case []byte:
					typ = "[]uint8"
				case int64:
					typ = "int64"
				case float64:
					typ = "float64"
				case bool:
					typ = "bool"
				}
			}
			if typ != want[f.Name()][i] {
				t.Errorf("%s element %d: %s, want %s", f, i, typ, want[f.Name()][i])
			}
		}
	}
}

// TestBackToBack: many frames in one stream, read through tiny reads and a
// tiny buffer so that frames straddle buffer fills.
func TestBackToBack(t *testing.T) {
	frames := [][]any{{}}
	for _, fr := range valueTable() {
		frames = append(frames, fr)
	}
	for _, f := range framings {
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		enc := f.NewEncoder(w, aemp.Limits{})
		for _, fr := range frames {
			if err := enc.Encode(fr); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		for _, r := range []io.Reader{bytes.NewReader(buf.Bytes()), iotest.OneByteReader(bytes.NewReader(buf.Bytes())), iotest.HalfReader(bytes.NewReader(buf.Bytes()))} {
			dec := f.NewDecoder(bufio.NewReaderSize(r, 16), aemp.Limits{})
			for i, want := range frames {
				got, err := dec.Decode()
				if err != nil {
					t.Fatalf("%s frame %d: %v", f, i, err)
				}
				if !equal(want, got, loose(f)) {
					t.Fatalf("%s frame %d: got %s want %s", f, i, show(got), show(want))
				}
			}
			if _, err := dec.Decode(); err != io.EOF {
				t.Fatalf("%s: after the last frame: %v, want io.EOF", f, err)
			}
		}
	}
}

func TestJSONWhitespaceBetweenFrames(t *testing.T) {
	dec := aemp.JSON.NewDecoder(bufio.NewReader(strings.NewReader(" [1]\n\t[ \"a\" , {} ]\r\n  ")), aemp.Limits{})
	for _, want := range [][]any{{int64(1)}, {"a", map[string]any{}}} {
		got, err := dec.Decode()
		if err != nil || !equal(got, want, false) {
			t.Fatalf("got %s, %v; want %s", show(got), err, show(want))
		}
	}
	if _, err := dec.Decode(); err != io.EOF {
		t.Fatalf("trailing whitespace: %v, want io.EOF", err)
	}
}

func TestTruncatedFrame(t *testing.T) {
	for _, f := range framings {
		b, err := f.NewEncoder(nil, aemp.Limits{}).Append(nil, []any{"abc", int64(1 << 40), map[string]any{"k": "v"}})
		if err != nil {
			t.Fatal(err)
		}
		for n := 1; n < len(b); n++ {
			_, err := f.NewDecoder(bufio.NewReader(bytes.NewReader(b[:n])), aemp.Limits{}).Decode()
			if err != io.ErrUnexpectedEOF {
				t.Fatalf("%s cut after %d of %d bytes: %v, want io.ErrUnexpectedEOF", f, n, len(b), err)
			}
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	cyclic := []any{nil}
	cyclic[0] = cyclic
	deep := []any{}
	for range 200 {
		deep = []any{deep}
	}
	cases := []struct {
		name   string
		frame  []any
		reason error
		only   string // a framing name, or "" for all
	}{
		{"uint64 beyond int64", []any{uint64(math.MaxUint64)}, aemp.ErrNotInModel, ""},
		{"[]string", []any{[]string{"a"}}, aemp.ErrNotInModel, ""},
		{"struct", []any{struct{}{}}, aemp.ErrNotInModel, ""},
		{"nested chan", []any{map[string]any{"c": make(chan int)}}, aemp.ErrNotInModel, ""},
		{"cyclic", cyclic, aemp.ErrFrameTooDeep, ""},
		{"deep", deep, aemp.ErrFrameTooDeep, ""},
		{"NaN", []any{math.NaN()}, aemp.ErrNotInModel, "json"},
		{"Inf", []any{math.Inf(-1)}, aemp.ErrNotInModel, "json"},
		{"bad utf8", []any{"\xff"}, aemp.ErrNotUTF8, "json"},
		{"bad utf8 bytes", []any{[]byte{0xc3}}, aemp.ErrNotUTF8, "json"},
	}
	for _, c := range cases {
		for _, f := range framings {
			if c.only != "" && c.only != f.Name() {
				continue
			}
			var buf bytes.Buffer
			err := f.NewEncoder(&buf, aemp.Limits{}).Encode(c.frame)
			var fe *aemp.FrameError
			if !errors.Is(err, c.reason) || !errors.As(err, &fe) || fe.Op != "encode" || fe.Framing != f.Name() {
				t.Errorf("%s %s: %v, want %v", f, c.name, err, c.reason)
			}
			if buf.Len() != 0 {
				t.Errorf("%s %s: wrote %d bytes on error", f, c.name, buf.Len())
			}
			dst := []byte("keep")
			if out, err := f.NewEncoder(nil, aemp.Limits{}).Append(dst, c.frame); err == nil || string(out) != "keep" {
				t.Errorf("%s %s: Append = %q, %v", f, c.name, out, err)
			}
		}
	}
}

// TestEncodeGoScalars checks that encoders take Go's other integer types and
// float32 and write exactly what they write for the frame Normalize makes.
func TestEncodeGoScalars(t *testing.T) {
	frame := []any{"p", 1, int8(-2), int16(300), int32(-70000), uint8(255), uint16(65535), uint32(1 << 31),
		uint(1 << 40), uint64(math.MaxInt64), uintptr(7), float32(1.5), []any{-1, map[string]any{"k": uint16(9)}}}
	norm, err := aemp.NormalizeFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range framings {
		got, err := f.NewEncoder(nil, aemp.Limits{}).Append(nil, frame)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want, err := f.NewEncoder(nil, aemp.Limits{}).Append(nil, norm)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Go scalars encode as %x, normalized as %x", f, got, want)
		}
	}
}

func TestEncodeLimits(t *testing.T) {
	for _, f := range framings {
		enc := f.NewEncoder(io.Discard, aemp.Limits{MaxFrameSize: 100, MaxElements: 10, MaxDepth: 2})
		if err := enc.Encode([]any{strings.Repeat("x", 100)}); !errors.Is(err, aemp.ErrFrameTooLarge) {
			t.Errorf("%s: big frame: %v", f, err)
		}
		if err := enc.Encode(manyElems(11)); !errors.Is(err, aemp.ErrTooManyElements) {
			t.Errorf("%s: many elements: %v", f, err)
		}
		if err := enc.Encode([]any{[]any{[]any{}}}); !errors.Is(err, aemp.ErrFrameTooDeep) {
			t.Errorf("%s: deep: %v", f, err)
		}
		if err := enc.Encode([]any{map[string]any{"k": []any{}}}); !errors.Is(err, aemp.ErrFrameTooDeep) {
			t.Errorf("%s: deep map: %v", f, err)
		}
		if err := enc.Encode([]any{[]any{int64(1)}, manyElems(8)[:7]}); err != nil { // exactly 10 elements, depth 2
			t.Errorf("%s: at the limits: %v", f, err)
		}
	}
}

// The cbor encoder writes a string that is not valid UTF-8 as a byte string:
// a text string may not carry it.
func TestCBORInvalidUTF8AsBytes(t *testing.T) {
	b, err := aemp.CBOR.NewEncoder(nil, aemp.Limits{}).Append(nil, []any{"\xff", "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x82, 0x41, 0xff, 0x62, 'o', 'k'}; !bytes.Equal(b, want) {
		t.Fatalf("got %x, want %x", b, want)
	}
	got := roundTrip(t, aemp.CBOR, []any{"\xff"})
	if got[0] != "\xff" {
		t.Fatalf("round trip: %s", show(got))
	}
}

// CBOR as CBOR::XS writes it: byte strings everywhere, half floats,
// undefined, indefinite lengths, big integers.
func TestCBORForeignForms(t *testing.T) {
	cases := []struct {
		hex  string
		want []any
	}{
		{"8340446b696c30a1416b4176", []any{"", "kil0", map[string]any{"k": "v"}}},
		{"83f93e00f7fa3fc00000", []any{1.5, nil, 1.5}},
		{"829f0102ffbf616101ff", []any{[]any{int64(1), int64(2)}, map[string]any{"a": int64(1)}}},
		{"815f4161426262ff", []any{"abb"}},
		{"821bffffffffffffffff3bffffffffffffffff", []any{float64(1<<64 - 1), -float64(1 << 64)}},
		{"811b7fffffffffffffff", []any{int64(math.MaxInt64)}},
		{"813b7fffffffffffffff", []any{int64(math.MinInt64)}},
	}
	for _, c := range cases {
		got, err := aemp.CBOR.NewDecoder(bufio.NewReader(bytes.NewReader(unhex(t, c.hex))), aemp.Limits{}).Decode()
		if err != nil || !equal(got, c.want, false) {
			t.Errorf("%s: got %s, %v; want %s", c.hex, show(got), err, show(c.want))
		}
	}
}

func TestMsgpackForeignForms(t *testing.T) {
	cases := []struct {
		hex  string
		want []any
	}{
		{"93cf8000000000000000ca3fc00000c4026869", []any{float64(1 << 63), 1.5, []byte("hi")}},
		{"92d0ffd3ffffffffffffffff", []any{int64(-1), int64(-1)}},
		{"9181c4016b01", []any{map[string]any{"k": int64(1)}}},
		{"91d90161", []any{"a"}},
	}
	for _, c := range cases {
		got, err := aemp.Msgpack.NewDecoder(bufio.NewReader(bytes.NewReader(unhex(t, c.hex))), aemp.Limits{}).Decode()
		if err != nil || !equal(got, c.want, false) {
			t.Errorf("%s: got %s, %v; want %s", c.hex, show(got), err, show(c.want))
		}
	}
}

func TestJSONNumbers(t *testing.T) {
	cases := map[string]any{
		"0": int64(0), "-0": int64(0), "42": int64(42), "-9223372036854775808": int64(math.MinInt64),
		"9223372036854775807": int64(math.MaxInt64), "9223372036854775808": float64(1 << 63),
		"18446744073709551616": float64(1 << 64), "1.0": 1.0, "1e3": 1000.0, "1E-2": 0.01, "-0.0": math.Copysign(0, -1),
		"1795239270.50323": 1795239270.50323, "1e-400": 0.0,
	}
	for lit, want := range cases {
		got, err := aemp.JSON.NewDecoder(bufio.NewReader(strings.NewReader("["+lit+"]")), aemp.Limits{}).Decode()
		if err != nil || !equal(got[0], want, false) {
			t.Errorf("%s: got %v, want %s", lit, err, show([]any{want}))
			continue
		}
	}
	for _, bad := range []string{"01", "1.", ".5", "-", "1e", "+1", "1e400", "0x10", "NaN", "Infinity"} {
		_, err := aemp.JSON.NewDecoder(bufio.NewReader(strings.NewReader("["+bad+"]")), aemp.Limits{}).Decode()
		if !errors.Is(err, aemp.ErrMalformedFrame) {
			t.Errorf("%s: %v, want ErrMalformedFrame", bad, err)
		}
	}
}

func TestJSONStrings(t *testing.T) {
	cases := map[string]string{
		`"\"\\\/\b\f\n\r\t"`:   "\"\\/\b\f\n\r\t",
		`"\u263a\u00FC"`:       "☺ü",
		`"\ud83d\ude00"`:       "\U0001F600",
		`"\ud83d"`:             "\uFFFD",
		`"\ud83dx"`:            "\uFFFDx",
		`"\ude00\ud83d\u0041"`: "\uFFFD\uFFFDA",
		`"a\u0000b"`:           "a\x00b",
		`"☺"`:                  "☺",
	}
	for in, want := range cases {
		got, err := aemp.JSON.NewDecoder(bufio.NewReader(strings.NewReader("["+in+"]")), aemp.Limits{}).Decode()
		if err != nil || got[0] != want {
			t.Errorf("%s: got %v, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"\"a\nb\"", `"\x"`, `"\u12"`, "\"\xff\"", "\"unterminated", `"\`} {
		_, err := aemp.JSON.NewDecoder(bufio.NewReader(strings.NewReader("["+bad+"]")), aemp.Limits{}).Decode()
		if !errors.Is(err, aemp.ErrMalformedFrame) && err != io.ErrUnexpectedEOF {
			t.Errorf("%q: %v, want ErrMalformedFrame", bad, err)
		}
	}
}

func TestJSONFloatFormat(t *testing.T) {
	cases := []struct {
		f    float64
		want string
	}{
		{1, "1.0"}, {math.Copysign(0, -1), "-0.0"}, {1.5, "1.5"}, {1e21, "1e+21"}, {1e20, "100000000000000000000.0"},
		{1e-7, "1e-7"}, {0.000001, "0.000001"}, {1795239271.1003175, "1795239271.1003175"}, {-2.5e-300, "-2.5e-300"},
	}
	for _, c := range cases {
		f, want := c.f, c.want
		b, err := aemp.JSON.NewEncoder(nil, aemp.Limits{}).Append(nil, []any{f})
		if err != nil || string(b) != "["+want+"]" {
			t.Errorf("%v: %s, %v; want [%s]", f, b, err, want)
		}
	}
}

func TestMalformed(t *testing.T) {
	cases := []struct {
		f      *aemp.Framing
		in     string
		reason error
	}{
		{aemp.JSON, `{"a":1}`, aemp.ErrMalformedFrame},
		{aemp.JSON, `"x"`, aemp.ErrMalformedFrame},
		{aemp.JSON, `[1 2]`, aemp.ErrMalformedFrame},
		{aemp.JSON, `[1,]`, aemp.ErrMalformedFrame},
		{aemp.JSON, `[}`, aemp.ErrMalformedFrame},
		{aemp.JSON, `[{1:2}]`, aemp.ErrMalformedFrame},
		{aemp.JSON, `[tru]`, aemp.ErrMalformedFrame},
		{aemp.CBOR, "\x01", aemp.ErrMalformedFrame},
		{aemp.CBOR, "\x81\xc1\x00", aemp.ErrNotInModel},
		{aemp.CBOR, "\x81\xf0", aemp.ErrNotInModel},
		{aemp.CBOR, "\x81\xf8\x20", aemp.ErrNotInModel},
		{aemp.CBOR, "\x81\x1c", aemp.ErrMalformedFrame},
		{aemp.CBOR, "\x81\xff", aemp.ErrMalformedFrame},
		{aemp.CBOR, "\x81\xa1\x01\x02", aemp.ErrMalformedFrame},
		{aemp.CBOR, "\x81\x61\xff", aemp.ErrMalformedFrame},
		{aemp.CBOR, "\x81\x5f\x61a\xff", aemp.ErrMalformedFrame},
		{aemp.CBOR, "\x81\xbf\x01\xff", aemp.ErrMalformedFrame},
		{aemp.Msgpack, "\x01", aemp.ErrMalformedFrame},
		{aemp.Msgpack, "\x91\xc1", aemp.ErrMalformedFrame},
		{aemp.Msgpack, "\x91\xd4\x01\x00", aemp.ErrNotInModel},
		{aemp.Msgpack, "\x91\xc7\x01\x01\x00", aemp.ErrNotInModel},
		{aemp.Msgpack, "\x91\x81\x01\x02", aemp.ErrMalformedFrame},
	}
	for _, c := range cases {
		_, err := c.f.NewDecoder(bufio.NewReader(strings.NewReader(c.in)), aemp.Limits{}).Decode()
		var fe *aemp.FrameError
		if !errors.Is(err, c.reason) || !errors.As(err, &fe) || fe.Op != "decode" {
			t.Errorf("%s %q: %v, want %v", c.f, c.in, err, c.reason)
		}
	}
}

func TestFramingByName(t *testing.T) {
	for _, f := range framings {
		if aemp.FramingByName(f.Name()) != f || f.String() != f.Name() {
			t.Errorf("%s", f)
		}
	}
	if aemp.FramingByName("storable") != nil {
		t.Error("storable must not be supported")
	}
}
