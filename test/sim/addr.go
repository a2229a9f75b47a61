package sim

import (
	"net"
	"strconv"
)

// Addr is the address of an endpoint on a simulated network: a host name and
// a port. Its Network is "sim" and its String is "host:port".
type Addr struct {
	Host string
	Port int
}

// Network returns "sim".
func (a Addr) Network() string { return "sim" }

// String returns "host:port".
func (a Addr) String() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// parseAddr splits "host:port" or ":port" into its parts. An empty host is
// returned as "" for the caller to interpret.
func parseAddr(address string) (host string, port int, err error) {
	host, ps, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	port, err = strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, &net.AddrError{Err: "invalid port", Addr: address}
	}
	return host, port, nil
}
