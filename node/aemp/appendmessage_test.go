package aemp_test

import (
	"bytes"
	"testing"

	"github.com/tetherkit/tether/node/aemp"
)

// AppendMessage encodes exactly what Append does for [port, msg…].
func TestAppendMessageIsAppendWithThePort(t *testing.T) {
	for _, f := range []*aemp.Framing{aemp.Msgpack, aemp.CBOR, aemp.JSON} {
		enc := f.NewEncoder(nil, aemp.Limits{})
		for _, msg := range [][]any{nil, {}, {"bench", int64(7), []byte("abcdefghijklmnop")}, {[]any{"x"}, map[string]any{"k": 1.5}}} {
			want, err := enc.Append(nil, append([]any{"portname"}, msg...))
			if err != nil {
				t.Fatal(err)
			}
			got, err := enc.AppendMessage([]byte("prefix"), "portname", msg)
			if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatalf("%s %v: AppendMessage = %x, %v; want prefix+%x", f, msg, got, err, want)
			}
		}
	}
}
