package rpc

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// methodKey names a method version.
type methodKey struct {
	name    string
	version int
}

func (k methodKey) String() string { return fmt.Sprintf("%s v%d", k.name, k.version) }

type handlerKind uint8

const (
	unaryHandler handlerKind = iota
	oneWayHandler
	streamHandler
)

// handler is one implemented method, behind a type-erased interface that
// the generic method types fill in.
type handler struct {
	info MethodInfo
	kind handlerKind

	// skip counts down the lone calls to serve by workers since this
	// handler last ran slowInline or longer on a reader (inline.go).
	skip atomic.Int32

	// decode decodes a request (or message) into a new value of the
	// method's type, and returns a pointer to it.
	decode func(payload []byte) (any, error)
	// call runs the user's function for a call or a one-way message.
	call UnaryHandler
	// stream runs the user's function for a stream.
	stream StreamHandler
}

// mayRunInline reports whether a lone call of h may run on its reader:
// unless h was slow there lately (see skip).
func (h *handler) mayRunInline() bool {
	return h.skip.Load() <= 0 || h.skip.Add(-1) < 0
}

func (h *handler) key() methodKey { return methodKey{h.info.Name, h.info.Version} }

// Handlers is a set of method implementations: what one side of a
// connection serves, announced to the peer as its menu in the handshake.
// Register methods with the Implement method of Method, OneWay and Stream.
//
// The zero value is an empty set. A connection takes a snapshot of the set
// at its handshake; methods added later are served by later connections
// only. Handlers is safe for concurrent use.
type Handlers struct {
	mu    sync.Mutex
	byKey map[methodKey]*handler
}

// add registers h, replacing any method with the same name and version.
func (hs *Handlers) add(h *handler) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.byKey == nil {
		hs.byKey = make(map[methodKey]*handler)
	}
	hs.byKey[h.key()] = h
}

// menu returns the implemented methods in a fixed order (by name, then
// version): index i in it is method i on the wire.
func (hs *Handlers) menu() []*handler {
	if hs == nil {
		return nil
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	m := make([]*handler, 0, len(hs.byKey))
	for _, h := range hs.byKey {
		m = append(m, h)
	}
	slices.SortFunc(m, func(a, b *handler) int {
		if a.info.Name != b.info.Name {
			if a.info.Name < b.info.Name {
				return -1
			}
			return 1
		}
		return a.info.Version - b.info.Version
	})
	return m
}
