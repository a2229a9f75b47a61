package addr_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tetherkit/tether/addr"
	"github.com/tetherkit/tether/clock"
)

// A list of replicas: each attempt goes to the next one, so a connection
// whose replica is down fails over on its next attempt.
func ExampleList() {
	ctx := context.Background()
	replicas := addr.NewList("db1:5432", "db2:5432", "db3:5432")
	for range 4 {
		a, err := replicas.Resolve(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(a)
	}

	// Replacing the list restarts the rotation.
	replicas.Set("db4:5432", "db5:5432")
	a, _ := replicas.Resolve(ctx)
	fmt.Println(a)
	// Output:
	// db1:5432
	// db2:5432
	// db3:5432
	// db1:5432
	// db4:5432
}

// Servers publish themselves into a catalog file; clients resolve from it
// and see changes on their next attempt.
func ExampleFile() {
	dir, err := os.MkdirTemp("", "addr-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	catalog := filepath.Join(dir, "echo.json")

	// Two servers are up.
	if err := addr.WriteFile(catalog, []string{"127.0.0.1:7001", "127.0.0.1:7002"}); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	servers := addr.NewFile[string](catalog)
	for range 3 {
		a, err := servers.Resolve(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(a)
	}

	// A third server starts and adds itself: read, append, write back.
	list, err := addr.ReadFile[string](catalog)
	if err != nil {
		log.Fatal(err)
	}
	if err := addr.WriteFile(catalog, append(list, "127.0.0.1:7003")); err != nil {
		log.Fatal(err)
	}
	for range 3 {
		a, err := servers.Resolve(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(a)
	}
	// Output:
	// 127.0.0.1:7001
	// 127.0.0.1:7002
	// 127.0.0.1:7001
	// 127.0.0.1:7001
	// 127.0.0.1:7002
	// 127.0.0.1:7003
}

// An SRV resolver with a seeded order: the same seed and the same DNS
// answers give the same sequence of targets.
func ExampleSRV() {
	root := clock.NewRand(clock.RandomSeed()) // log the seed to replay a run
	echo := &addr.SRV{Service: "echo", Proto: "tcp", Name: "example.com", Rand: root.Derive("addr/echo")}
	target, err := echo.Resolve(context.Background())
	if err != nil {
		log.Print(err) // an *addr.Error; errors.As finds the *net.DNSError
		return
	}
	fmt.Println("dialing", target)
}
