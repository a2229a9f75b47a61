package event

import "strconv"

// Kind says what happened to a persistent connection.
type Kind uint8

// The kinds of event, in the order a successful cycle reports them.
const (
	// AttemptingToConnect starts a cycle: once when the persistent connection
	// is created and once after each Disconnected — not before every retry.
	AttemptingToConnect Kind = iota + 1
	// ObtainedAddress reports the address an attempt will connect to, when it
	// differs from the previous one in the same cycle.
	ObtainedAddress
	// FailedToConnect reports why an attempt failed, when the error differs
	// from the previous one in the same cycle.
	FailedToConnect
	// Connected reports a new, usable connection.
	Connected
	// Disconnected reports that the connection reported by Connected has
	// finished closing.
	Disconnected
)

var kindNames = [...]string{
	AttemptingToConnect: "attempting to connect",
	ObtainedAddress:     "obtained address",
	FailedToConnect:     "failed to connect",
	Connected:           "connected",
	Disconnected:        "disconnected",
}

// String returns the kind in words, such as "failed to connect".
func (k Kind) String() string {
	if k >= 1 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "event.Kind(" + strconv.Itoa(int(k)) + ")"
}
