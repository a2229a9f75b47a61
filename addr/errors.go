package addr

import "errors"

// Error is the error every resolver in this package returns. It names the
// resolver that failed and wraps the cause, so that errors.Is and errors.As
// reach through it: to [ErrNoAddresses], [ErrTooLarge] or [ErrMalformed], to
// a *net.DNSError from a DNS lookup, to an *fs.PathError from the file system,
// or to context.Canceled and context.DeadlineExceeded when the caller's
// context ended.
type Error struct {
	// Resolver says which resolver failed and what it was looking up, for
	// example "list", "dns srv _echo._tcp.example.test", "dns host
	// db.example.test" or "file /run/echo/servers.json".
	Resolver string
	// Err is the cause.
	Err error
}

// Error returns "addr: <Resolver>: <Err>".
func (e *Error) Error() string {
	msg := "<nil>"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	return "addr: " + e.Resolver + ": " + msg
}

// Unwrap returns the cause, e.Err.
func (e *Error) Unwrap() error { return e.Err }

var (
	// ErrNoAddresses means a resolver had nothing to offer: an empty list,
	// a catalog file holding an empty array (or null), or DNS records that
	// all say the service is not available (an SRV target of ".").
	ErrNoAddresses = errors.New("no addresses")

	// ErrTooLarge means a catalog file is larger than [MaxFileSize], or a
	// list given to [WriteFile] would encode to more than that.
	ErrTooLarge = errors.New("catalog too large")

	// ErrMalformed means a catalog file is not a JSON array of addresses.
	// The JSON decoder's own error is wrapped alongside it.
	ErrMalformed = errors.New("malformed catalog")
)
