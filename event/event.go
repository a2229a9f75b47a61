package event

import "fmt"

// Event is one report from a persistent connection with addresses of type A
// and connections of type C. Which field is set depends on Kind:
// Addr for ObtainedAddress, Err for FailedToConnect, Conn for Connected.
type Event[A, C any] struct {
	Kind Kind
	Addr A
	Err  error
	Conn C
}

// String describes the event in words, with its address or error:
// "obtained address 10.0.0.7:4000", "failed to connect: connection refused".
func (e Event[A, C]) String() string {
	switch e.Kind {
	case ObtainedAddress:
		return fmt.Sprintf("%v %v", e.Kind, e.Addr)
	case FailedToConnect:
		return fmt.Sprintf("%v: %v", e.Kind, e.Err)
	default:
		return e.Kind.String()
	}
}
