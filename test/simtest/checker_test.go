package simtest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/tetherkit/tether/node"
)

// checker holds what the scenario's nodes did and checks the invariants.
// The nodes record facts as they happen (from their callbacks and
// goroutines); check, which the simulator calls whenever the world is
// quiescent, judges the facts recorded since it last ran, in order, so
// that the first fact that breaks an invariant fails the step that
// recorded it.
type checker struct {
	mu      sync.Mutex
	facts   []func() error // recorded, not yet judged
	ports   map[string]string
	epochs  map[epochKey]*epoch
	calls   map[int64]*call
	dead    map[string]bool // incarnations ("n3/1") that crashed
	checked int             // facts judged
	stopped bool            // the teardown has begun: nothing more is judged
}

func newChecker() *checker {
	return &checker{
		ports:  make(map[string]string),
		epochs: make(map[epochKey]*epoch),
		calls:  make(map[int64]*call),
		dead:   make(map[string]bool),
	}
}

// epochKey names one epoch of one stream: the messages a sender sends to
// one sink, under one monitor.
type epochKey struct {
	stream string // the sending incarnation, "n1/0"
	n      int64
}

func (k epochKey) String() string { return fmt.Sprintf("%s.%d", k.stream, k.n) }

type epoch struct {
	sink     string // the sink's port ID
	receiver string // the incarnation the sink should live on
	born     string // the incarnation it was born on, once born
	sent     int64
	last     int64 // the last sequence number received
	fired    bool  // the sender's monitor on the sink fired
	rotated  bool  // the sender ended the epoch (unmonitored, killed)
}

// call is one Call.
type call struct {
	from, to string // incarnations
	arg      int64
	handled  int
	returned int
	deadline bool
}

// record queues a fact for check.
func (c *checker) record(f func() error) {
	c.mu.Lock()
	if !c.stopped {
		c.facts = append(c.facts, f)
	}
	c.mu.Unlock()
}

// stop ends the judging, for the teardown: closing nodes fire monitors and
// end calls in ways the invariants do not describe.
func (c *checker) stop() {
	c.mu.Lock()
	c.stopped = true
	c.facts = nil
	c.mu.Unlock()
}

// check judges the facts recorded since it last ran. It is the scenario's
// invariant: the simulator calls it after every step.
func (c *checker) check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.facts) > 0 {
		f := c.facts[0]
		c.facts = c.facts[1:]
		c.checked++
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// The facts. Each runs under c.mu, in check.

// newPort: a port ID was made, by owner. No ID is ever made twice.
func (c *checker) newPort(id, owner string) {
	c.record(func() error {
		if prev, ok := c.ports[id]; ok {
			return fmt.Errorf("port ID %s made twice: by %s, then by %s", id, prev, owner)
		}
		c.ports[id] = owner
		return nil
	})
}

func (c *checker) beginEpoch(k epochKey, sink, receiver string) {
	c.record(func() error {
		if c.epochs[k] != nil {
			return fmt.Errorf("stream epoch %v begun twice", k)
		}
		c.epochs[k] = &epoch{sink: sink, receiver: receiver}
		return nil
	})
}

func (c *checker) sent(k epochKey, seq int64) {
	c.record(func() error {
		e := c.epochs[k]
		if e == nil || seq != e.sent+1 {
			return fmt.Errorf("stream epoch %v: the sender's own count is off at %d", k, seq)
		}
		e.sent = seq
		return nil
	})
}

func (c *checker) fired(k epochKey) {
	c.record(func() error {
		e := c.epochs[k]
		if e == nil {
			return fmt.Errorf("stream epoch %v: a monitor fired for an epoch never begun", k)
		}
		e.fired = true
		return nil
	})
}

func (c *checker) rotated(k epochKey) {
	c.record(func() error {
		c.epochs[k].rotated = true
		return nil
	})
}

// sinkBorn: the sink of epoch k, port id, began on incarnation on.
func (c *checker) sinkBorn(k epochKey, id, on string) {
	c.record(func() error {
		e := c.epochs[k]
		switch {
		case e == nil:
			return fmt.Errorf("sink %s born for an epoch %v never begun", id, k)
		case e.sink != id:
			return fmt.Errorf("sink %s born for epoch %v, whose sink is %s", id, k, e.sink)
		case e.born != "":
			return fmt.Errorf("sink %s of epoch %v born twice: on %s and on %s", id, k, e.born, on)
		case hostOf(e.receiver) != hostOf(on):
			// A later incarnation may get it: a spawn request waits
			// for the link, which a restarted node (same node ID)
			// takes up.
			return fmt.Errorf("sink %s of epoch %v born on %s, not on %s, where it was spawned", id, k, on, e.receiver)
		}
		e.born = on
		return nil
	})
}

// received: the sink of epoch k, running on incarnation on, got message
// seq. Per sender, in order and at most once; a gap only after the
// sender's monitor fired (no silent holes).
func (c *checker) received(k epochKey, seq int64, on string) {
	c.record(func() error {
		e := c.epochs[k]
		switch {
		case e == nil:
			return fmt.Errorf("stream epoch %v: message %d for an epoch never begun", k, seq)
		case on != e.born:
			return fmt.Errorf("stream epoch %v: message %d for sink %s (born on %s) reached a sink on %s", k, seq, e.sink, e.born, on)
		case seq <= e.last:
			return fmt.Errorf("stream epoch %v: message %d after %d: out of order or twice", k, seq, e.last)
		case seq > e.sent:
			return fmt.Errorf("stream epoch %v: message %d received, only %d sent", k, seq, e.sent)
		case seq != e.last+1 && !e.fired:
			return fmt.Errorf("stream epoch %v: a silent hole: message %d after %d, and the sender's monitor on %s has not fired", k, seq, e.last, e.sink)
		}
		e.last = seq
		return nil
	})
}

func (c *checker) callBegun(id int64, from, to string, arg int64, deadline bool) {
	c.record(func() error {
		if c.calls[id] != nil {
			return fmt.Errorf("call %d begun twice", id)
		}
		c.calls[id] = &call{from: from, to: to, arg: arg, deadline: deadline}
		return nil
	})
}

// handled: the adder on incarnation on handled call id. At most once.
func (c *checker) handled(id int64, on string) {
	c.record(func() error {
		k := c.calls[id]
		switch {
		case k == nil:
			return fmt.Errorf("call %d handled, never made", id)
		case on != k.to:
			return fmt.Errorf("call %d to %s handled on %s", id, k.to, on)
		}
		k.handled++
		if k.handled > 1 {
			return fmt.Errorf("call %d handled %d times", id, k.handled)
		}
		return nil
	})
}

// returned: call id returned reply, err. Exactly once, with its own reply.
func (c *checker) returned(id int64, reply []any, err error) {
	c.record(func() error {
		k := c.calls[id]
		if k == nil {
			return fmt.Errorf("call %d returned, never made", id)
		}
		if c.dead[k.from] {
			return nil // frozen by the crash, released by the teardown
		}
		k.returned++
		var ke *node.KilledError
		switch {
		case k.returned > 1:
			return fmt.Errorf("call %d returned %d times", id, k.returned)
		case err == nil:
			if len(reply) != 3 || reply[0] != "sum" || toInt(reply[1]) != id || toInt(reply[2]) != k.arg+1000 {
				return fmt.Errorf("call %d (arg %d) got reply %v, not its own", id, k.arg, reply)
			}
			if k.handled != 1 {
				return fmt.Errorf("call %d got a reply, but its request was handled %d times", id, k.handled)
			}
		case errors.As(err, &ke):
			// The target died, or the link to it failed: the call's
			// monitor fired.
		case !k.deadline || !errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("call %d from %s to %s (deadline %v) failed with %v", id, k.from, k.to, k.deadline, err)
		}
		return nil
	})
}

// crashed: incarnation inc crashed.
func (c *checker) crashed(inc string) {
	c.mu.Lock()
	c.dead[inc] = true
	c.mu.Unlock()
}

// final checks what must hold once the network has healed and settled:
// every stream epoch that no monitor ended, between incarnations still
// running, has delivered everything; every call of a running incarnation
// has returned.
func (c *checker) final() error {
	if err := c.check(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var problems []string
	keys := make([]epochKey, 0, len(c.epochs))
	for k := range c.epochs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].stream < keys[j].stream || keys[i].stream == keys[j].stream && keys[i].n < keys[j].n
	})
	for _, k := range keys {
		e := c.epochs[k]
		if e.fired || e.rotated || c.dead[k.stream] || c.dead[e.born] {
			continue
		}
		if e.last != e.sent {
			problems = append(problems, fmt.Sprintf("stream epoch %v to %s: %d of %d messages arrived, and the monitor never fired", k, e.sink, e.last, e.sent))
		}
	}
	ids := make([]int64, 0, len(c.calls))
	for id := range c.calls {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if k := c.calls[id]; k.returned == 0 && !c.dead[k.from] {
			problems = append(problems, fmt.Sprintf("call %d from %s to %s never returned", id, k.from, k.to))
		}
	}
	if problems != nil {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// hostOf returns the host of an incarnation: "n3" for "n3/1".
func hostOf(inc string) string {
	h, _, _ := strings.Cut(inc, "/")
	return h
}

// toInt reads an integer from a decoded message.
func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case uint64:
		return int64(x)
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	}
	return -1 << 62
}
