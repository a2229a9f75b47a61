package node

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/tetherkit/tether/internal/batch"
	"github.com/tetherkit/tether/node/aemp"
)

// conn is one established connection of a link: the AnyEvent::MP framing
// over it, a reader goroutine that routes every frame, one writer
// goroutine that batches frames, and heartbeats when both ends are tether
// nodes. It satisfies persistent.Connection.
type conn struct {
	id    uint64 // unique in the node: the registry tells connections apart by it
	l     *link
	al    *aemp.Link
	enc   aemp.Encoder
	w     *batch.Writer
	limit int // bytes queued before the link fails

	heard atomic.Bool // a frame arrived since the last heartbeat tick
	// stalled: the reader waits for room in an executor's queue — this
	// node's own back-pressure, not the peer's silence.
	stalled atomic.Bool

	// The port the last frame went to: the reader's own cache (names are
	// never reused, and a dead port takes nothing).
	lastName string
	lastPort *port
	// The heartbeat's: limit ticks without hearing anything fail the
	// connection; silent counts them (only the sweep touches it).
	hbLimit, hbSilent int

	once sync.Once
	err  error // why it closed
	done chan struct{}
}

func newConn(l *link, al *aemp.Link, id uint64) *conn {
	c := &conn{
		id:    id,
		l:     l,
		al:    al,
		enc:   al.SendFraming.NewEncoder(nil, al.Limits),
		limit: l.n.cfg.Limits.SendQueue,
		done:  make(chan struct{}),
	}
	// The writer reports its failure from its own goroutine, which holds no
	// lock and is not one of the node's: it tells the link itself rather
	// than start a goroutine, which could come after Close has waited for
	// the node's last one.
	c.w = batch.NewWriter(al.Conn, c.limit, func(err error) { c.failHere(fmt.Errorf("write: %w", err)) })
	return c
}

// start runs the reader and the heartbeats.
func (c *conn) start() {
	n := c.l.n
	n.wg.Go(c.read)
	if hb := c.al.Heartbeat; hb != nil {
		limit := max(int((hb.Timeout+hb.Interval-1)/hb.Interval), 1)
		n.beat(c, hb.Interval, limit)
	}
}

// sendFrame queues a whole frame (the empty heartbeat frame, or one queued
// before the connection came up).
func (c *conn) sendFrame(frame []any, mayWait bool) {
	if len(frame) == 0 {
		if trace := c.l.n.cfg.Trace; trace != nil {
			trace(c.l.peer, true, frame)
		}
		// A heartbeat: the sweep writes it itself (see heartbeats).
		c.w.AppendHere(func(b []byte) ([]byte, error) { return c.enc.Append(b, frame) })
		return
	}
	port, _ := frame[0].(string)
	if err := c.send(port, frame[1:], mayWait); err != nil {
		// A frame queued while the link was down, measured in msgpack, that
		// this link's framing cannot carry: it must not vanish alone.
		c.fail(fmt.Errorf("message not sent: %w", err))
	}
}

// errQueueFull fails a link whose send queue overflowed.
var errQueueFull = errors.New("send queue full")

// send queues the frame [port, msg…], encoded in the link's framing. When
// the queue is full, a sender that may wait (one outside port context)
// waits for room; in port context the link fails instead, since the
// executor must not block. A message that cannot be encoded (a value
// outside the model, a frame beyond the limits) is not queued: send
// returns its error, and the link is unaffected.
func (c *conn) send(port string, msg []any, mayWait bool) error {
	return c.sendHow(port, msg, mayWait, false)
}

// sendHere is send from a handler that the link's reader runs on its own
// goroutine (shard.runNow), in answer to what it just read: if the writer
// is idle, the frame goes to the socket from here (batch.Writer's
// AppendHere), sparing the writer goroutine's wake-up on a round trip.
func (c *conn) sendHere(port string, msg []any) error {
	return c.sendHow(port, msg, false, true)
}

func (c *conn) sendHow(port string, msg []any, mayWait, here bool) error {
	if trace := c.l.n.cfg.Trace; trace != nil {
		// A copy: nothing of msg may outlive the send (see aemp.Copy).
		if frame, err := aemp.CopyList(msg); err == nil {
			trace(c.l.peer, true, append([]any{port}, frame...))
		}
	}
	build := func(b []byte) ([]byte, error) {
		if len(b) > c.limit {
			return b, errQueueFull
		}
		out, err := aemp.AppendMessage(c.enc, b, port, msg)
		if err != nil && errors.Is(err, aemp.ErrNotInModel) {
			// Encoders take the model and Go's scalars; anything else
			// (a []string, a struct…) is converted first, in a copy, so
			// that nothing of msg escapes.
			norm, nerr := aemp.CopyList(msg)
			if nerr != nil {
				return b, nerr
			}
			return aemp.AppendMessage(c.enc, b, port, norm)
		}
		return out, err
	}
	var err error
	switch {
	case mayWait:
		err = c.w.WriteFunc(c.l.n.ctx, build)
	case here:
		err = c.w.AppendHere(build)
	default:
		err = c.w.Append(build)
	}
	if err != nil {
		return c.sendFailed(err)
	}
	return nil
}

// sendFailed handles what send's queueing returned. (Apart, so that the
// error it inspects does not cost every send an allocation.) A full queue
// fails the link; a message that cannot be encoded goes back to the
// sender; a writer that has stopped means the connection is failing, and
// the link with it: the message is lost with it, which the monitors report.
func (c *conn) sendFailed(err error) error {
	var fe *aemp.FrameError
	var ve *aemp.ValueError
	switch {
	case errors.Is(err, errQueueFull):
		c.fail(err)
	case errors.As(err, &fe), errors.As(err, &ve):
		return err
	}
	return nil
}

// read routes the frames that arrive until the connection fails. With a
// lazy decoder (msgpack), messages to ports reach their port's executor
// still encoded, and it decodes them, in parallel with this reader; the
// messages that arrived together go to their shard together, under one
// lock, in order, and consecutive messages to one port as one item (their
// rests joined). Anything else that comes between (a frame routed here, a
// failure) hands them on first.
func (c *conn) read() {
	d := c.al.NewDecoder()
	dec, ok := d.(aemp.LazyDecoder)
	trace := c.l.n.cfg.Trace
	if !ok || trace != nil {
		dec = eager{d}
	}
	var (
		run   []item // for one shard, not yet pushed
		held  int    // messages in run
		bytes int    // their size
		to    *shard
	)
	flush := func() {
		if len(run) > 0 {
			c.stalled.Store(true)
			// A short run for an idle shard runs here and now; the rest
			// waits for the shard's executor.
			if held > maxInline || bytes > maxInlineBytes || !to.runNow(run) {
				to.pushAll(run, held, true)
			}
			c.stalled.Store(false)
			clear(run)
			run, held, bytes = run[:0], 0, 0
		}
	}
	for {
		if dec.Buffered() == 0 || held == maxRun || bytes >= maxRunBytes {
			flush() // the next frame may be a while, or the run is big enough
		}
		frame, port, rest, err := dec.DecodeLazy()
		if err == nil {
			c.heard.Store(true)
			if trace != nil {
				trace(c.l.peer, false, frame)
			}
		}
		if rest.Len() == 0 {
			flush() // before the frame, and before the link's failure
			if err == nil {
				c.stalled.Store(true) // route may wait for an executor, as flush does
				err = c.l.n.route(c, frame)
				c.stalled.Store(false)
			}
			if err != nil {
				c.fail(err)
				return
			}
			continue
		}
		p := c.portNamedBytes(port)
		if p == nil {
			continue // no such port: the message vanishes
		}
		if p.shard != to {
			flush()
			to = p.shard
		}
		held++
		bytes += rest.Len()
		if last := len(run) - 1; last >= 0 && run[last].p == p && run[last].rest.Join(rest) {
			continue
		}
		run = append(run, item{p: p, rest: rest, src: c.l.src})
	}
}

// eager is a LazyDecoder that decodes every frame at once (JSON, CBOR).
type eager struct{ aemp.Decoder }

func (e eager) DecodeLazy() ([]any, []byte, aemp.Rest, error) {
	frame, err := e.Decode()
	return frame, nil, aemp.Rest{}, err
}

func (eager) Buffered() int { return 0 }

// linkReadBuffer is the size of a link's read buffer.
const linkReadBuffer = 16 << 10

// maxRun and maxRunBytes bound what a link's reader holds back for one
// push: messages, and bytes of them.
const (
	maxRun      = 256
	maxRunBytes = 64 << 10
)

// maxInline and maxInlineBytes bound the run of messages a link's reader
// handles itself, when their shard is idle (shard.runNow): a few small
// messages, the request/response case, where a wake-up costs more than
// the work.
const (
	maxInline      = 8
	maxInlineBytes = 4 << 10
)

// frameLimits are the aemp limits of this node's links.
func (n *Node) frameLimits() aemp.Limits { return aemp.Limits{MaxFrameSize: n.cfg.Limits.MaxFrame} }

// fail closes the connection with err as the reason, and tells the link,
// from a goroutine of its own: fail may be called with the link's lock
// held.
func (c *conn) fail(err error) {
	if c.end(err) {
		l := c.l
		l.n.wg.Go(func() { l.do(func(s *linkState) { s.died(c, c.reason()) }) })
	}
}

// failHere is fail for a caller that holds no lock (the heartbeat sweep,
// the writer's goroutine): the link has been told when it returns, so
// connections that fail at one instant reach their links in a fixed order.
func (c *conn) failHere(err error) {
	if c.end(err) {
		c.l.do(func(s *linkState) { s.died(c, c.reason()) })
	}
}

// end closes the connection with err as the reason, once; it reports
// whether this call did.
func (c *conn) end(err error) (ended bool) {
	c.once.Do(func() {
		c.err = err
		c.al.Conn.Close()
		c.w.Close()
		close(c.done)
		ended = true
	})
	return ended
}

// Close closes the connection.
func (c *conn) Close() error { c.fail(errClosedLocally); return nil }

// Done is closed once the connection has closed.
func (c *conn) Done() <-chan struct{} { return c.done }

var errClosedLocally = errors.New("closed")

// reason is the transport_error text for the connection's end.
func (c *conn) reason() string {
	switch {
	case c.err == nil || errors.Is(c.err, errClosedLocally):
		return "connection closed"
	default:
		return c.err.Error()
	}
}

// handshakeConfig is the aemp configuration of this node's links: check
// sees the peer's greeting, commit the authenticated peer (see link).
func (n *Node) handshakeConfig(check func(*aemp.Greeting) error, commit func(*aemp.Result) error) aemp.Config {
	cfg := aemp.Config{
		NodeID:    n.id,
		Secret:    n.cfg.Secret,
		Framings:  n.cfg.Framings,
		TLS:       n.cfg.TLS,
		Timeout:   n.cfg.HandshakeTimeout,
		Clock:     n.clk,
		CheckPeer: check,
		TieBreak:  true,
		Commit:    commit,
		Limits:    n.frameLimits(),
		// The link's writer is a batch.Writer of its own (newConn); a read
		// buffer of 16 KiB keeps an idle link small and still reads many
		// small frames per system call (a frame that does not fit is
		// decoded as it streams in).
		ReadBufferSize:  linkReadBuffer,
		WriteBufferSize: -1,
		Params:          []aemp.Param{{Key: "provider", Value: "tether-1"}},
	}
	cfg.AuthOffer, cfg.AuthAccept = n.cfg.AuthOffer, n.cfg.AuthAccept
	if n.cfg.Heartbeat > 0 {
		cfg.Heartbeat = &aemp.Heartbeat{Interval: n.cfg.Heartbeat, Timeout: n.cfg.HeartbeatTimeout}
	}
	return cfg
}
