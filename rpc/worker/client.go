package worker

import (
	"context"
	"errors"
	"net"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/rpc"
)

// NewClient returns an rpc client that keeps a worker running: a
// persistent connection (package persistent) whose "connect" starts the
// child cfg describes and runs the rpc handshake over its pipes. When the
// child exits (it crashed, was killed, or its connection failed and it was
// stopped), the client reports Disconnected and, after the retry delay,
// starts another, with the usual events: a child that fails to start or
// to shake hands is a FailedToConnect whose error says how it exited.
// Calls made on the client use the current child, waiting for one within
// their context; a call under way when the child dies fails with
// rpc.ErrClosed and a reason that includes the child's exit status and
// stderr tail.
//
// cc configures the client as for rpc.NewClient (its Conn field, each
// connection), except that NewClient sets Resolver and Dial, which must be
// nil; ServerName defaults to "worker NAME". cfg.Clock and cfg.Logger
// default to cc's. Closing the client closes the current connection, which
// stops its child (see Worker.Close).
func NewClient(cfg Config, cc rpc.ClientConfig) (*rpc.Client, error) {
	if cc.Resolver != nil || cc.Dial != nil {
		return nil, errors.New("worker: invalid config: NewClient sets Resolver and Dial itself")
	}
	if cfg.Clock == nil {
		cfg.Clock = cc.Clock
	}
	if cfg.Logger == nil {
		cfg.Logger = cc.Logger
	}
	check := cfg // Start validates cfg itself, each time
	if err := check.validate(); err != nil {
		return nil, err
	}
	name := cfg.name()
	if cc.ServerName == "" {
		cc.ServerName = "worker " + name
	}
	cc.Resolver = addr.Static(name)
	cc.Dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
		w, err := Start(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return w, nil
	}
	return rpc.NewClient(cc)
}
