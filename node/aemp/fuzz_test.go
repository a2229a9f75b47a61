package aemp_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"

	"github.com/tetherkit/tether/node/aemp"
)

// Seeds live in testdata/fuzz/<FuzzName>/ (transcript frames among them);
// run one with
//
//	(ulimit -v 4000000; go test -run '^$' -fuzz FuzzDecodeMsgpack -fuzztime 30s ./node/aemp/)

var fuzzLimits = aemp.Limits{MaxFrameSize: 1 << 20, MaxDepth: 64, MaxElements: 10000}

// fuzzDecode decodes frames from data until an error, and checks that each
// frame is in the model and survives a round trip through its framing. It
// returns the frames and the error that ended them.
func fuzzDecode(t *testing.T, f *aemp.Framing, data []byte) ([][]any, error) {
	dec := f.NewDecoder(bufio.NewReaderSize(bytes.NewReader(data), 16), fuzzLimits)
	var out [][]any
	for range 100 {
		frame, err := dec.Decode()
		if err != nil {
			var fe *aemp.FrameError
			if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &fe) {
				t.Fatalf("%s: untyped error %T %v", f, err, err)
			}
			if fe != nil && fe.Reason == nil {
				t.Fatalf("%s: FrameError without a reason: %v", f, err)
			}
			return out, err
		}
		enc, err := f.NewEncoder(nil, fuzzLimits).Append(nil, frame)
		if err != nil {
			// Only json's encoder refuses decoded values: never, as decoded
			// JSON is valid UTF-8 and finite; cbor/msgpack carry everything.
			t.Fatalf("%s: re-encoding decoded frame %s: %v", f, show(frame), err)
		}
		again, err := f.NewDecoder(bufio.NewReader(bytes.NewReader(enc)), fuzzLimits).Decode()
		if err != nil || !equal(frame, again, false) {
			t.Fatalf("%s: round trip of %s: %s, %v", f, show(frame), show(again), err)
		}
		out = append(out, frame)
	}
	return out, nil
}

func addFrameSeeds(f *testing.F, framing *aemp.Framing) {
	for _, fr := range valueTable() {
		if b, err := framing.NewEncoder(nil, aemp.Limits{}).Append(nil, fr); err == nil {
			f.Add(b)
		}
	}
	for _, c := range hostileCases() {
		if c.f == framing {
			f.Add(c.in)
		}
	}
}

// FuzzDecodeMsgpack also checks the fast decoder against the streaming one,
// lazy decoding against eager, and the encoder against msgpack/v5's.
func FuzzDecodeMsgpack(f *testing.F) {
	addFrameSeeds(f, aemp.Msgpack)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkMsgpackFastPath(t, data)
		checkLazy(t, data)
		frames, _ := fuzzDecode(t, aemp.Msgpack, data)
		for _, fr := range frames {
			checkMsgpackEncoding(t, fr)
		}
	})
}

// FuzzDecodeCBOR also checks the frame scanner against fxamacker/cbor
// alone: a first item that the library reads as an array must not be
// called malformed by us.
func FuzzDecodeCBOR(f *testing.F) {
	addFrameSeeds(f, aemp.CBOR)
	dm, err := cbor.DecOptions{
		DefaultByteStringType: reflect.TypeOf(""),
		ByteStringToString:    cbor.ByteStringToStringAllowed,
		DefaultMapType:        reflect.TypeOf(map[string]any(nil)),
		IntDec:                cbor.IntDecConvertSignedOrBigInt,
		TagsMd:                cbor.TagsForbidden,
	}.DecMode()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, err := fuzzDecode(t, aemp.CBOR, data)
		var v any
		if _, refErr := dm.UnmarshalFirst(data, &v); refErr == nil && len(frames) == 0 && errors.Is(err, aemp.ErrMalformedFrame) {
			if _, isList := v.([]any); isList {
				t.Fatalf("%x: fxamacker reads %v, we: %v", data, v, err)
			}
		}
	})
}

// FuzzDecodeJSON also compares with encoding/json: when we read exactly one
// frame and then a clean end, the input must be valid JSON with the same
// value; and valid JSON holding one array must be read that way unless it
// breaks our limits.
func FuzzDecodeJSON(f *testing.F) {
	addFrameSeeds(f, aemp.JSON)
	f.Add([]byte(`[1, -0, 1e3, "\ud83d\ude00\ud800", {"a":{"a":[]}}, true, null]`))
	f.Add([]byte(`[1][2]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, err := fuzzDecode(t, aemp.JSON, data)
		if len(frames) == 1 && err == io.EOF {
			if !json.Valid(data) {
				t.Fatalf("we accept %q, encoding/json does not", data)
			}
			if want := fromJSON(t, string(data)); !equal(frames[0], want, false) {
				t.Fatalf("%q: we %s, encoding/json %s", data, show(frames[0]), show(want))
			}
			return
		}
		if !json.Valid(data) || !utf8.Valid(data) || bytes.TrimLeft(data, " \t\r\n")[0] != '[' {
			return
		}
		if errors.Is(err, aemp.ErrFrameTooDeep) || errors.Is(err, aemp.ErrTooManyElements) ||
			errors.Is(err, aemp.ErrFrameTooLarge) || err != nil && strings.Contains(err.Error(), "number out of range") {
			return
		}
		t.Fatalf("encoding/json accepts %q; we read %d frames, then %v", data, len(frames), err)
	})
}

func FuzzParseGreeting(f *testing.F) {
	f.Add("aemp;1;nodeA;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;cbor,json,storable;provider=AE-2.01;mproto=1;gproto=1;peeraddr=127.0.0.1:53190")
	f.Add("aemp-dataconn;1;n;;json;dataconn_id=7;flag;;=x;tls=1.0\r\n")
	f.Add("aemp;2;x;a;b")
	f.Fuzz(func(t *testing.T, line string) {
		g, err := aemp.ParseGreeting(line)
		if err != nil {
			var he *aemp.HandshakeError
			if !errors.As(err, &he) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		g2, err := aemp.ParseGreeting(g.String())
		if err != nil || g2.String() != g.String() || g2.NodeID != g.NodeID || len(g2.Params) != len(g.Params) {
			t.Fatalf("%q → %q → %+v, %v", line, g.String(), g2, err)
		}
	})
}

// FuzzHandshaker feeds arbitrary peer lines to a Handshaker: it must fail
// with a *HandshakeError or succeed with a sane result, never panic.
func FuzzHandshaker(f *testing.F) {
	f.Add(false, "aemp;1;peer;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;cbor,json,storable;provider=AE-2.01\nNONCE\ncleartext;67656865696d;json\n")
	f.Add(true, "aemp;1;peer;tls_anon;msgpack;tls=1.0;hb=10,20\nNONCE\ntls_anon;;msgpack\n")
	f.Add(false, "aemp;1;me;hmac_sha3_512;json\nme-nonce\n")
	f.Fuzz(func(t *testing.T, tls bool, input string) {
		h, err := aemp.NewHandshaker(aemp.HandshakeConfig{
			NodeID: "me", Secret: "geheim", TLS: tls, Nonce: "me-nonce",
			AuthAccept: aemp.DefaultAuthAccept, Heartbeat: &aemp.Heartbeat{Interval: 1e9, Timeout: 3e9},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.SplitAfter(input, "\n") {
			out, err := h.Step(line)
			if err != nil {
				var he *aemp.HandshakeError
				if !errors.As(err, &he) || he.Reason == nil {
					t.Fatalf("untyped error %v", err)
				}
				return
			}
			if out.StartTLS {
				if !tls {
					t.Fatal("StartTLS without TLS configured")
				}
				if _, err := h.TLSUp(); err != nil {
					t.Fatal(err)
				}
			}
			if out.Done {
				r := h.Result()
				if r == nil || r.PeerID == "" || r.PeerID == "me" || r.SendFraming == nil || r.RecvFraming == nil ||
					(r.RecvAuth == aemp.AuthTLSAnon) == r.Trusted || (r.TLS && !tls) {
					t.Fatalf("result %+v", r)
				}
				return
			}
		}
	})
}
