package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/cmd/tether/internal/profile"
	"github.com/tetherkit/tether/node"
)

// The shell commands join the network as an anonymous node: ID "anon/…",
// no binds (it reaches others over links it makes, and they answer over
// the same), the seeds, secret, cert and protocol settings of a profile.

const shellNote = `
The command joins the network as an anonymous node (ID anon/…, no binds)
through the seeds of profile -p (default $TETHER_PROFILE; without either,
the global section), with its secret or cert.
`

// shellFlags are the flags every shell command has.
type shellFlags struct {
	profile string
	timeout time.Duration
}

func (sf *shellFlags) add(fs *flag.FlagSet, timeoutDoc string) {
	fs.StringVar(&sf.profile, "p", os.Getenv("TETHER_PROFILE"), "`profile` whose seeds, secret and cert to use")
	fs.DurationVar(&sf.timeout, "t", 5*time.Second, timeoutDoc)
}

// shell is a joined anonymous node.
type shell struct {
	n     *node.Node
	seeds []string
}

// join starts the anonymous node and waits, at most sf.timeout, until it
// has registered with a seed.
func (e *env) join(sf *shellFlags) (*shell, error) {
	c, err := loadConfig()
	if err != nil {
		return nil, err
	}
	r, err := c.Resolve(sf.profile, profile.Section{"nodeid": "anon/", "binds": []string{}, "services": []any{}}, true)
	if err != nil {
		return nil, usageErr(err)
	}
	cfg, err := r.NodeConfig()
	if err != nil {
		return nil, usageErr(err)
	}
	if len(cfg.Seeds) == 0 {
		where := "the global section has"
		if sf.profile != "" {
			where = "profile " + sf.profile + " has"
		}
		return nil, usageErr(fmt.Errorf("%s no seeds, so the anonymous node cannot find the network: set some (tether set seeds HOST:PORT) or name a profile that has them (-p PROFILE)", where))
	}
	if e.trace != nil {
		cfg.Trace = newTracer(e.trace).frame
	}
	n, err := node.Start(e.ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &shell{n: n, seeds: cfg.Seeds}
	ctx, cancel := s.deadline(e.ctx, sf.timeout)
	defer cancel()
	// A registry question waits for a master: one of the seeds.
	if _, err := n.DBKeys(ctx, "'g"); err != nil {
		s.close()
		if e.ctx.Err() != nil {
			return nil, e.ctx.Err()
		}
		return nil, fmt.Errorf("no seed answered within %v (seeds: %s)", sf.timeout, strings.Join(cfg.Seeds, ", "))
	}
	return s, nil
}

func (s *shell) deadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return clock.WithTimeout(ctx, clock.Real(), d)
}

// close closes the node: what it sent goes out first.
func (s *shell) close() {
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 5*time.Second)
	defer cancel()
	s.n.Close(ctx)
}

// remoteErr is a failure at the other end: exit 1.
func remoteErr(format string, args ...any) error {
	return &exitError{exitFailure, fmt.Errorf(format, args...)}
}

var sndCommand = &command{
	name: "snd",
	help: `usage: tether snd [flags] PORT [ARG…]

Sends the message [ARG…] to PORT, and exits once it has reached PORT's node:
as aemp snd does, it then asks that node, over the same ordered link, to
relay a message back, and waits for it. It fails if PORT does not exist, or
died before the message was known to have arrived, or its node cannot be
reached within the timeout.

An ARG that starts with [, { or " is JSON; one that is a JSON number is a
number ('"5"' is the string); any other is a string. A command line that
is one JSON array is the whole command line: '["snd", "PORT", 1, [2]]'.
` + shellNote,
	run: func(e *env, fs *flag.FlagSet, argv []any) error {
		var sf shellFlags
		sf.add(fs, "how long to wait for the network and the confirmation")
		argv, err := parse(fs, argv)
		if err != nil {
			return err
		}
		port, msg, err := portAndMessage(argv)
		if err != nil {
			return err
		}
		s, err := e.join(&sf)
		if err != nil {
			return err
		}
		defer s.close()
		ctx, cancel := s.deadline(e.ctx, sf.timeout)
		defer cancel()

		type outcome struct {
			delivered bool
			reason    []any
		}
		res := make(chan outcome, 2)
		confirm := s.n.Port(func(*node.Context, []any) error { res <- outcome{delivered: true}; return nil })
		// In the confirming port's context, so that a death reported
		// before the confirmation reaches it first.
		s.n.Eval(confirm, func(c *node.Context) {
			c.Send(port, msg...)
			c.Monitor(port, node.Func(func(reason []any) { res <- outcome{reason: reason} }))
			c.Send(node.NodeOf(port), "snd", c.Self())
		})
		select {
		case o := <-res:
			if !o.delivered {
				return remoteErr("%s: %s", port, describeDeath(o.reason))
			}
			return nil
		case <-ctx.Done():
			if e.ctx.Err() != nil {
				return nil
			}
			return remoteErr("no confirmation from %s within %v", node.NodeOf(port), sf.timeout)
		}
	},
}

// describeDeath says why a port is gone, for an error.
func describeDeath(reason []any) string {
	if len(reason) > 0 && reason[0] == node.ReasonNoSuchPort {
		return "no such port"
	}
	return "died: " + node.FormatReason(reason)
}

func portAndMessage(argv []any) (string, []any, error) {
	if len(argv) == 0 {
		return "", nil, usageErr(errors.New("want a PORT"))
	}
	port, err := strArg(argv[0], "the port")
	if err != nil {
		return "", nil, err
	}
	if port == "" {
		return "", nil, usageErr(errors.New("the port is empty"))
	}
	msg, err := msgArgs(argv[1:])
	return port, msg, err
}

var calCommand = &command{
	name: "cal",
	help: `usage: tether cal [flags] PORT [ARG…]

Sends [ARG…, REPLY-PORT] to PORT and prints the first message that reaches
REPLY-PORT, as a JSON array on one line. It fails if PORT dies first (or
does not exist, or its node cannot be reached), with the reason, or if no
reply comes within the timeout. A node's own port is its ID: tether cal
NODE time asks a node for its clock. Arguments are as for tether snd.
` + shellNote,
	run: func(e *env, fs *flag.FlagSet, argv []any) error {
		var sf shellFlags
		sf.add(fs, "how long to wait for the network and the reply")
		argv, err := parse(fs, argv)
		if err != nil {
			return err
		}
		port, msg, err := portAndMessage(argv)
		if err != nil {
			return err
		}
		s, err := e.join(&sf)
		if err != nil {
			return err
		}
		defer s.close()
		ctx, cancel := s.deadline(e.ctx, sf.timeout)
		defer cancel()
		reply, err := s.n.Call(ctx, port, msg...)
		var ke *node.KilledError
		switch {
		case errors.As(err, &ke):
			return remoteErr("%s: %s", port, describeDeath(ke.Reason))
		case e.ctx.Err() != nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			return remoteErr("no reply from %s within %v", port, sf.timeout)
		case err != nil:
			return err
		}
		if reply == nil {
			reply = []any{}
		}
		fmt.Fprintln(e.stdout, jsonText(reply))
		return nil
	},
}

var monCommand = &command{
	name: "mon",
	help: `usage: tether mon [flags] PORT

Monitors PORT and waits until it dies, then prints the reason as a JSON
array ([] for a normal death) and exits 0 if it was normal, 1 if not. A
node ID as PORT waits until the link to that node goes down. A port that
does not exist ends it at once (["no_such_port", …]).
` + shellNote,
	run: func(e *env, fs *flag.FlagSet, argv []any) error {
		var sf shellFlags
		sf.add(fs, "how long to wait for the network (not for the death)")
		argv, err := parse(fs, argv)
		if err != nil {
			return err
		}
		if len(argv) != 1 {
			return usageErr(errors.New("want one PORT"))
		}
		port, err := strArg(argv[0], "the port")
		if err != nil {
			return err
		}
		s, err := e.join(&sf)
		if err != nil {
			return err
		}
		defer s.close()
		died := make(chan []any, 1)
		s.n.Monitor(port, node.Func(func(reason []any) { died <- reason }))
		select {
		case reason := <-died:
			if reason == nil {
				reason = []any{}
			}
			fmt.Fprintln(e.stdout, jsonText(reason))
			if !node.IsNormal(reason) {
				return silentExit(exitFailure)
			}
			return nil
		case <-e.ctx.Done():
			return nil
		}
	},
}

var nodesCommand = &command{
	name: "nodes",
	help: `usage: tether nodes [flags]

Lists the nodes of the network as the registry knows them: each node's ID,
the addresses it listens on ("-" for none: it only connects out) and
"global" for the global nodes, which hold the registry.
` + shellNote,
	run: func(e *env, fs *flag.FlagSet, argv []any) error {
		var sf shellFlags
		sf.add(fs, "how long to wait for the network")
		argv, err := parse(fs, argv)
		if err != nil {
			return err
		}
		if len(argv) != 0 {
			return usageErr(errors.New("takes no arguments"))
		}
		s, err := e.join(&sf)
		if err != nil {
			return err
		}
		defer s.close()
		ctx, cancel := s.deadline(e.ctx, sf.timeout)
		defer cancel()
		listen, err := s.n.DBFamily(ctx, "'l")
		if err != nil {
			return remoteErr("reading the registry: %v", err)
		}
		globals, err := s.n.DBKeys(ctx, "'g")
		if err != nil {
			return remoteErr("reading the registry: %v", err)
		}
		width := 4
		for id := range listen {
			if id != s.n.ID() {
				width = max(width, len(id))
			}
		}
		for _, id := range slices.Sorted(maps.Keys(listen)) {
			if id == s.n.ID() {
				continue
			}
			var addrs []string
			if l, ok := listen[id].([]any); ok {
				for _, a := range l {
					addrs = append(addrs, fmt.Sprint(toJSON(a)))
				}
			}
			as := strings.Join(addrs, ",")
			if as == "" {
				as = "-"
			}
			line := fmt.Sprintf("%-*s  %s", width, id, as)
			if slices.Contains(globals, id) {
				line += "  global"
			}
			fmt.Fprintln(e.stdout, line)
		}
		return nil
	},
}

var traceCommand = &command{
	name: "trace",
	help: `usage: tether trace [flags]
       tether trace COMMAND [ARG…]

Prints every frame the anonymous node's links send and receive, one JSON
object a line, as PERL_ANYEVENT_MP_TRACE shows AnyEvent::MP's:
{"peer":"seed","dir":"out","frame":["","g_slave",…]} — "in" for frames
received; [] is a heartbeat. Alone, it joins the network and prints until
Ctrl-C; with a COMMAND (nodes, snd, cal, mon, db), it runs the command and
prints its node's frames on standard error (its flags go after it).
` + shellNote,
	run: func(e *env, fs *flag.FlagSet, argv []any) error {
		var sf shellFlags
		sf.add(fs, "how long to wait for the network")
		argv, err := parse(fs, argv)
		if err != nil {
			return err
		}
		if len(argv) > 0 {
			name, err := strArg(argv[0], "the command")
			if err != nil {
				return err
			}
			if fs.NFlag() > 0 {
				return usageErr(fmt.Errorf("with a command, the flags go after it: tether trace %s -p PROFILE …", name))
			}
			if !slices.Contains([]string{"nodes", "snd", "cal", "mon", "db"}, name) {
				return usageErr(fmt.Errorf("%q is not a command that joins the network (nodes, snd, cal, mon, db)", name))
			}
			sub := *e
			sub.trace = e.stderr
			if code := sub.dispatch(argv); code != 0 {
				return silentExit(code)
			}
			return nil
		}
		e.trace = e.stdout
		s, err := e.join(&sf)
		if err != nil {
			return err
		}
		defer s.close()
		<-e.ctx.Done()
		return nil
	},
}

// tracer writes frames as JSON lines.
type tracer struct {
	mu sync.Mutex
	w  io.Writer
}

func newTracer(w io.Writer) *tracer { return &tracer{w: w} }

type traceLine struct {
	Peer  string `json:"peer"`
	Dir   string `json:"dir"`
	Frame any    `json:"frame"`
}

func (t *tracer) frame(peer string, out bool, frame []any) {
	dir := "in"
	if out {
		dir = "out"
	}
	if frame == nil {
		frame = []any{}
	}
	line := jsonText(traceLine{Peer: peer, Dir: dir, Frame: toJSON(frame)})
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintln(t.w, line)
}
