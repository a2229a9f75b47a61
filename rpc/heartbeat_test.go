package rpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tetherkit/tether/clock"
	"github.com/tetherkit/tether/rpc"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// tick waits until fc has n timers (the connection has armed its next
// heartbeat), then moves it d.
func tick(t *testing.T, fc *clock.Fake, n int, d time.Duration) {
	t.Helper()
	if err := fc.BlockUntilContext(patient(t), n); err != nil {
		t.Fatalf("no timer armed: %v", err)
	}
	fc.Advance(d)
}

// A peer that stays silent is given up on after the timeout, counted in
// heartbeats sent, and the reason says for how long nothing was heard.
func TestHeartbeatTimeoutWhenThePeerIsSilent(t *testing.T) {
	// The server sends nothing, not even heartbeats.
	addr, _ := serve(t, rpc.Config{Handlers: echoHandlers(nil), HeartbeatInterval: -1})
	fc := clock.NewFake(t0)
	c := dial(t, addr, rpc.Config{Clock: fc, HeartbeatInterval: 10 * time.Second, HeartbeatTimeout: 30 * time.Second})

	tick(t, fc, 1, 10*time.Second)
	tick(t, fc, 1, 10*time.Second)
	if c.IsClosed() {
		t.Fatal("closed after 20 s of silence, before the timeout")
	}
	tick(t, fc, 1, 10*time.Second)
	select {
	case <-c.Done():
	case <-patient(t).Done():
		t.Fatal("not closed after 30 s of silence")
	}
	want := "heartbeat timeout: nothing heard from the peer for 30s (3 heartbeats sent)"
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Err() = %v, want %q", err, want)
	}
}

// A local stall — this side's clock jumping 50 s at once, as after a long
// pause of the process — does not close a connection whose peer kept
// talking: silence is counted in heartbeats sent, not in elapsed time.
func TestHeartbeatSurvivesALocalStall(t *testing.T) {
	fcServer := clock.NewFake(t0)
	addr, _ := serve(t, rpc.Config{Handlers: echoHandlers(nil), Clock: fcServer,
		HeartbeatInterval: 10 * time.Second, HeartbeatTimeout: 30 * time.Second})
	fc := clock.NewFake(t0)
	c := dial(t, addr, rpc.Config{Clock: fc, HeartbeatInterval: 10 * time.Second, HeartbeatTimeout: 30 * time.Second})

	// The peer talks (a call and its reply count as much as heartbeats).
	if _, err := echo.Call(patient(t), c, Echo{N: 1}); err != nil {
		t.Fatal(err)
	}
	tick(t, fc, 1, 50*time.Second) // the stall: one jump past the timeout
	tick(t, fc, 1, 10*time.Second) // then two quiet heartbeats more
	tick(t, fc, 1, 10*time.Second)
	if err := fc.BlockUntilContext(patient(t), 1); err != nil { // the next heartbeat is armed: still running
		t.Fatal(err)
	}
	if c.IsClosed() {
		t.Fatalf("closed after a local stall: %v", c.Err())
	}
	if _, err := echo.Call(patient(t), c, Echo{N: 2}); err != nil {
		t.Fatalf("call after the stall = %v", err)
	}
}

// Heartbeats keep an idle connection alive: each side hears the other's.
func TestHeartbeatsKeepAnIdleConnection(t *testing.T) {
	fc := clock.NewFake(t0)
	cfg := rpc.Config{Clock: fc, HeartbeatInterval: 10 * time.Second, HeartbeatTimeout: 30 * time.Second}
	srvCfg := cfg
	srvCfg.Handlers = echoHandlers(nil)
	addr, srv := serve(t, srvCfg)
	c := dial(t, addr, cfg)
	// Both connections share the fake clock: two heartbeat timers.
	var sc *rpc.Conn
	for sc == nil {
		if err := fc.BlockUntilContext(patient(t), 2); err != nil {
			t.Fatal(err)
		}
		if cs := srv.Conns(); len(cs) == 1 {
			sc = cs[0]
		}
	}
	for range 10 { // 100 s idle, well past the timeout
		tick(t, fc, 2, 10*time.Second)
		// Each heartbeat must arrive before the next tick judges silence:
		// a call round trip flushes both directions behind it.
		if _, err := echo.Call(context.Background(), c, Echo{}); err != nil {
			t.Fatal(err)
		}
	}
	if c.IsClosed() || sc.IsClosed() {
		t.Fatalf("idle connection closed: %v / %v", c.Err(), sc.Err())
	}
}
