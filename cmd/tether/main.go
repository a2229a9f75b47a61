// Command tether is tether's command-line tool, what aemp is to
// AnyEvent::MP: it keeps node profiles in a config file, runs nodes from
// them, and talks to a live network from the shell.
//
//	tether profile seed set nodeid seed binds 127.0.0.1:4040 seeds 127.0.0.1:4040 secret s3cr3t
//	tether run seed &
//	tether cal -p seed seed time
//
// Run `tether help` for the commands, `tether help COMMAND` for one, and
// `tether demo` for a tour that needs no set-up.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		stop(&interrupted{s.(syscall.Signal)})
		s = <-sigs // a second one: no more waiting
		os.Exit(128 + int(s.(syscall.Signal)))
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// interrupted is the cause of the context of a command stopped by a
// signal: the command stops at once and tether exits 128+N (130 after
// Ctrl-C, 143 after SIGTERM), as a shell reports a process the signal
// killed.
type interrupted struct{ sig syscall.Signal }

func (i *interrupted) Error() string { return "interrupted by " + i.sig.String() }

// env is what a command runs with.
type env struct {
	ctx            context.Context
	stdout, stderr io.Writer
	trace          io.Writer // set by tether trace: where frames go
}

// A command: its name, its help, and what it runs.
type command struct {
	name string
	help string // the whole help text, starting with its usage line
	run  func(e *env, fs *flag.FlagSet, argv []any) error
}

// commands in the order help lists them; see init.
var commands []*command

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	argv, err := splitArgv(args)
	if err != nil {
		fmt.Fprintf(stderr, "tether: %v\n", err)
		return exitUsage
	}
	return e.dispatch(argv)
}

// dispatch runs the command argv names, and reports its error.
func (e *env) dispatch(argv []any) int {
	if len(argv) == 0 {
		fmt.Fprint(e.stderr, usage)
		return exitUsage
	}
	name, _ := strArg(argv[0], "the command")
	c := lookup(name)
	switch {
	case name == "-h" || name == "-help" || name == "--help":
		c = lookup("help")
	case c == nil:
		fmt.Fprintf(e.stderr, "tether: unknown command %q; run tether help\n", name)
		return exitUsage
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := c.run(e, fs, argv[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, c.helpText(fs))
		return 0
	}
	var in *interrupted
	if errors.As(context.Cause(e.ctx), &in) {
		return 128 + int(in.sig)
	}
	code := exitCode(err)
	var se silentExit
	if err != nil && !errors.As(err, &se) {
		msg := strings.ReplaceAll(err.Error(), "\n", "; ")
		if code == exitUsage && !strings.Contains(msg, "tether ") {
			msg += " (see tether help " + c.name + ")"
		}
		fmt.Fprintf(e.stderr, "tether %s: %s\n", c.name, msg)
	}
	return code
}

// parse parses the flags at the start of argv into fs and returns the
// arguments after them. Flags are strings; the rest stay as they were.
func parse(fs *flag.FlagSet, argv []any) ([]any, error) {
	strs := make([]string, len(argv))
	for i, a := range argv {
		if s, err := strArg(a, ""); err == nil {
			strs[i] = s
		} else {
			strs[i] = "\x00" // not a flag: ends them
		}
	}
	if err := fs.Parse(strs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageErr(err)
	}
	return argv[len(argv)-fs.NArg():], nil
}

// helpText is a command's help, with its flags.
func (c *command) helpText(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString(c.help)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		b.WriteString("\nflags:\n")
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return b.String()
}

const usage = `usage: tether COMMAND [ARGUMENT…]

tether runs nodes from profiles and talks to a live network from the shell,
as aemp does for AnyEvent::MP. Profiles are kept in a JSON file:
$TETHER_CONFIG, or tether/config.json in your config directory.

profiles:
  profile NAME set KEY VALUE…   set keys of profile NAME (made if new)
  profile NAME add KEY VALUE…   add values to a list key
  profile NAME del KEY [VALUE…] delete a key (inherited again), or values
  profile NAME gensecret        set a new random secret
  profile NAME gencert          set a new key and self-signed certificate
  set, add, del, gensecret, gencert
                                the same, for the global section
  showprofile [NAME]            the profile resolved, and where each value
                                came from
  showconfig                    the config file
  delprofile NAME               delete a profile

nodes:
  run [PROFILE] [KEY VALUE…]    run a node in the foreground
  nodes                         list the network's nodes, from the registry
  snd PORT [ARG…]               send a message; wait until it has arrived
  cal PORT [ARG…]               send a message and a reply port; print the
                                reply
  mon PORT                      wait until a port dies; print the reason
  db family|keys|values FAMILY  read a family of the registry
  db set FAMILY KEY [VALUE]     set an entry while the command runs
  db mon FAMILY                 print a family, then its changes
  trace [COMMAND [ARG…]]        print the frames of the links, as JSON

  demo                          a tour on loopback that needs no set-up
  help [COMMAND]                this help, or a command's

Exit status: 0 done, 1 failed (the reason is printed), 2 usage or config
error, 130 after Ctrl-C.
`

var helpCommand = &command{
	name: "help",
	help: "usage: tether help [COMMAND]\n\nPrints the commands, or what COMMAND does.\n",
	run: func(e *env, fs *flag.FlagSet, argv []any) error {
		argv, err := parse(fs, argv)
		if err != nil {
			return err
		}
		if len(argv) == 0 {
			fmt.Fprint(e.stdout, usage)
			return nil
		}
		name, err := strArg(argv[0], "the command")
		if err != nil {
			return err
		}
		c := lookup(name)
		if c == nil {
			return usageErr(fmt.Errorf("no command %q", name))
		}
		// The command's own -h prints its help with its flags.
		if code := e.dispatch([]any{raw(name), raw("-h")}); code != 0 {
			return silentExit(code)
		}
		return nil
	},
}

func init() {
	commands = []*command{
		profileCommand, configCommand("set"), configCommand("add"), configCommand("del"),
		genCommand("gensecret"), genCommand("gencert"),
		showprofileCommand, showconfigCommand, delprofileCommand,
		runCommand, nodesCommand, sndCommand, calCommand, monCommand, dbCommand, traceCommand,
		demoCommand, helpCommand,
	}
}
