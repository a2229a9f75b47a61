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

// ConnID names a connection: the host that dialled it and the number of
// that dial on that host (1, 2, …, counted across the host's restarts). It
// does not depend on what other hosts do at the same time, so two hosts
// that dial at one instant get the same IDs on every run.
type ConnID struct {
	Host string
	N    int
}

// String returns "host#n", or "" for the zero ConnID.
func (id ConnID) String() string {
	if id.N == 0 {
		return ""
	}
	return id.Host + "#" + strconv.Itoa(id.N)
}

// IsZero reports whether id names no connection.
func (id ConnID) IsZero() bool { return id.N == 0 }

func (id ConnID) compare(o ConnID) int {
	if id.Host != o.Host {
		if id.Host < o.Host {
			return -1
		}
		return 1
	}
	return id.N - o.N
}
