package event_test

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/tetherkit/tether/event"
)

func TestKindString(t *testing.T) {
	want := map[event.Kind]string{
		event.AttemptingToConnect: "attempting to connect",
		event.ObtainedAddress:     "obtained address",
		event.FailedToConnect:     "failed to connect",
		event.Connected:           "connected",
		event.Disconnected:        "disconnected",
		0:                         "event.Kind(0)",
		42:                        "event.Kind(42)",
	}
	for k, s := range want {
		if got := k.String(); got != s {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, s)
		}
	}
}

func TestEventString(t *testing.T) {
	type ev = event.Event[string, int]
	cases := []struct {
		e    ev
		want string
	}{
		{ev{Kind: event.AttemptingToConnect}, "attempting to connect"},
		{ev{Kind: event.ObtainedAddress, Addr: "10.0.0.7:4000"}, "obtained address 10.0.0.7:4000"},
		{ev{Kind: event.FailedToConnect, Err: errors.New("refused")}, "failed to connect: refused"},
		{ev{Kind: event.Connected, Conn: 3}, "connected"},
		{ev{Kind: event.Disconnected}, "disconnected"},
	}
	for _, c := range cases {
		if got := c.e.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}

func TestBusDeliversInOrder(t *testing.T) {
	var b event.Bus[int]
	var got1, got2 []int
	b.Subscribe(func(v int) { got1 = append(got1, v) })
	b.Subscribe(func(v int) { got2 = append(got2, v) })
	for i := range 5 {
		b.Publish(i)
	}
	want := []int{0, 1, 2, 3, 4}
	if !slices.Equal(got1, want) || !slices.Equal(got2, want) {
		t.Fatalf("got %v and %v, want %v", got1, got2, want)
	}
}

func TestBusLateSubscriberGetsLastFirst(t *testing.T) {
	var b event.Bus[string]
	var early []string
	b.Subscribe(func(v string) { early = append(early, v) })
	if _, ok := b.Last(); ok {
		t.Fatal("Last() reports a value before any Publish")
	}
	b.Publish("a")
	b.Publish("b")
	var late []string
	b.Subscribe(func(v string) { late = append(late, v) })
	if !slices.Equal(late, []string{"b"}) {
		t.Fatalf("late subscriber got %v right after Subscribe, want [b]", late)
	}
	b.Publish("c")
	if !slices.Equal(late, []string{"b", "c"}) || !slices.Equal(early, []string{"a", "b", "c"}) {
		t.Fatalf("late %v, early %v", late, early)
	}
	if v, ok := b.Last(); !ok || v != "c" {
		t.Fatalf("Last() = %q, %v", v, ok)
	}
}

func TestBusUnsubscribe(t *testing.T) {
	var b event.Bus[int]
	var got []int
	var unsub func()
	unsub = b.Subscribe(func(v int) {
		got = append(got, v)
		if v == 1 {
			unsub() // from within the subscriber
		}
	})
	b.Publish(0)
	b.Publish(1)
	b.Publish(2)
	unsub() // idempotent
	if !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("got %v, want [0 1]", got)
	}
}

func TestBusIsolatesPanics(t *testing.T) {
	var recovered []any
	b := event.Bus[int]{OnPanic: func(r any) { recovered = append(recovered, r) }}
	var got []int
	b.Subscribe(func(v int) {
		if v == 1 {
			panic("boom")
		}
	})
	b.Subscribe(func(v int) { got = append(got, v) })
	b.Publish(0)
	b.Publish(1)
	b.Publish(2)
	if !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("healthy subscriber got %v, want [0 1 2]", got)
	}
	if len(recovered) != 1 || recovered[0] != "boom" {
		t.Fatalf("OnPanic saw %v, want [boom]", recovered)
	}

	// Without OnPanic the panic is still contained.
	var quiet event.Bus[int]
	quiet.Subscribe(func(int) { panic("ignored") })
	quiet.Publish(1)
}

// A subscriber that joins while values are being published sees a contiguous
// run of values: the one current when it joined, then every later one.
func TestBusSubscribeDuringPublishHasNoGapsOrRepeats(t *testing.T) {
	const n = 20000
	var b event.Bus[int]
	b.Publish(-1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			b.Publish(i)
		}
	})
	const subs = 8
	results := make([][]int, subs)
	for i := range subs {
		wg.Go(func() {
			b.Subscribe(func(v int) { results[i] = append(results[i], v) })
		})
	}
	wg.Wait()
	for i, r := range results {
		if len(r) == 0 {
			t.Fatalf("subscriber %d received nothing, not even the last value", i)
		}
		for j := 1; j < len(r); j++ {
			if r[j] != r[j-1]+1 {
				t.Fatalf("subscriber %d: value %d follows %d", i, r[j], r[j-1])
			}
		}
		if r[len(r)-1] != n-1 {
			t.Fatalf("subscriber %d ended at %d, want %d", i, r[len(r)-1], n-1)
		}
	}
}
