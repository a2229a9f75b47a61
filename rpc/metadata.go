package rpc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/tetherkit/tether/internal/mp"
)

// Metadata is what travels with a call besides its request and response:
// the caller's headers, and the trailer the handler sends back with its
// response. Keys and values are strings; by convention keys are lower case
// (W3C trace context, for one, uses "traceparent" and "tracestate").
//
// Each direction of a call carries at most MaxMetadataSize bytes of it,
// encoded. Metadata needs protocol version 2 at both ends: to a peer that
// speaks only version 1 it is not sent.
type Metadata map[string]string

// MaxMetadataSize bounds the metadata of one call in one direction, as
// encoded on the wire (about the sum of its keys' and values' lengths, plus
// two or three bytes a string). A call whose headers exceed it fails before
// it is sent; a handler whose trailer exceeds it fails its call.
const MaxMetadataSize = 8 << 10

// ErrMetadataTooLarge is the cause of a call whose metadata exceeds
// MaxMetadataSize.
var ErrMetadataTooLarge = errors.New("metadata too large")

type (
	outgoingKey   struct{} // *headerLayer: headers for calls made with the context
	incomingKey   struct{} // Metadata: the headers of the call being served
	trailerKey    struct{} // *callCtx: where SetTrailer writes
	trailerDstKey struct{} // *Metadata: where a call's trailer goes
	peerKey       struct{} // *Peer
)

// headerLayer is one WithHeaders on a context: layers stack, and a key set
// in an inner one overrides the outer ones.
type headerLayer struct {
	md    Metadata
	outer *headerLayer
}

// WithHeaders returns a context whose calls carry md as headers, on top of
// those ctx already carries (md's values win). md must not be changed
// afterwards.
func WithHeaders(ctx context.Context, md Metadata) context.Context {
	outer, _ := ctx.Value(outgoingKey{}).(*headerLayer)
	return context.WithValue(ctx, outgoingKey{}, &headerLayer{md: md, outer: outer})
}

// WithHeader returns a context whose calls carry the header key: value, on
// top of those ctx already carries.
func WithHeader(ctx context.Context, key, value string) context.Context {
	return WithHeaders(ctx, Metadata{key: value})
}

// OutgoingHeaders returns the headers that calls made with ctx carry, or
// nil if none.
func OutgoingHeaders(ctx context.Context) Metadata {
	l, _ := ctx.Value(outgoingKey{}).(*headerLayer)
	if l == nil {
		return nil
	}
	if l.outer == nil {
		return l.md
	}
	md := Metadata{}
	for ; l != nil; l = l.outer {
		for k, v := range l.md {
			if _, ok := md[k]; !ok {
				md[k] = v
			}
		}
	}
	return md
}

// HeaderFromContext returns the headers of the call, stream or one-way
// message that a handler (or a server interceptor) was given ctx for, or
// nil if there are none. It must not be changed.
func HeaderFromContext(ctx context.Context) Metadata {
	md, _ := ctx.Value(incomingKey{}).(Metadata)
	return md
}

// PeerFromContext returns the peer of the connection that the call, stream
// or one-way message a handler was given ctx for came over: its address and
// what it said about itself in the handshake.
func PeerFromContext(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(*Peer)
	if !ok {
		return Peer{}, false
	}
	return *p, true
}

// SetTrailer adds key: value to the trailer of the call or stream that a
// handler (or a server interceptor) was given ctx for; the trailer goes to
// the caller with the response or the stream's end. It reports false, and
// does nothing, if ctx is not such a context or the handler has returned.
func SetTrailer(ctx context.Context, key, value string) bool {
	c, ok := ctx.Value(trailerKey{}).(*callCtx)
	if !ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trailerSent {
		return false
	}
	if c.trailer == nil {
		c.trailer = Metadata{}
	}
	c.trailer[key] = value
	return true
}

// ReceiveTrailer returns a context whose calls store the trailer they
// receive in *dst (nil if none came). For streams, see
// ClientStream.Trailer.
func ReceiveTrailer(ctx context.Context, dst *Metadata) context.Context {
	return context.WithValue(ctx, trailerDstKey{}, dst)
}

// appendMetadata appends md as a msgpack map, its keys in order (so that
// the same metadata gives the same bytes), or fails if it exceeds
// MaxMetadataSize.
func appendMetadata(b []byte, md Metadata) ([]byte, error) {
	start := len(b)
	n := len(md)
	switch {
	case n < 16:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0xde, byte(n>>8), byte(n))
	default:
		return b[:start], fmt.Errorf("%w: %d keys", ErrMetadataTooLarge, n)
	}
	for _, k := range slices.Sorted(maps.Keys(md)) {
		b = mp.AppendStr(mp.AppendStr(b, k), md[k])
		if len(b)-start > MaxMetadataSize {
			return b[:start], fmt.Errorf("%w: more than %d bytes", ErrMetadataTooLarge, MaxMetadataSize)
		}
	}
	return b, nil
}

// metadata reads metadata written by appendMetadata, at most
// MaxMetadataSize bytes of it.
func (r *body) metadata() Metadata {
	before := len(r.b)
	n := r.mapLen(MaxMetadataSize / 2)
	if r.err != nil || n == 0 {
		return nil
	}
	md := make(Metadata, n)
	for range n {
		k := r.str(MaxMetadataSize)
		v := r.str(MaxMetadataSize)
		md[k] = v
	}
	if before-len(r.b) > MaxMetadataSize+5 {
		r.fail()
	}
	if r.err != nil {
		return nil
	}
	return md
}
