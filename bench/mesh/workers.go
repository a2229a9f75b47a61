package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// workers are the worker processes of one measurement, as the coordinator
// sees them.
type workers struct {
	ps           []*proc
	first, count []int // the nodes each one hosts
}

// proc is one worker process and its command pipe.
type proc struct {
	cmd *exec.Cmd
	in  *json.Encoder
	out *json.Decoder
}

// startWorkers starts k worker processes for n nodes, spread as evenly as
// they go.
func startWorkers(k, n int) (*workers, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ws := &workers{}
	first := 0
	for i := range k {
		count := n / k
		if i < n%k {
			count++
		}
		ws.first, ws.count = append(ws.first, first), append(ws.count, count)
		first += count
		cmd := exec.Command(self, "-worker")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			ws.stop()
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			ws.stop()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			ws.stop()
			return nil, err
		}
		ws.ps = append(ws.ps, &proc{cmd: cmd, in: json.NewEncoder(in), out: json.NewDecoder(bufio.NewReader(out))})
	}
	return ws, nil
}

// call sends worker k a command and waits for its reply.
func (ws *workers) call(k int, c command) (reply, error) {
	p := ws.ps[k]
	if err := p.in.Encode(c); err != nil {
		return reply{}, fmt.Errorf("worker %d: %w", k, err)
	}
	var r reply
	if err := p.out.Decode(&r); err != nil {
		return r, fmt.Errorf("worker %d: %w", k, err)
	}
	if r.Err != "" {
		return r, fmt.Errorf("worker %d: %s", k, r.Err)
	}
	return r, nil
}

// all sends every worker its command at once and waits for every reply.
func (ws *workers) all(cmd func(k int) command) ([]reply, error) {
	reps := make([]reply, len(ws.ps))
	errs := make([]error, len(ws.ps))
	var wg sync.WaitGroup
	for k := range ws.ps {
		wg.Go(func() { reps[k], errs[k] = ws.call(k, cmd(k)) })
	}
	wg.Wait()
	return reps, errors.Join(errs...)
}

// sample is what the workers hold, added up.
type sample struct {
	heap, stack, rss int64
	goroutines       int
}

// stats asks every worker for its heap (after a collection), stacks and
// goroutines, reads their RSS, and adds them up. With profile set, worker
// k writes a heap profile to profile-wK.pprof.
func (ws *workers) stats(profile string) (sample, error) {
	reps, err := ws.all(func(k int) command {
		c := command{Op: "stats"}
		if profile != "" {
			c.HeapProfile = fmt.Sprintf("%s-w%d.pprof", profile, k)
		}
		return c
	})
	if err != nil {
		return sample{}, err
	}
	var s sample
	for k, r := range reps {
		s.heap += int64(r.Heap)
		s.stack += int64(r.Stack)
		s.goroutines += r.Goroutines
		b, err := rss(ws.ps[k].cmd.Process.Pid)
		if err != nil {
			return s, err
		}
		s.rss += b
	}
	return s, nil
}

// profile makes every worker start a CPU profile of the window named
// window, in -cpuprofile's directory, or stop the one running when window
// is empty. Without -cpuprofile it does nothing.
func (ws *workers) profile(window, impl string, n int) error {
	if *cpuDir == "" {
		return nil
	}
	_, err := ws.all(func(k int) command {
		c := command{Op: "cpuprofile"}
		if window != "" {
			c.CPUProfile = filepath.Join(*cpuDir, fmt.Sprintf("cpu-%s-%s-n%d-w%d.pprof", window, impl, n, k))
		}
		return c
	})
	return err
}

// usage returns the CPU time (ns) and the write system calls of all the
// workers so far; it reports a failure to read /proc on stderr and counts
// nothing for it.
func (ws *workers) usage() (cpu, writes int64) {
	for _, p := range ws.ps {
		c, err := cpuTime(p.cmd.Process.Pid)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mesh:", err)
		}
		w, err := writeCalls(p.cmd.Process.Pid)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mesh:", err)
		}
		cpu, writes = cpu+c, writes+w
	}
	return cpu, writes
}

// stop asks the workers to quit, and kills those still there 30 s later.
func (ws *workers) stop() {
	var wg sync.WaitGroup
	for _, p := range ws.ps {
		wg.Go(func() {
			p.in.Encode(command{Op: "quit"})
			exited := make(chan struct{})
			go func() { p.cmd.Wait(); close(exited) }()
			select {
			case <-exited:
			case <-clk.After(30 * time.Second):
				p.cmd.Process.Kill()
				<-exited
			}
		})
	}
	wg.Wait()
}
