package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/cmd/tether/internal/profile"
	"github.com/tetherkit/tether/node"
)

var runCommand = &command{
	name: "run",
	help: `usage: tether run [flags] [PROFILE] [KEY VALUE…]

Runs a node in the foreground, configured by PROFILE (without one, by the
global section alone), until Ctrl-C or SIGTERM: then it closes — what it
was sending goes out, and its peers' monitors fire — and exits 130 (143
after SIGTERM). It logs to standard error.

KEY VALUE pairs are defaults, which the profile overrides, as with
AnyEvent::MP's configure; with -force they override the profile. The node
starts the services its profile names, and other nodes may spawn them
(only those in spawnable, in secure mode). The services built in:

` + serviceHelp() + `
Example:
  tether run seed
  tether run -log json worker nodeid worker/%n binds '*:0'
`,
	run: runNode,
}

func runNode(e *env, fs *flag.FlagSet, argv []any) error {
	logFormat := fs.String("log", "text", "log format: text or json")
	verbose := fs.Bool("v", false, "log debug messages too")
	force := fs.Bool("force", false, "KEY VALUE pairs override the profile, rather than being its defaults")
	argv, err := parse(fs, argv)
	if err != nil {
		return err
	}
	if *logFormat != "text" && *logFormat != "json" {
		return usageErr(fmt.Errorf("-log %s: want text or json", *logFormat))
	}
	name := ""
	if len(argv)%2 == 1 {
		if name, err = strArg(argv[0], "the profile name"); err != nil {
			return err
		}
		argv = argv[1:]
	}
	args, err := keyValues(argv)
	if err != nil {
		return err
	}
	c, err := loadConfig()
	if err != nil {
		return err
	}
	r, err := c.Resolve(name, args, *force)
	if err != nil {
		return usageErr(err)
	}
	cfg, err := r.NodeConfig()
	if err != nil {
		return usageErr(err)
	}
	svcs := r.Services()
	for _, s := range svcs {
		if _, ok := builtins[s.Name]; !ok {
			return usageErr(fmt.Errorf("%s: services: no service %q (the services: %s)", r.From["services"], s.Name,
				strings.Join(slices.Sorted(maps.Keys(builtins)), ", ")))
		}
	}
	log := newLogger(e.stderr, *logFormat, *verbose)
	cfg.Logger = log
	n, err := node.Start(e.ctx, cfg)
	if err != nil {
		return err
	}
	for name, s := range builtins {
		n.Register(name, s.init)
	}
	log = log.With("node", n.ID())
	log.Info("node started", "addrs", strings.Join(n.Addrs(), ","), "seeds", strings.Join(cfg.Seeds, ","),
		"profile", name, "tls", cfg.TLS != nil)
	for _, s := range svcs {
		p := n.Spawn(n.ID(), s.Name, s.Args...)
		log.Info("service started", "service", s.Name, "port", p)
		n.Monitor(p, node.Func(func(reason []any) {
			log.Warn("service ended", "service", s.Name, "port", p, "reason", node.FormatReason(reason))
		}))
	}
	<-e.ctx.Done()
	log.Info("closing", "cause", context.Cause(e.ctx).Error())
	ctx, cancel := clock.WithTimeout(context.Background(), clock.Real(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		return fmt.Errorf("closing the node: %w", err)
	}
	log.Info("node closed")
	return nil
}

// keyValues parses KEY VALUE pairs of the command line.
func keyValues(argv []any) (profile.Section, error) {
	if len(argv)%2 != 0 {
		return nil, usageErr(fmt.Errorf("want KEY VALUE pairs"))
	}
	s := profile.Section{}
	for i := 0; i < len(argv); i += 2 {
		k, err := strArg(argv[i], "a key")
		if err != nil {
			return nil, err
		}
		v, err := cfgArg(argv[i+1])
		if err != nil {
			return nil, err
		}
		if s[k], err = profile.Parse(k, v, ""); err != nil {
			return nil, usageErr(err)
		}
	}
	return s, nil
}

func newLogger(w io.Writer, format string, verbose bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if verbose {
		opts.Level = slog.LevelDebug
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// A service built into tether run: an init function, and what it does.
type service struct {
	doc  string
	init node.InitFunc
}

var builtins = map[string]service{
	"echo": {
		doc: `a port that answers [ARG…, REPLY-PORT] with [ARG…], registered
in the registry family "echo" (["echo", FAMILY]: in FAMILY)`,
		init: echoService,
	},
}

func serviceHelp() string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(builtins)) {
		lines := strings.Split(builtins[name].doc, "\n")
		fmt.Fprintf(&b, "  %-6s %s\n", name, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "  %-6s %s\n", "", l)
		}
	}
	return b.String()
}

// echoService answers every message [ARG…, REPLY-PORT] with [ARG…] — what
// tether cal sends — and publishes the port in the registry.
func echoService(c *node.Context, args []any) error {
	family := "echo"
	if len(args) > 0 {
		f, ok := args[0].(string)
		if !ok {
			return fmt.Errorf("echo: the family must be a string, not %v", args[0])
		}
		family = f
	}
	if _, err := c.Node().DBReg(family, c.Self(), nil); err != nil {
		return err
	}
	c.SetDefault(func(c *node.Context, msg []any) error {
		if len(msg) == 0 {
			return nil
		}
		if reply, ok := msg[len(msg)-1].(string); ok {
			c.Send(reply, msg[:len(msg)-1]...)
		}
		return nil // nowhere to answer: nothing to do
	})
	return nil
}
