package node_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tetherkit/tether/node"
)

// A test may run a node in a child process — this test binary, started
// again with childEnv set to the node's ID and childSeed to its seed's
// address — to kill it for real. The child registers a port in "svc", prints
// "ready PORT", and serves until it is killed.
const (
	childEnv  = "TETHER_TEST_CHILD_NODE"
	childSeed = "TETHER_TEST_CHILD_SEED"
)

func childNode() {
	n, err := node.Start(context.Background(), node.Config{
		ID:     os.Getenv(childEnv),
		Binds:  []string{"127.0.0.1:0"},
		Secret: "geheim",
		Seeds:  []string{os.Getenv(childSeed)},
	})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	p := n.Port(nil)
	if _, err := n.DBReg("svc", p, "child"); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("ready", p)
	select {}
}

// startChild starts a child node seeded at seed and returns it with the
// port it registered.
func startChild(t *testing.T, id, seed string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+id, childSeed+"="+seed)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	port, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		t.Fatalf("the child node said %q, %v", line, err)
	}
	return cmd, port
}

// A node killed with SIGKILL: its entries go from every monitor.
func TestRegistryChildKilled(t *testing.T) {
	g := startTCP(t, "g")
	b := seeded(t, "b", g.Addrs()...)
	mon := dbWatch(t, b, "svc")
	dbUntil(t, mon, map[string]any{})
	cmd, port := startChild(t, "child", g.Addrs()[0])
	dbUntil(t, mon, map[string]any{port: "child"})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	dbUntil(t, mon, map[string]any{})
}
