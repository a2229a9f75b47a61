//go:build linux

package worker

import (
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// Children die with their parent: they are started with
// SysProcAttr.Pdeathsig = SIGKILL, so the kernel kills a worker when its
// parent dies, however it dies (SIGKILL included). The setting survives the
// exec of a Path binary, unless that binary is set-user-ID, set-group-ID or
// has file capabilities, for which the kernel clears it.
//
// The gotcha (go.dev/issue/27505): to the kernel the parent is the thread
// that forked the child, not the process, and the signal fires when that OS
// thread exits. A Go program's threads normally last as long as the
// process, with one exception: a goroutine that ends while locked to its
// thread (runtime.LockOSThread without UnlockOSThread) ends the thread too.
// Any goroutine can run on the thread that happened to fork a child, and
// if one of them later locks it and ends (as code that changes a thread's
// namespaces or credentials does, to discard the tainted thread), the child
// would be killed for nothing. Calling LockOSThread in the goroutine that
// calls Start would not help: that goroutine ending while still locked is
// the very case to avoid, and unlocking hands the thread back to everyone.
//
// So children are forked by one goroutine of this package that is locked
// to its thread for as long as any child it forked is alive, and does
// nothing else. When the last of them has been reaped it unlocks and ends,
// which hands its thread back to the runtime instead of ending it; the next
// Start makes a new one. The cost is one idle OS thread while workers run.
var spawner struct {
	mu   sync.Mutex
	live int               // children forked and not yet reaped, and forks under way
	reqs chan spawnRequest // served by the spawning goroutine; nil when there is none
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// startProcess starts cmd with Pdeathsig set, from the spawning thread. On
// success, release must be called once the child has been reaped.
func startProcess(cmd *exec.Cmd) (release func(), err error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL

	spawner.mu.Lock()
	if spawner.reqs == nil {
		spawner.reqs = make(chan spawnRequest)
		go spawnThread(spawner.reqs)
	}
	spawner.live++
	reqs := spawner.reqs
	spawner.mu.Unlock()

	done := make(chan error, 1)
	reqs <- spawnRequest{cmd: cmd, done: done}
	if err := <-done; err != nil {
		releaseSpawner()
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(releaseSpawner) }, nil
}

// releaseSpawner counts one child (or failed fork) less, and stops the
// spawning goroutine when none is left. Because live was counted before a
// request was sent, the channel is never closed under a sender.
func releaseSpawner() {
	spawner.mu.Lock()
	defer spawner.mu.Unlock()
	spawner.live--
	if spawner.live == 0 {
		close(spawner.reqs)
		spawner.reqs = nil
	}
}

// spawnThread forks the children from its locked thread until reqs is
// closed, then unlocks it: the thread lives on, back in the runtime's pool.
func spawnThread(reqs <-chan spawnRequest) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for r := range reqs {
		r.done <- r.cmd.Start()
	}
}

// selfExe returns the path that starts this very binary: /proc/self/exe,
// which names the running executable even if its file has since been
// replaced or removed (as during an upgrade), so that the child has the
// same registered functions; os.Executable if /proc is not mounted.
func selfExe() (string, error) {
	const self = "/proc/self/exe"
	if _, err := os.Stat(self); err == nil {
		return self, nil
	}
	return os.Executable()
}

// dupTo makes newfd a copy of oldfd.
func dupTo(oldfd, newfd int) error { return syscall.Dup3(oldfd, newfd, 0) }
