package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// invariant is a check registered with Network.Invariant.
type invariant struct {
	name  string
	check func() error
}

// Invariant adds a check that the scheduler calls whenever the simulated
// world is quiescent: before every step (every delivery, timer and
// callback), once the program has settled after the previous one, and in
// Wait. Time does not move while it runs, and no goroutine of the program
// does, so check may read the program's state (under the program's own
// locks) and tell whether it is sound: messages in order, no holes, every
// call answered once. It must return promptly and must not block on the
// network; checks run in the order they were added.
//
// The first check to return an error stops the simulation at that step:
// the network closes (see Close), the error is kept as a *Violation (see
// Err) — which tells the step, its time, and the trace of what the step
// and the program did since the previous check — and Test fails the test
// with it at once. No check runs after that.
func (n *Network) Invariant(name string, check func() error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.checks = append(n.checks, invariant{name, check})
	n.record = true
}

// Violation is an invariant that failed: which, at which step, and what
// happened in that step.
type Violation struct {
	Name  string        // the invariant's name
	Step  int           // the number of steps taken when the check failed
	At    time.Duration // when, on the network's clock
	Err   error         // what the check returned
	Trace []Event       // the events since the previous check: the step, and what the program logged as it settled
}

func (v *Violation) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sim: invariant %q broken at step %d (%v): %v", v.Name, v.Step, v.At, v.Err)
	if len(v.Trace) > 0 {
		b.WriteString("\nthe step's trace:")
		for _, e := range v.Trace {
			b.WriteString("\n\t")
			b.WriteString(e.String())
		}
	}
	return b.String()
}

func (v *Violation) Unwrap() error { return v.Err }

// Err returns the invariant violation that stopped the network, a
// *Violation, or nil.
func (n *Network) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.violation == nil {
		return nil
	}
	return n.violation
}

// checkInvariants runs the checks on the quiescent world and reports
// whether the simulation goes on. Only the scheduler calls it.
func (n *Network) checkInvariants() bool {
	n.mu.Lock()
	checks := n.checks
	n.mu.Unlock()
	if len(checks) == 0 {
		return true
	}
	n.flush()
	n.inCallback.Store(true)
	var v *Violation
	for _, c := range checks {
		if err := c.check(); err != nil {
			n.mu.Lock()
			v = &Violation{Name: c.name, Step: n.steps, At: n.now(), Err: err, Trace: slices.Clone(n.stepLog)}
			n.violation = v
			n.mu.Unlock()
			break
		}
	}
	n.inCallback.Store(false)
	n.stepLog = n.stepLog[:0]
	if v == nil {
		return true
	}
	if n.report != nil {
		n.report(v)
	}
	n.shutdown()
	return false
}
