//go:build unix && !linux && !solaris

package worker

import "syscall"

// dupTo makes newfd a copy of oldfd.
func dupTo(oldfd, newfd int) error { return syscall.Dup2(oldfd, newfd) }
