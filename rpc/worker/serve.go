package worker

import (
	"context"
	"errors"

	"github.com/tetherkit/tether/rpc"
)

// Serve runs the rpc handshake over p (in a worker, the pipe its function
// gets) and serves cfg.Handlers until the parent closes the connection. It
// returns nil when the parent closed it or its end of the pipe (as
// Worker.Close does); ctx.Err() when ctx ends first, after closing the
// connection gracefully within cfg.HandshakeTimeout; the handshake's error
// if that fails; and the connection's error if it fails otherwise (a
// protocol error, a heartbeat timeout).
//
// To call the parent's methods as well, run rpc.NewConn(ctx, p, cfg) in
// the worker's function instead and keep the connection.
func Serve(ctx context.Context, p *Pipe, cfg rpc.Config) error {
	conn, err := rpc.NewConn(ctx, p, cfg)
	if err != nil {
		return err
	}
	select {
	case <-conn.Done():
	case <-ctx.Done():
		conn.Close()
		return ctx.Err()
	}
	var ce *rpc.ClosedError
	if err := conn.Err(); err != nil && !(errors.As(err, &ce) && ce.Remote) && !p.gone.Load() {
		return err
	}
	return nil
}
