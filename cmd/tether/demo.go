package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/event"
	"github.com/tetherkit/tether/internal/echo"
	"github.com/tetherkit/tether/persistent"
)

var demoCommand = &command{
	name: "demo",
	help: `usage: tether demo

A tour of tether on loopback that needs no set-up (about 16 s; Ctrl-C
stops it at once, and it exits 130):

  act 1  a persistent connection to two echo servers, which are killed and
         restarted on a schedule: every event of the connection as it fails
         over between them and backs off while both are down, then a
         summary of the connections, the downtime and the echoes
  act 2  two nodes: alice spawns a counter on bob, sends it numbers, asks
         for the total with Call and monitors it; then bob shuts down:
         alice's monitor sees the counter's normal death, then the link go
  act 3  a seed and two nodes that know only its address: carol registers
         a service in the registry, dave sees it appear, calls it (reaching
         carol by her ID alone), and sees it go when the port dies and
         when carol's node shuts down
`,
	run: func(e *env, fs *flag.FlagSet, argv []any) error {
		argv, err := parse(fs, argv)
		if err != nil {
			return err
		}
		if len(argv) > 0 {
			return usageErr(errors.New("takes no arguments"))
		}
		return runDemo(e.ctx, e.stdout, 1)
	},
}

// A step of the demo's schedule: at this time, stop or start a server.
type step struct {
	at     time.Duration
	server string // "a" or "b"
	up     bool
}

var schedule = []step{
	{2 * time.Second, "a", false}, // the connected server dies: fail over to b
	{4 * time.Second, "b", false}, // both down: retries back off
	{6 * time.Second, "a", true},  // a returns: reconnect, within one retry delay (≤ 1.04 s)
	{7500 * time.Millisecond, "b", true},
	{8500 * time.Millisecond, "a", false}, // fail over to b again
}

const demoLength = 10 * time.Second

// runDemo plays the demo, printing to out: first a persistent connection
// riding out server crashes, then two nodes (runNodeDemo), then nodes that
// find each other and a service through a seed (runRegistryDemo). scale
// stretches every time in it (1 is the real demo, about 16 s); ctx ending
// stops it at once.
func runDemo(ctx context.Context, out io.Writer, scale float64) error {
	scaled := func(d time.Duration) time.Duration { return time.Duration(float64(d) * scale) }
	servers := map[string]*echo.Server{}
	for _, name := range []string{"a", "b"} {
		s, err := echo.Listen("127.0.0.1:0")
		if err != nil {
			return err
		}
		defer s.Stop()
		servers[name] = s
	}
	d := newDemoLog(out, clock.Real(), map[string]string{servers["a"].Addr(): "a", servers["b"].Addr(): "b"})

	d.intro(servers["a"].Addr(), servers["b"].Addr())
	pc, err := persistent.New(persistent.Config[string, *echo.Conn]{
		ServerName: "echo",
		Resolver:   addr.NewList(servers["a"].Addr(), servers["b"].Addr()),
		Connect:    echo.Dial,
		OnEvent:    d.event,
		RetryDelay: persistent.Exponential(&backoff.ExponentialBackOff{
			InitialInterval: scaled(100 * time.Millisecond),
			Multiplier:      2,
			MaxInterval:     scaled(800 * time.Millisecond),
		}),
	})
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	pingCtx, stopPinging := context.WithCancel(ctx)
	wg.Go(func() { d.ping(pingCtx, pc, scaled(250*time.Millisecond)) })

	interrupted := false
	var elapsed time.Duration
	for _, s := range append(schedule, step{at: demoLength}) {
		if err := clock.Sleep(ctx, d.clk, scaled(s.at)-elapsed); err != nil {
			interrupted = true
			break
		}
		elapsed = scaled(s.at)
		if s.server == "" {
			d.note("", "■ time is up: closing the persistent connection")
			break
		}
		srv := servers[s.server]
		if s.up {
			if err := srv.Restart(); err != nil {
				d.note(s.server, "could not restart: "+err.Error())
				continue
			}
			d.note(s.server, "▲ server "+s.server+" started")
		} else {
			d.note(s.server, "▼ server "+s.server+" killed")
			srv.Stop()
		}
	}
	stopPinging()
	wg.Wait()
	closeCtx, cancel := clock.WithTimeout(context.Background(), d.clk, 5*time.Second)
	defer cancel()
	if err := pc.Close(closeCtx); err != nil {
		return fmt.Errorf("closing the persistent connection: %w", err)
	}
	d.summary(interrupted)
	if interrupted {
		return nil
	}
	if err := runNodeDemo(ctx, out, scale); err != nil || ctx.Err() != nil {
		return err
	}
	return runRegistryDemo(ctx, out, scale)
}

// demoLog prints the demo's timeline and keeps its statistics.
type demoLog struct {
	timeline                   // its mu guards the fields below too
	names    map[string]string // address → server name

	current     string // server of the current connection, "" if none
	trying      string // server of the latest obtained address
	counts      map[event.Kind]int
	perServer   map[string]int
	downSince   time.Time // when the last connection was lost; zero while connected or before the first
	downtime    time.Duration
	longestDown time.Duration
	echoes      int
	echoFails   int
	echoed      bool // the current connection's first echo was printed
}

func newDemoLog(out io.Writer, clk clock.Clock, names map[string]string) *demoLog {
	return &demoLog{
		timeline: timeline{out: out, clk: clk, start: clk.Now()},
		names:    names,
		counts:   map[event.Kind]int{}, perServer: map[string]int{},
	}
}

func (d *demoLog) intro(a, b string) {
	fmt.Fprintf(d.out, "tether demo, act 1: a persistent connection to two echo servers,\n")
	fmt.Fprintf(d.out, "a (%s) and b (%s), which are killed and restarted\n", a, b)
	fmt.Fprintf(d.out, "on a schedule: the connection fails over between them.\n")
	fmt.Fprintf(d.out, "Resolver: addr.List (a, b, a, …). Retry delay: 100 ms doubling to 800 ms,\n")
	fmt.Fprintf(d.out, "±30%% jitter.\n\n")
	d.header("server")
}

// event is the persistent connection's event handler.
func (d *demoLog) event(e persistent.Event[string, *echo.Conn]) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.counts[e.Kind]++
	switch e.Kind {
	case event.AttemptingToConnect:
		d.line("", "attempting to connect")
	case event.ObtainedAddress:
		d.trying = d.names[e.Addr]
		d.line(d.trying, "obtained address "+e.Addr)
	case event.FailedToConnect:
		d.line(d.trying, "failed to connect: "+shortError(e.Err))
	case event.Connected:
		d.current = d.names[e.Conn.RemoteAddr().String()]
		d.perServer[d.current]++
		d.echoed = false
		if !d.downSince.IsZero() {
			out := d.clk.Since(d.downSince)
			d.downtime += out
			d.longestDown = max(d.longestDown, out)
			d.downSince = time.Time{}
			d.line(d.current, fmt.Sprintf("connected (after %s without a connection)", round(out)))
		} else {
			d.line(d.current, "connected")
		}
	case event.Disconnected:
		d.line(d.current, "disconnected")
		d.current = ""
		d.downSince = d.clk.Now()
	}
}

// ping sends an echo through the current connection every interval.
func (d *demoLog) ping(ctx context.Context, pc *persistent.Conn[string, *echo.Conn], interval time.Duration) {
	for n := 1; clock.Sleep(ctx, d.clk, interval) == nil; n++ {
		c, ok := pc.CurrentConnection()
		if !ok {
			continue
		}
		start := d.clk.Now()
		pctx, cancel := clock.WithTimeout(ctx, d.clk, time.Second)
		err := c.Ping(pctx, fmt.Sprintf("ping %d", n))
		cancel()
		rtt := d.clk.Since(start)
		d.mu.Lock()
		if err != nil {
			d.echoFails++
		} else {
			d.echoes++
			if !d.echoed {
				d.echoed = true
				d.line(d.names[c.RemoteAddr().String()], fmt.Sprintf("echo ok (%s round trip); pinging every %s", rtt.Round(time.Microsecond), interval))
			}
		}
		d.mu.Unlock()
	}
}

func (d *demoLog) summary(interrupted bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.downSince.IsZero() {
		d.downtime += d.clk.Since(d.downSince)
	}
	fmt.Fprintln(d.out)
	if interrupted {
		fmt.Fprintln(d.out, "Interrupted.")
	}
	fmt.Fprintf(d.out, "Summary after %s:\n", round(d.clk.Since(d.start)))
	fmt.Fprintf(d.out, "  connections   %d (a: %d, b: %d)\n", d.counts[event.Connected], d.perServer["a"], d.perServer["b"])
	fmt.Fprintf(d.out, "  events        %d attempts, %d addresses, %d failed, %d connected, %d lost\n",
		d.counts[event.AttemptingToConnect], d.counts[event.ObtainedAddress], d.counts[event.FailedToConnect],
		d.counts[event.Connected], d.counts[event.Disconnected])
	fmt.Fprintf(d.out, "  downtime      %s in all, longest outage %s\n", round(d.downtime), round(d.longestDown))
	fmt.Fprintf(d.out, "  echoes        %d ok, %d lost with a dying connection\n", d.echoes, d.echoFails)
}

// shortError keeps the part of a dial error a reader cares about.
func shortError(err error) string {
	s := err.Error()
	var se interface{ Unwrap() error }
	for errors.As(err, &se) && se.Unwrap() != nil {
		err = se.Unwrap()
	}
	if inner := err.Error(); inner != s && inner != "" {
		return inner
	}
	return s
}

// round rounds d for reading: to the microsecond below a millisecond, else
// to the millisecond.
func round(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
