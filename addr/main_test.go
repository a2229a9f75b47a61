package addr_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The DNS tests start a server and resolver goroutines; all must be gone by
// the end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
