package node

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
)

// A greeting is not proven until the handshake authenticates it: the IDs
// that strangers claim leave nothing behind (issue 10: each one made a
// link that was never freed).
func TestClaimedIDsLeaveNothing(t *testing.T) {
	n, err := Start(context.Background(), Config{ID: "a", Binds: []string{"127.0.0.1:0"}, Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	for i := range 200 {
		c, err := net.Dial("tcp", n.Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "aemp;1;claimed%d;hmac_sha3_512;msgpack;provider=x\n%s\nhmac_sha3_512;00;msgpack\n", i, strings.Repeat("x", 88))
		io.ReadAll(c) // until a refuses the bad auth line and closes
		c.Close()
	}
	n.linksMu.Lock()
	links := len(n.links)
	n.linksMu.Unlock()
	if links != 0 {
		t.Errorf("%d links after 200 greetings whose IDs were never proven, want 0", links)
	}
}
