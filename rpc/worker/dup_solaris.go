//go:build solaris

package worker

import "errors"

// dupTo is not available here: Main leaves the protocol pipes on file
// descriptors 0 and 1 as well as on its own copies.
func dupTo(oldfd, newfd int) error { return errors.ErrUnsupported }
