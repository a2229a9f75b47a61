package rpc

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/internal/batch"
	"github.com/tetherkit/tether/internal/mp"
)

// Conn is one end of an RPC connection. Both ends are alike: each serves
// the methods in its Config.Handlers and can call the peer's. Calls, one-way
// messages and streams from many goroutines share the connection; their
// frames are batched by one writer goroutine, and one reader goroutine
// reads everything that arrives.
//
// A Conn is safe for concurrent use. It satisfies persistent.Connection, so
// a persistent.Conn can keep one up (see Client).
type Conn struct {
	cfg      Config
	nc       net.Conn
	desc     string
	peer     Peer
	menu     []*handler           // ours; index i is method i on the wire
	peerMenu map[methodKey]uint64 // the peer's methods, to their index
	peerMax  int                  // the peer's maximum frame size
	window   int                  // the peer's stream window
	quota    quota                // our calls and streams the peer serves at once, and their bytes
	shared   *budget              // the server's bound on bytes held, or nil
	br       *bufio.Reader
	w        *batch.Writer
	log      *slog.Logger

	ctx    context.Context // one-way handlers' context; ends at close
	cancel context.CancelFunc

	// What calls, streams and one-way messages go through: the
	// interceptors around this side's own work (built once, at the
	// handshake). unaries[i] and streamed[i] are for menu[i].
	invoker  Invoker
	streamer Streamer
	unaries  []UnaryHandler
	streamed []StreamHandler

	nextID atomic.Uint64 // the last id of a call or stream we opened
	epoch  time.Time     // when the connection opened, on cfg.Clock: stats time from it

	// frameCharge is what the frame being handled took from shared (the
	// reader goroutine's own): a handler that keeps the frame takes it
	// over, else it is given back once the frame is handled.
	frameCharge int

	// stamp is when the frames being handled arrived, as an offset from
	// epoch: taken once per read from the socket, when there is a
	// StatsHandler (the reader goroutine's own).
	stamp time.Duration

	mu        sync.Mutex
	calls     map[uint64]*call         // our calls awaiting their reply
	freeCalls []*call                  // answered calls, for reuse
	streams   map[uint64]*clientStream // streams we opened
	served    map[uint64]*served       // calls and streams we are serving
	closing   *ClosedError             // set when either side started closing
	closed    *ClosedError             // set when the connection is closed
	held      int                      // request bytes held by what we serve (MaxRequestBytes)
	inflight  int                      // calls, streams and handlers under way
	idle      chan struct{}            // closed when inflight drops to 0 or the peer drained, if someone waits

	// The drain that lets a graceful close fail no call (protocol 2): once
	// a side is closing, it tells the peer "drained" when every call and
	// stream it had admitted is queued; the side that closes waits for the
	// peer's drained as well as for the work under way. Every call the
	// peer sent before is then either served or refused unrun.
	sending     int  // openings admitted and not yet queued
	drainSent   bool // we told the peer we start nothing more
	peerDrained bool // the peer told us

	// The reader's own (whoever holds the read role): alone is set while
	// the frame being handled is all the reader has, so a call in it may
	// run inline; readied, once frames have readied other goroutines;
	// answered, once a frame has answered one of our calls.
	alone    bool
	readied  bool
	answered bool
	inline   inliner
	role     readRole

	done    chan struct{} // closed when the reader, writer and heartbeat have stopped
	heard   atomic.Bool   // a frame arrived since the last heartbeat tick
	workers workerPool
	beat    heartbeat
}

// NewConn runs the handshake over nc, an established connection (a pipe,
// say), and returns the rpc connection. cfg.HandshakeTimeout and ctx bound
// the handshake. On failure nc is closed and the error wraps ErrHandshake.
func NewConn(ctx context.Context, nc net.Conn, cfg Config) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		nc.Close()
		return nil, err
	}
	ctx, stop := handshakeContext(ctx, &cfg)
	defer stop()
	return newConn(ctx, nc, cfg, "rpc connection with", nil)
}

// newConn runs the handshake within ctx, which carries its timeout. shared
// is the server's bound on bytes held, or nil.
func newConn(ctx context.Context, nc net.Conn, cfg Config, how string, shared *budget) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		nc.Close()
		return nil, err
	}
	menu := cfg.Handlers.menu()
	peer, err := handshake(ctx, nc, &cfg, menu, shared)
	if err != nil {
		nc.Close()
		return nil, err
	}
	version, err := negotiate(peer.versions)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := &Conn{
		cfg:      cfg,
		nc:       nc,
		desc:     cfg.Description,
		menu:     menu,
		peerMenu: make(map[methodKey]uint64, len(peer.menu)),
		peerMax:  int(min(peer.maxFrame, maxMaxFrameSize)),
		window:   int(min(peer.window, 1<<30)),
		quota:    quota{maxCount: int(min(peer.maxConcurrent, 1<<20)), maxBytes: int(min(peer.maxRequest, 1<<40))},
		shared:   shared,
		br:       bufio.NewReaderSize(nc, readBufferSize),
		calls:    make(map[uint64]*call),
		streams:  make(map[uint64]*clientStream),
		served:   make(map[uint64]*served),
		done:     make(chan struct{}),
		epoch:    cfg.Clock.Now(),
		peer: Peer{
			Identification: peer.ident,
			Protocol:       version,
			Methods:        peer.menu,
			Addr:           nc.RemoteAddr(),
		},
	}
	if c.desc == "" {
		c.desc = fmt.Sprintf("%s %v", how, nc.RemoteAddr())
	}
	for i, m := range peer.menu {
		c.peerMenu[methodKey{m.Name, m.Version}] = uint64(i)
	}
	if cfg.ValidatePeer != nil {
		if err := cfg.ValidatePeer(c.peer); err != nil {
			nc.Close()
			return nil, fmt.Errorf("%w: peer refused: %w", ErrHandshake, err)
		}
	}
	c.log = cfg.Logger.With("conn", c.desc)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.ctx = &connCtx{Context: c.ctx, peer: &c.peer}
	c.intercept()
	c.w = batch.NewWriter(nc, cfg.MaxQueuedBytes, func(err error) {
		c.shutdown(&ClosedError{Reason: "write failed: " + err.Error()}, false)
	})
	c.workers.c = c
	if c.inline.ok = c.w.CanWriteHere(); c.inline.ok {
		c.role.ok = len(c.menu) == 0
		c.role.ch = make(chan error, 1)
		dog.add(c)
	}
	go c.readLoop()
	c.beat.start(c)
	if h := cfg.Stats; h != nil {
		h.HandleConn(ConnEvent{Conn: c})
	}
	return c, nil
}

// intercept builds the chains of interceptors around this side's calls and
// handlers.
func (c *Conn) intercept() {
	ics := &c.cfg.Interceptors
	c.invoker, c.streamer = c.invokeOnce, c.openStreamOnce
	if len(ics.UnaryClient) > 0 {
		c.invoker = chainUnaryClient(ics.UnaryClient, c.invoker)
	}
	if len(ics.StreamClient) > 0 {
		c.streamer = chainStreamClient(ics.StreamClient, c.streamer)
	}
	c.unaries = make([]UnaryHandler, len(c.menu))
	c.streamed = make([]StreamHandler, len(c.menu))
	for i, h := range c.menu {
		c.unaries[i], c.streamed[i] = h.call, h.stream
		if h.call != nil && len(ics.Unary) > 0 {
			c.unaries[i] = chainUnaryServer(ics.Unary, &h.info, h.call)
		}
		if h.stream != nil && len(ics.Stream) > 0 {
			c.streamed[i] = chainStreamServer(ics.Stream, &h.info, h.stream)
		}
	}
}

// connCtx is the connection's context, which one-way handlers get: it
// carries the peer.
type connCtx struct {
	context.Context
	peer *Peer
}

func (c *connCtx) Value(key any) any {
	if _, ok := key.(peerKey); ok {
		return c.peer
	}
	return c.Context.Value(key)
}

// String returns the connection's description.
func (c *Conn) String() string { return c.desc }

// Peer returns what the peer said about itself in the handshake.
func (c *Conn) Peer() Peer { return c.peer }

// PeerVersions returns the versions of method name the peer implements,
// lowest first.
func (c *Conn) PeerVersions(name string) []int {
	var vs []int
	for _, m := range c.peer.Methods {
		if m.Name == name {
			vs = append(vs, m.Version)
		}
	}
	return vs
}

// Done is closed once the connection has closed, whoever closed it.
func (c *Conn) Done() <-chan struct{} { return c.done }

// IsClosed reports whether the connection has started closing, from either
// side: it takes no new calls.
func (c *Conn) IsClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing != nil
}

// Err returns why the connection closed, a *ClosedError, or nil while it is
// open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed == nil {
		return nil
	}
	return c.closed
}

// Close closes the connection gracefully with the reason "Close called";
// see CloseWithReason.
func (c *Conn) Close() error {
	ctx, cancel := clock.WithTimeout(context.Background(), c.cfg.Clock, c.cfg.HandshakeTimeout)
	defer cancel()
	return c.CloseWithReason(ctx, "Close called")
}

// CloseWithReason closes the connection gracefully: new calls fail at once
// with ErrClosed, the peer is told to make no more ("closed by remote side:
// reason" in its errors), and calls, streams and handlers under way on
// either side may finish until ctx ends. Then the connection closes and
// whatever is left fails with ErrClosed. It returns once the connection is
// closed: nil, or ctx.Err() if work was cut short.
func (c *Conn) CloseWithReason(ctx context.Context, reason string) error {
	if c.role.ok {
		c.reclaim() // the peer's answers to the close come unasked
	}
	c.mu.Lock()
	if c.closing == nil {
		c.closing = &ClosedError{Reason: reason}
		c.mu.Unlock()
		c.sendControl(kindCloseStarted, reason)
		c.mu.Lock()
		c.maybeDrainedLocked()
	}
	c.mu.Unlock()
	err := c.drain(ctx)
	c.shutdown(&ClosedError{Reason: reason}, true)
	<-c.done
	return err
}

// drain waits until nothing is under way and the peer has drained (if it
// speaks protocol 2), or ctx ends.
func (c *Conn) drain(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.inflight == 0 && (c.peerDrained || c.peer.Protocol < 2) || c.closed != nil {
			c.mu.Unlock()
			return nil
		}
		if c.idle == nil {
			c.idle = make(chan struct{})
		}
		idle := c.idle
		c.mu.Unlock()
		select {
		case <-idle:
		case <-c.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Conn) addInflight(n int) {
	c.mu.Lock()
	c.inflight += n
	if c.inflight == 0 {
		c.wakeLocked()
	}
	c.mu.Unlock()
}

// wakeLocked wakes drain.
func (c *Conn) wakeLocked() {
	if c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
}

// maybeDrainedLocked tells the peer that we start no more calls or
// streams, once we are closing and every one admitted is queued.
func (c *Conn) maybeDrainedLocked() {
	if c.closing == nil || c.drainSent || c.sending > 0 || c.closed != nil || c.peer.Protocol < 2 {
		return
	}
	c.drainSent = true
	c.sendSmall(kindDrained)
}

// sendControl queues a frame with one string field, best effort and
// without waiting for room in the queue.
func (c *Conn) sendControl(k kind, reason string) {
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	c.w.Append(func(b []byte) ([]byte, error) {
		start := len(b)
		b = mp.AppendStr(append(b, 0, 0, 0, 0, byte(k)), reason)
		putLen(b[start:])
		return b, nil
	})
}

// shutdown closes the connection at once with err as the reason: every
// call and stream under way fails with it, handlers' contexts are
// cancelled. If tell is set the peer is sent the reason first.
func (c *Conn) shutdown(err *ClosedError, tell bool) {
	c.mu.Lock()
	if c.closed != nil {
		c.mu.Unlock()
		return
	}
	c.closed = err
	if c.closing == nil {
		c.closing = err
	}
	calls, streams, served := c.calls, c.streams, c.served
	c.calls, c.streams, c.served = nil, nil, nil
	c.mu.Unlock()

	c.log.Debug("closing", "reason", err.Error())
	if tell {
		c.sendControl(kindClose, err.Reason)
		ctx, cancel := clock.WithTimeout(context.Background(), c.cfg.Clock, time.Second)
		c.w.Flush(ctx)
		cancel()
	}
	c.cancel()
	c.beat.stop()
	c.nc.Close() // ends the reader, which finishes up
	if c.role.ok {
		c.reclaim() // if no one reads, the reader goroutine does, and finishes up
	}
	c.w.Close()
	for _, cl := range calls {
		if cl.abandoned { // calls is ours alone now: no one else reads it
			c.recycle(cl)
		} else {
			cl.finish(nil, err, true) // sent, and never answered
		}
	}
	for _, st := range streams {
		st.over(err, err)
	}
	for _, s := range served {
		s.ctx.cancel(err)
		if s.stream != nil {
			s.stream.finish(err)
		}
	}
	c.workers.stop()
}

// readLoop reads frames until the connection fails or closes, then
// finishes closing.
func (c *Conn) readLoop() {
	err := c.read()
	for err == errReleased {
		// A caller reads, or no one; the role comes back with nil, or
		// with the error a caller met.
		if err = <-c.role.ch; err == nil {
			err = c.read()
		}
	}
	if err == errHandedOff {
		return // another goroutine reads now, and finishes up
	}
	reason := &ClosedError{Reason: "connection lost: " + err.Error()}
	var ce *ClosedError
	if errors.As(err, &ce) {
		reason = ce
	} else if errors.Is(err, ErrProtocol) {
		reason = &ClosedError{Reason: err.Error()}
		c.sendControl(kindClose, reason.Reason)
		ctx, cancel := clock.WithTimeout(context.Background(), c.cfg.Clock, time.Second)
		c.w.Flush(ctx)
		cancel()
	}
	c.mu.Lock()
	if c.closing != nil && c.closing.Remote && !errors.As(err, &ce) {
		// The peer said it was closing; losing the connection now is that.
		reason = c.closing
	}
	c.mu.Unlock()
	c.shutdown(reason, false)
	<-c.w.Done()
	if c.inline.ok {
		dog.remove(c)
	}
	if h := c.cfg.Stats; h != nil { // before Done: whoever waits for it finds the event told
		h.HandleConn(ConnEvent{Conn: c, Closed: true, Err: c.Err()})
	}
	close(c.done)
}

// readBufferSize is the size of a connection's read buffer: frames up to
// it are handled in place; larger ones are read into a buffer of their own.
const readBufferSize = 64 << 10

// read reads and handles frames as the reader goroutine until an error,
// or until it lets reading go (errReleased, errHandedOff).
func (c *Conn) read() error {
	for {
		if err := c.readFrame(false); err != nil {
			return err
		}
		if c.br.Buffered() > 0 {
			continue
		}
		if c.answered && c.role.ok {
			// Let go before the caller answered runs: its next call then
			// finds the role free.
			readied := c.readied
			c.answered, c.readied = false, false // the next holder's, once let go
			if c.letGo(nil, false) {
				return errReleased
			}
			c.readied = readied
		}
		if c.readied {
			// The frames read so far have readied callers or workers. Let
			// them run before the next read, which would otherwise hold
			// the processor for a system call that finds nothing: measured,
			// that wait was 3–5 µs of every call's latency. (After a call
			// served inline there is no one to let run, and Gosched would
			// only wake an idle thread.)
			runtime.Gosched()
			c.readied = false
		}
	}
}

// readFrame reads and handles one frame. A caller reading (readFor) reads
// only a frame that fits the read buffer, and leaves the buffer as it was
// if the read fails: it gives others errLarge and leaves them unread.
func (c *Conn) readFrame(caller bool) error {
	fresh := c.cfg.Stats != nil && c.br.Buffered() == 0 // this read goes to the socket
	hdr, err := c.br.Peek(headerLen)
	if err != nil {
		return err
	}
	if fresh {
		c.stamp = c.now()
	}
	n := int(binary.BigEndian.Uint32(hdr))
	inPlace := n <= c.cfg.MaxFrameSize && headerLen+n <= c.br.Size()
	if !inPlace && caller {
		return errLarge
	}
	c.heard.Store(true)
	if !inPlace {
		c.br.Discard(headerLen)
		c.readied = true
		if n > c.cfg.MaxFrameSize {
			return c.refuseFrame(n, &TooLargeError{Size: n, Max: c.cfg.MaxFrameSize})
		}
		return c.readLarge(n)
	}
	b, err := c.br.Peek(headerLen + n)
	if err != nil {
		return err
	}
	c.alone = c.br.Buffered() == headerLen+n
	err = c.handle(b[headerLen:])
	c.alone = false
	if err != nil {
		return err
	}
	c.br.Discard(headerLen + n)
	if !c.inline.has {
		c.readied = true
	} else if !c.runInline() {
		return errHandedOff
	}
	return nil
}

// readLarge reads and handles a frame of n bytes, larger than the read
// buffer, into a buffer that grows as its bytes arrive (never by what the
// header announced) and whose bytes are taken from the server's bound. If
// the server holds too much to take them, the rest of the frame is skipped
// and the call or stream it belongs to fails with ErrResourceExhausted.
func (c *Conn) readLarge(n int) error {
	head, err := c.br.Peek(min(n, 32)) // the kind and id, for a refusal
	if err != nil {
		return err
	}
	head = slices.Clone(head)
	b, err := readGrowing(c.br, n, c.shared)
	c.frameCharge = cap(b)
	defer func() {
		c.shared.give(c.frameCharge)
		c.frameCharge = 0
	}()
	if err == errServerBusy {
		if _, err := c.br.Discard(n - len(b)); err != nil {
			return err
		}
		return c.refused(head, n, resourceExhausted("the server holds as many bytes as it may"))
	}
	if err != nil {
		return err
	}
	return c.handle(b)
}

// refuseFrame skips a frame of n bytes that will not be handled, and fails
// the call or stream it belongs to with cause.
func (c *Conn) refuseFrame(n int, cause error) error {
	head, _ := c.br.Peek(min(n, 32))
	head = slices.Clone(head)
	if _, err := c.br.Discard(n); err != nil {
		return err
	}
	return c.refused(head, n, cause)
}

// refused fails the call or stream that a skipped frame of n bytes, which
// began with head, belonged to; the connection stays up.
func (c *Conn) refused(head []byte, n int, cause error) error {
	r := body{b: head}
	k, id := kind(r.uint()), r.uint()
	if r.err != nil {
		return protocolError("a frame of %d bytes that is not even well formed", n)
	}
	switch k {
	case kindCall, kindStreamOpen:
		c.replyFailure(id, k == kindStreamOpen, cause)
	case kindReply:
		c.finishCall(id, nil, cause, true)
	case kindStreamItemBk:
		c.failStream(id, cause)
	case kindStreamItem:
		c.cancelServed(id, cause)
	default:
		c.log.Warn("dropped a frame", "kind", k.String(), "size", n, "err", cause)
	}
	return nil
}

// handle handles one frame. b is only valid during the call.
func (c *Conn) handle(b []byte) error {
	r := body{b: b}
	k := kind(r.uint())
	switch k {
	case kindReply:
		id := r.uint()
		if r.err == nil {
			c.finishCall(id, r.rest(), nil, true)
		}
	case kindError:
		id, code := r.uint(), r.uint()
		msg := r.str(c.cfg.MaxFrameSize)
		var size, max, class uint64
		if code == codeTooLarge || code == codeResponseTooLarge {
			size, max = r.uint(), r.uint()
		}
		if code == codeApplication && len(r.b) > 0 {
			class = r.uint()
		}
		if r.err == nil {
			err, ran := c.remoteError(code, msg, size, max, class)
			c.finishCall(id, nil, err, ran)
		}
	case kindCall, kindCallMD:
		id, idx, timeout := r.uint(), r.uint(), r.uint()
		var md Metadata
		if k == kindCallMD {
			md = r.metadata()
		}
		if r.err == nil {
			c.serveCall(id, idx, timeout, md, r.rest())
		}
	case kindOneWay, kindOneWayMD:
		idx := r.uint()
		var md Metadata
		if k == kindOneWayMD {
			md = r.metadata()
		}
		if r.err == nil {
			c.serveOneWay(idx, md, r.rest())
		}
	case kindTrailer:
		id := r.uint()
		md := r.metadata()
		if r.err == nil {
			c.receiveTrailer(id, md)
		}
	case kindDrained:
		c.mu.Lock()
		c.peerDrained = true
		c.wakeLocked()
		c.mu.Unlock()
	case kindCancel:
		id := r.uint()
		if r.err == nil {
			c.cancelServed(id, context.Canceled)
		}
	case kindStreamOpen, kindStreamOpenMD:
		id, idx, timeout := r.uint(), r.uint(), r.uint()
		var md Metadata
		if k == kindStreamOpenMD {
			md = r.metadata()
		}
		if r.err == nil {
			c.serveStream(id, idx, timeout, md, r.rest())
		}
	case kindStreamItem, kindStreamEnd, kindStreamCredit:
		id := r.uint()
		var n uint64
		if k == kindStreamCredit {
			n = r.uint()
		}
		if r.err == nil {
			return c.toServedStream(k, id, r.rest(), n)
		}
	case kindStreamItemBk, kindStreamEndBk, kindStreamCredBk:
		id := r.uint()
		var n, code uint64
		var msg string
		switch k {
		case kindStreamCredBk:
			n = r.uint()
		case kindStreamEndBk:
			code, msg = r.uint(), r.str(c.cfg.MaxFrameSize)
		}
		if r.err == nil {
			return c.toClientStream(k, id, r.rest(), n, code, msg)
		}
	case kindHeartbeat:
	case kindCloseStarted:
		reason := r.str(c.cfg.MaxFrameSize)
		if r.err == nil {
			c.mu.Lock()
			if c.closing == nil {
				c.closing = &ClosedError{Reason: reason, Remote: true}
			}
			c.maybeDrainedLocked()
			c.mu.Unlock()
		}
	case kindClose:
		reason := r.str(c.cfg.MaxFrameSize)
		if r.err == nil {
			return &ClosedError{Reason: reason, Remote: true}
		}
	default:
		return protocolError("unexpected frame kind %d", k)
	}
	if r.err != nil {
		return protocolError("malformed %v frame", k)
	}
	return nil
}

// remoteError turns an error frame into the caller's error, and says
// whether the call may have run: not if the peer refused it.
func (c *Conn) remoteError(code uint64, msg string, size, max, class uint64) (error, bool) {
	switch code {
	case codeUnknownMethod:
		return fmt.Errorf("%w: %s", ErrUnknownMethod, msg), false
	case codeTooLarge:
		// From a peer of protocol 1, the response may have been too large,
		// after the handler ran.
		return &TooLargeError{Size: int(size), Max: int(max), Remote: true}, c.peer.Protocol < 2
	case codeResponseTooLarge:
		return &TooLargeError{Size: int(size), Max: int(max), Remote: true}, true
	case codePanic:
		return &RemoteError{Message: msg, Panic: true, Class: Internal}, true
	case codeClosing:
		return &ClosedError{Reason: msg, Remote: true}, false
	case codeCanceled:
		return fmt.Errorf("%w (%s)", context.Canceled, msg), true
	case codeResourceExhausted:
		return fmt.Errorf("%w: %s", ErrResourceExhausted, msg), false
	case codeBadRequest:
		return fmt.Errorf("%w: %s", ErrBadRequest, msg), false
	default:
		cl := Class(class)
		if cl == OK || cl > Unauthenticated {
			cl = Unknown
		}
		return &RemoteError{Message: msg, Class: cl}, true
	}
}
