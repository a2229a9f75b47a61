package worker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tetherkit/tether/clock"
)

// Config describes a worker to start. Func or Path is required; every
// other field has a working zero value.
type Config struct {
	// Func names a function registered with Register. With Path empty, the
	// current binary is started again and runs it (see Main); with Path
	// set, that binary must register Func and call Main itself.
	Func string

	// Path is a binary that speaks the protocol on its stdin and stdout:
	// raw messages or rpc, both length-prefixed. A name without a slash is
	// looked up in PATH. Empty means the current binary (Func required).
	Path string

	// Args are the arguments passed to the child, after its name.
	Args []string

	// Env, if not nil, is the child's whole environment, as in exec.Cmd;
	// nil means the parent's. For a Func worker the marker variable that
	// Main looks for is added either way.
	Env []string

	// Dir is the child's working directory; empty means the parent's.
	Dir string

	// ExtraFiles are passed to the child as file descriptors 3, 4, … (as
	// exec.Cmd.ExtraFiles). The parent keeps its copies.
	ExtraFiles []*os.File

	// Stderr, if set, receives a copy of everything the child writes to its
	// stderr (and, for a Func worker, to its stdout outside the protocol;
	// see Main). Write errors are ignored; it should not block, as the
	// child waits while it does. The child's stderr is read in any case:
	// its last StderrTail bytes go into the *ExitError.
	Stderr io.Writer

	// StderrTail is how many bytes of the end of the child's stderr are
	// kept for the *ExitError (default 4 KiB; negative keeps none).
	StderrTail int

	// MaxMessageSize bounds the messages ReadMessage accepts and
	// WriteMessage sends (default 1 MiB, at most 1 GiB). It does not apply
	// to rpc, which has its own MaxFrameSize.
	MaxMessageSize int

	// Grace is how long Close waits after SIGTERM before it sends SIGKILL
	// (default 5 s). It is also how long a read that found the child's
	// stdout closed waits for the child to exit, to report how it exited.
	Grace time.Duration

	// Clock times Grace; nil means the wall clock.
	Clock clock.Clock

	// Logger receives the child's start and exit; nil means none.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultGrace          = 5 * time.Second
	DefaultStderrTail     = 4 << 10
	DefaultMaxMessageSize = 1 << 20

	maxMaxMessageSize = 1 << 30
)

// validate fills in the defaults and reports settings that cannot work.
func (c *Config) validate() error {
	var errs []error
	if c.Func == "" && c.Path == "" {
		errs = append(errs, errors.New("neither Func nor Path is set"))
	}
	if c.Func != "" && c.Path == "" && lookup(c.Func) == nil {
		errs = append(errs, fmt.Errorf("no function is registered as %q in this binary", c.Func))
	}
	if c.Grace < 0 {
		errs = append(errs, fmt.Errorf("negative Grace %v", c.Grace))
	}
	if c.MaxMessageSize < 0 || c.MaxMessageSize > maxMaxMessageSize {
		errs = append(errs, fmt.Errorf("MaxMessageSize %d is outside [0, %d]", c.MaxMessageSize, maxMaxMessageSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("worker: invalid config: %w", err)
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	switch {
	case c.StderrTail == 0:
		c.StderrTail = DefaultStderrTail
	case c.StderrTail < 0:
		c.StderrTail = 0
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	c.Clock = clock.Or(c.Clock)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// name is what errors call the worker: its function, or its binary.
func (c *Config) name() string {
	if c.Func != "" {
		return c.Func
	}
	return filepath.Base(c.Path)
}
