// Command tether is tether's command-line tool.
//
//	tether demo    watch a persistent connection ride out server crashes, then two
//	               nodes exchange messages until one shuts down, then nodes find
//	               each other and a service through a seed (about 16 s)
//	tether help    show this help
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: tether <command> [arguments]

commands:
  demo    start two echo servers on loopback and a persistent connection to them,
          kill and restart the servers on a schedule, and print every event live;
          then start two nodes, exchange messages between them, and shut one
          down while the other monitors it; then start a seed and two nodes that
          know only its address, and watch a service appear in the registry,
          answer a call and vanish (about 16 s; Ctrl-C stops it at once)
  help    show this help
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "demo":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "tether demo takes no arguments\n")
			return 2
		}
		if err := runDemo(ctx, stdout, 1); err != nil {
			fmt.Fprintf(stderr, "tether demo: %v\n", err)
			return 1
		}
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tether: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
