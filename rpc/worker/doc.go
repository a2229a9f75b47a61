// Package worker runs work in a child OS process and talks to it over
// pipes, after Tezos' Process_worker: a crash, a leak or a blocking C call
// in the child cannot take the parent down, and the parent can always stop
// the child.
//
// # Model
//
// The parent starts a child with Start and gets a *Worker: the running
// process and the parent's end of a pipe to it. The child is either this
// same binary run again to execute a function registered under a name, or
// any binary that speaks the protocol on its stdin and stdout:
//
//	func init() {
//		worker.Register("resize", func(ctx context.Context, p *worker.Pipe) error {
//			return worker.Serve(ctx, p, rpc.Config{Handlers: handlers})
//		})
//	}
//
//	func main() {
//		worker.Main() // in a worker: runs "resize" and exits; otherwise returns at once
//		…
//		w, err := worker.Start(ctx, worker.Config{Func: "resize"})
//		conn, err := rpc.NewConn(ctx, w, rpc.Config{}) // conn owns w now
//		out, err := Resize.Call(ctx, conn, in)
//
// Main must come first in main, and in TestMain of tests that start Func
// workers: in a worker it never returns. Start sets the environment
// variable TETHER_WORKER=NAME, which is how Main knows.
//
// # The pipe
//
// A *Pipe is a net.Conn over two OS pipes, with deadlines, so package rpc
// runs over it unchanged: calls in both directions, streams, heartbeats
// and limits. For simple cases it also carries raw messages
// (ReadMessage, WriteMessage): a 4-byte big-endian length, then the bytes,
// bounded by a maximum size. A *Worker embeds the parent's *Pipe, so it is
// the net.Conn to give rpc.NewConn; whoever closes it stops the child.
//
// # Ending
//
// Worker.Close closes the child's stdin (a worker reading it sees io.EOF),
// sends SIGTERM (Main turns it into the cancellation of the function's
// context), and sends SIGKILL if the child is still there after
// Config.Grace, timed on the injected clock; it keeps the end that reads
// the child's stdout open until the child has gone, so that its last writes
// succeed. Done is closed once the child has exited and been
// reaped, for whatever reason, so a Worker is a persistent.Connection. Err
// then says how it ended: an *ExitError with the exit status or signal and
// the end of the child's stderr, as in "worker resize (pid 4242) exited
// with status 3: out of memory". The same error ends reads and writes on
// the pipe once the child is gone, so the rpc calls that were under way
// fail with it as their reason, and a failed handshake shows it.
//
// On Linux a child also dies with its parent, whatever kills the parent:
// it is started with Pdeathsig set to SIGKILL. The kernel sends that signal
// when the OS thread that forked the child exits (go.dev/issue/27505), and
// a Go thread exits whenever a goroutine ends locked to it, so children are
// forked from a goroutine of this package that keeps its thread locked, and
// alive, while any of them runs. Elsewhere, a worker that reads its pipe
// finds out when the parent's end closes.
//
// # Keeping a worker up
//
// Since "connect" can mean "start a child", a persistent connection keeps a
// worker alive: NewClient returns an *rpc.Client whose connections are
// workers. A crashed child is reported Disconnected and replaced after the
// retry delay, with the usual events. A bare Worker can also be kept up
// with persistent.New and Start as the Connect function.
package worker
