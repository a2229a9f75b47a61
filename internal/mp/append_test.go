package mp_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tetherkit/tether/internal/mp"
)

// Every form, at the edges of its lengths, as msgpack/v5's Encoder writes it.
func TestMatchesMsgpackV5(t *testing.T) {
	var want bytes.Buffer
	enc := msgpack.NewEncoder(&want)
	var got []byte
	check := func(what string) {
		t.Helper()
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("%s:\n got %x\nwant %x", what, got, want.Bytes())
		}
		got = got[:0]
		want.Reset()
	}
	for _, v := range []uint64{0, 127, 128, 255, 256, math.MaxUint16, math.MaxUint16 + 1, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64} {
		got = mp.AppendUint(got, v)
		enc.EncodeUint(v)
		check("uint")
	}
	for _, v := range []int64{0, 1, -1, -32, -33, 127, 128, -128, -129, math.MinInt16, math.MinInt16 - 1, math.MinInt32, math.MinInt32 - 1, math.MinInt64, math.MaxInt64} {
		got = mp.AppendInt(got, v)
		enc.EncodeInt(v)
		check("int")
	}
	for _, n := range []int{0, 15, 16, 31, 32, 255, 256, math.MaxUint16, math.MaxUint16 + 1} {
		s := strings.Repeat("x", n)
		got = mp.AppendStr(got, s)
		enc.EncodeString(s)
		check("str")
		got = mp.AppendBin(got, []byte(s))
		enc.EncodeBytesLen(n)
		want.WriteString(s)
		check("bin")
		got = mp.AppendArrayHead(got, n)
		enc.EncodeArrayLen(n)
		check("array")
		got = mp.AppendMapHead(got, n)
		enc.EncodeMapLen(n)
		check("map")
	}
	for _, f := range []float64{0, -1.5, math.Inf(1), math.MaxFloat64} {
		got = mp.AppendFloat64(got, f)
		enc.EncodeFloat64(f)
		check("float64")
	}
	got = mp.AppendBool(mp.AppendBool(mp.AppendNil(got), true), false)
	enc.EncodeNil()
	enc.EncodeBool(true)
	enc.EncodeBool(false)
	check("nil, bools")
}
