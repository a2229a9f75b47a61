package addr

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
)

// Host is a resolver for a host name with several addresses (A and AAAA
// records, or /etc/hosts entries): it answers "ip:port" strings, rotating
// through the addresses across calls.
//
// Fill in the fields and call Resolve; do not change them afterwards, and do
// not copy a Host after first use. A Host is safe for concurrent use.
//
// Each Resolve looks the name up afresh; nothing is cached between calls (the
// Go resolver does not cache either; a system resolver may). Host keeps a
// cursor into the addresses in the order the resolver returned them at the
// start of a cycle (for the Go resolver, the RFC 6724 preference order) and
// returns the next one on each call, so repeated calls try every address.
// When the cursor runs off the end, or a lookup returns a different set of
// addresses, the cycle starts again from the head of the latest answer. The
// order is deterministic: no random draws are involved.
//
// Resolve returns an [*Error] naming the resolver ("dns host
// db.example.test"). A failed lookup wraps the *net.DNSError, so errors.As
// finds it and its IsNotFound reports NXDOMAIN. If ctx is already done the
// error wraps ctx.Err(); if it ends during the lookup, Resolve returns at
// once with that error and the abandoned query runs out in the background
// (until the resolver's own timeout). An empty Port is an error.
type Host struct {
	// Name is the host to look up. An IP address is returned as it is.
	Name string
	// Port is joined to every address: a number such as "7001", or a
	// service name the dialer understands.
	Port string
	// Resolver does the lookups; nil means net.DefaultResolver.
	Resolver *net.Resolver

	mu    sync.Mutex
	cycle cycle[string]
}

var errNoPort = errors.New("no port")

// Resolve looks the name up and returns the next address of the current
// cycle, joined with Port by net.JoinHostPort (so IPv6 addresses come in
// brackets). See [Host] for the order of answers and the errors.
func (h *Host) Resolve(ctx context.Context) (string, error) {
	name := "dns host " + h.Name
	if err := ctxError(ctx, name); err != nil {
		return "", err
	}
	if h.Port == "" {
		return "", &Error{Resolver: name, Err: errNoPort}
	}
	ips, err := lookup(ctx, func(ctx context.Context) ([]string, error) {
		return netResolver(h.Resolver).LookupHost(ctx, h.Name)
	})
	if err != nil {
		return "", lookupError(ctx, name, err)
	}
	// The order as returned, duplicates dropped; the set in sorted order.
	var order []string
	for _, ip := range ips {
		if !slices.Contains(order, ip) {
			order = append(order, ip)
		}
	}
	if len(order) == 0 {
		return "", &Error{Resolver: name, Err: ErrNoAddresses}
	}
	set := slices.Sorted(slices.Values(order))

	h.mu.Lock()
	defer h.mu.Unlock()
	ip := h.cycle.advance(set, func() []string { return order })
	return net.JoinHostPort(ip, h.Port), nil
}
