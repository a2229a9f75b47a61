package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"
)

// The handshake: each side writes a hello frame at once, then reads the
// peer's. A hello holds the magic value, the protocol versions the side
// speaks, its identification, its menu, and its limits. Fields may be added
// at the end in later versions; a reader ignores what follows the fields it
// knows.
const magic = "tether-rpc"

// protocolVersions are the versions of this protocol we speak.
var protocolVersions = []uint64{1, 2}

const (
	maxHelloSize    = 1 << 20 // a hello frame, whatever MaxFrameSize says
	maxIdentLen     = 4096
	maxMenuLen      = 1 << 16
	maxMethodName   = 1024
	maxVersionsSent = 64
)

// hello is one side's handshake.
type hello struct {
	versions      []uint64
	ident         string
	menu          []MethodInfo
	maxFrame      uint64
	window        uint64
	maxConcurrent uint64
	maxRequest    uint64 // 0: not announced (an older peer): no bound on bytes
}

// MethodInfo describes a method in a menu.
type MethodInfo struct {
	Name    string
	Version int
	Kind    string // "method", "one-way" or "stream"
}

// Peer is what the other side of a connection said about itself in the
// handshake.
type Peer struct {
	Identification string
	Protocol       int          // the protocol version in use
	Methods        []MethodInfo // the peer's menu
	Addr           net.Addr     // its network address
}

func (h *hello) encode() []byte {
	f := newFrame(kindHello)
	defer f.free()
	f.str(magic)
	f.b = appendArrayLen(f.b, len(h.versions))
	for _, v := range h.versions {
		f.uint(v)
	}
	f.str(h.ident)
	f.b = appendArrayLen(f.b, len(h.menu))
	for _, m := range h.menu {
		f.b = appendArrayLen(f.b, 3)
		f.str(m.Name)
		f.uint(uint64(m.Version))
		f.str(m.Kind)
	}
	f.uint(h.maxFrame)
	f.uint(h.window)
	f.uint(h.maxConcurrent)
	f.uint(h.maxRequest)
	b, _ := f.finish(maxHelloSize)
	return slices.Clone(b)
}

func appendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
	}
}

// parseHello parses a hello frame body.
func parseHello(b []byte) (*hello, error) {
	r := body{b: b}
	if k := kind(r.uint()); r.err != nil || k != kindHello {
		return nil, handshakeError("the peer's first frame is not a hello")
	}
	if m := r.str(64); r.err != nil || m != magic {
		return nil, handshakeError("the peer does not speak this protocol (bad magic value)")
	}
	h := &hello{}
	n := r.arrayLen(maxVersionsSent)
	for range n {
		h.versions = append(h.versions, r.uint())
	}
	h.ident = r.str(maxIdentLen)
	n = r.arrayLen(maxMenuLen)
	for range n {
		if r.arrayLen(3) != 3 {
			r.fail()
			break
		}
		name := r.str(maxMethodName)
		v := r.uint()
		k := r.str(16)
		if v > 1<<31 {
			r.fail()
		}
		h.menu = append(h.menu, MethodInfo{Name: name, Version: int(v), Kind: k})
	}
	h.maxFrame = r.uint()
	h.window = r.uint()
	h.maxConcurrent = r.uint()
	if len(r.b) > 0 { // added after version 1's first release: optional
		h.maxRequest = r.uint()
	}
	if r.err != nil {
		return nil, handshakeError("malformed hello")
	}
	if h.maxFrame < 64 || h.window == 0 || h.maxConcurrent == 0 {
		return nil, handshakeError("the peer's hello announces impossible limits")
	}
	return h, nil
}

// aLongTimeAgo is a deadline that has always passed: setting it interrupts
// blocked reads and writes.
var aLongTimeAgo = time.Unix(1, 0)

// handshake exchanges hellos over nc. ctx bounds it (it carries the
// handshake timeout: see handshakeContext); when ctx ends, nc is
// interrupted. The peer's hello is read straight from nc, so that nothing
// after it is consumed, and into a buffer that grows as its bytes arrive,
// taking them from shared: a header that announces a large hello costs
// nothing until the bytes come.
func handshake(ctx context.Context, nc net.Conn, cfg *Config, menu []*handler, shared *budget) (*hello, error) {
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
	defer func() {
		stop()
		nc.SetDeadline(time.Time{})
	}()
	fail := func(err error) error {
		if ctx.Err() != nil {
			err = timedOut(ctx, cfg, context.Cause(ctx))
		}
		if errors.Is(err, ErrHandshake) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}

	mine := &hello{
		versions:      protocolVersions,
		ident:         cfg.Identification,
		maxFrame:      uint64(cfg.MaxFrameSize),
		window:        uint64(cfg.StreamWindow),
		maxConcurrent: uint64(cfg.MaxConcurrentHandlers),
		maxRequest:    uint64(cfg.MaxRequestBytes),
	}
	for _, h := range menu {
		mine.menu = append(mine.menu, h.info)
	}
	if _, err := nc.Write(mine.encode()); err != nil {
		return nil, fail(err)
	}

	var hdr [headerLen]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil {
		return nil, fail(err)
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n > maxHelloSize {
		return nil, fail(handshakeError("the peer's first frame is %d bytes: not a hello", n))
	}
	b, err := readGrowing(nc, n, shared)
	defer shared.give(cap(b))
	if err != nil {
		return nil, fail(err)
	}
	peer, err := parseHello(b)
	if err != nil {
		return nil, fail(err)
	}
	return peer, nil
}

// errServerBusy fails a read that would take the server past
// Config.MaxServerBytes.
var errServerBusy = errors.New("the server holds as many bytes as it may (MaxServerBytes)")

// readGrowing reads n bytes from r into a buffer that starts small and
// doubles as bytes arrive, so that memory follows what was received, not
// what was announced. Every byte of the buffer's capacity is taken from
// shared first; the caller gives back cap(b), also on failure (b is then
// what was read so far).
func readGrowing(r io.Reader, n int, shared *budget) ([]byte, error) {
	var b []byte
	for len(b) < n {
		grow := min(n-len(b), max(len(b), 4096))
		if !shared.take(len(b) + grow - cap(b)) {
			return b, errServerBusy
		}
		nb := make([]byte, len(b), len(b)+grow)
		copy(nb, b)
		b = nb
		if _, err := io.ReadFull(r, b[len(b):cap(b)]); err != nil {
			return b, err
		}
		b = b[:cap(b)]
	}
	return b, nil
}

// negotiate picks the highest protocol version both sides speak.
func negotiate(peer []uint64) (int, error) {
	best := uint64(0)
	for _, v := range peer {
		if slices.Contains(protocolVersions, v) && v > best {
			best = v
		}
	}
	if best == 0 {
		return 0, handshakeError("no common protocol version: we speak %v, the peer speaks %v", protocolVersions, peer)
	}
	return int(best), nil
}
