package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// tcpMesh is the baseline: the same nodes as a plain Go TCP program would
// write them. One connection per pair of nodes, frames of a 4-byte length
// and a 40-byte body, one reading goroutine per connection end, and writes
// through a bufio.Writer (4 KiB) under a mutex: buffered for a burst
// (flushed when full and at its end), written at once otherwise. Like
// tether's nodes, each node beats all its connections together every
// tcpBeat, so that the idle CPU of the two sides compares the cost of the
// same heartbeats.
type tcpMesh struct {
	first   int
	nodes   []*tcpNode
	counted func()
	done    chan struct{} // closed by close: the beats stop
}

// tcpBeat is tether's default heartbeat interval (node.Config.Heartbeat).
const tcpBeat = 10 * time.Second

type tcpNode struct {
	index   int
	ln      net.Listener
	pong    chan struct{}
	mu      sync.Mutex
	conns   []*tcpConn // by node index
	have    int
	changed chan struct{} // a connection was added
}

type tcpConn struct {
	c  net.Conn
	mu sync.Mutex
	w  *bufio.Writer
}

const (
	bodyLen   = 40
	frameLen  = 4 + bodyLen
	kindBench = 'B'
	kindPing  = 'P'
	kindPong  = 'Q'
	kindBeat  = 'H'
)

func (m *tcpMesh) start(first, count, n int, counted func()) ([]endpoint, error) {
	m.first, m.counted = first, counted
	m.done = make(chan struct{})
	eps := make([]endpoint, count)
	for li := range count {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		nd := &tcpNode{index: first + li, ln: ln, pong: make(chan struct{}, 1),
			conns: make([]*tcpConn, n), changed: make(chan struct{}, 1)}
		m.nodes = append(m.nodes, nd)
		go m.accept(nd)
		go m.beat(nd)
		eps[li] = endpoint{Addr: ln.Addr().String()}
	}
	return eps, nil
}

// accept takes the connections of the nodes with lower indexes: each
// starts with the dialer's index.
func (m *tcpMesh) accept(nd *tcpNode) {
	for {
		c, err := nd.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			var hello [4]byte
			if _, err := io.ReadFull(c, hello[:]); err != nil {
				c.Close()
				return
			}
			m.add(nd, int(binary.BigEndian.Uint32(hello[:])), c)
		}()
	}
}

// add registers c as nd's connection to node peer and reads it.
func (m *tcpMesh) add(nd *tcpNode, peer int, c net.Conn) {
	tc := &tcpConn{c: c, w: bufio.NewWriter(c)}
	nd.mu.Lock()
	nd.conns[peer] = tc
	nd.have++
	nd.mu.Unlock()
	select {
	case nd.changed <- struct{}{}:
	default:
	}
	go m.read(nd, tc)
}

// read reads one connection's frames: counts bench messages, answers pings,
// hands pongs to the pinger.
func (m *tcpMesh) read(nd *tcpNode, tc *tcpConn) {
	r := bufio.NewReader(tc.c)
	var f [frameLen]byte
	for {
		if _, err := io.ReadFull(r, f[:]); err != nil {
			return
		}
		if binary.BigEndian.Uint32(f[:4]) != bodyLen {
			tc.c.Close()
			return
		}
		switch f[4] {
		case kindBench:
			m.counted()
		case kindPing:
			f[4] = kindPong
			tc.write(f[:], true)
		case kindPong:
			nd.pong <- struct{}{}
		}
	}
}

// beat writes a beat frame on each of nd's connections every tcpBeat,
// as tether's heartbeat sweep does (without failing the silent ones).
func (m *tcpMesh) beat(nd *tcpNode) {
	t := clk.NewTicker(tcpBeat)
	defer t.Stop()
	f := frame(kindBeat, 0)
	for {
		select {
		case <-m.done:
			return
		case <-t.Chan():
		}
		nd.mu.Lock()
		conns := slices.Clone(nd.conns)
		nd.mu.Unlock()
		for _, tc := range conns {
			if tc != nil {
				tc.write(f[:], true)
			}
		}
	}
}

// write writes one frame; now: flush it at once.
func (tc *tcpConn) write(f []byte, now bool) {
	tc.mu.Lock()
	tc.w.Write(f)
	if now {
		tc.w.Flush()
	}
	tc.mu.Unlock()
}

func frame(kind byte, seq int64) [frameLen]byte {
	var f [frameLen]byte
	binary.BigEndian.PutUint32(f[:4], bodyLen)
	f[4] = kind
	binary.BigEndian.PutUint64(f[5:], uint64(seq))
	copy(f[13:], "abcdefghijklmnop")
	return f
}

func (m *tcpMesh) link(ctx context.Context, all []endpoint, parallel int) error {
	sem := make(chan struct{}, parallel)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	var d net.Dialer
	for _, nd := range m.nodes {
		for j := nd.index + 1; j < len(all); j++ {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				c, err := d.DialContext(ctx, "tcp", all[j].Addr)
				if err == nil {
					var hello [4]byte
					binary.BigEndian.PutUint32(hello[:], uint32(nd.index))
					_, err = c.Write(hello[:])
				}
				if err != nil {
					select {
					case errs <- fmt.Errorf("node %d → %d: %w", nd.index, j, err):
					default:
					}
					return
				}
				m.add(nd, j, c)
			})
		}
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	for _, nd := range m.nodes {
		for {
			nd.mu.Lock()
			have := nd.have
			nd.mu.Unlock()
			if have == len(all)-1 {
				break
			}
			select {
			case <-nd.changed:
			case <-ctx.Done():
				return fmt.Errorf("connections still missing: %w", ctx.Err())
			}
		}
	}
	return nil
}

// conn returns local node li's connection to node j. Only after link:
// the connections do not change then, and link's last look at them, under
// the lock, comes before every send.
func (m *tcpMesh) conn(li, j int) *tcpConn { return m.nodes[li].conns[j] }

func (m *tcpMesh) send(li, j int, seq int64, now bool) {
	f := frame(kindBench, seq)
	m.conn(li, j).write(f[:], now)
}

func (m *tcpMesh) flush(li int) {
	for j := range m.nodes[li].conns {
		if tc := m.conn(li, j); tc != nil {
			tc.mu.Lock()
			tc.w.Flush()
			tc.mu.Unlock()
		}
	}
}

func (m *tcpMesh) ping(ctx context.Context, li, j int, seq int64) error {
	f := frame(kindPing, seq)
	m.conn(li, j).write(f[:], true)
	select {
	case <-m.nodes[li].pong:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no pong: %w", ctx.Err())
	}
}

func (m *tcpMesh) close() {
	close(m.done)
	for _, nd := range m.nodes {
		nd.ln.Close()
		for _, tc := range nd.conns {
			if tc != nil {
				tc.c.Close()
			}
		}
	}
}
