package node

import (
	"fmt"
	"strings"
)

// Reasons a port dies with: the first element of the reason, when there is
// one. A kill with no reason is a normal one.
const (
	// ReasonDie: a callback panicked or returned an error; the text
	// follows.
	ReasonDie = "die"
	// ReasonUnhandled: a message reached a port with no callback for it.
	ReasonUnhandled = "unhandled_message"
	// ReasonNoSuchPort: a monitored port did not exist.
	ReasonNoSuchPort = "no_such_port"
	// ReasonTransport: the link to the port's node failed; the node ID and
	// a text follow ("connection lost", "heartbeat timeout", …).
	ReasonTransport = "transport_error"
	// ReasonNoSuchInit: Spawn named an init function that is not
	// registered (or not allowed, in secure mode).
	ReasonNoSuchInit = "no_such_init"
	// ReasonMailboxFull: a process's mailbox overflowed.
	ReasonMailboxFull = "mailbox_full"
)

// IsNormal reports whether reason is a normal death (no reason at all).
func IsNormal(reason []any) bool { return len(reason) == 0 }

// FormatReason renders a reason for people: "normal", or its elements
// separated by spaces ("transport_error nodeB connection lost").
func FormatReason(reason []any) string {
	if len(reason) == 0 {
		return "normal"
	}
	parts := make([]string, len(reason))
	for i, v := range reason {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, " ")
}

// KilledError is the error of a Call whose target died: it carries the
// reason.
type KilledError struct {
	Port   string
	Reason []any
}

// Error returns "port PORT died: REASON".
func (e *KilledError) Error() string {
	return fmt.Sprintf("port %s died: %s", e.Port, FormatReason(e.Reason))
}
