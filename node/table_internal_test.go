package node

import (
	"fmt"
	"testing"
)

// The port table gives memory back after ports die (issue 12: 106 MiB were
// held after 2 M ports died): a part whose map shrank to an eighth of its
// high-water mark is copied into a new one, so that what remains is sized
// for what is left.
func TestPortTableShrinks(t *testing.T) {
	var tab portTable
	ports := make([]*port, 200_000)
	for i := range ports {
		ports[i] = &port{id: fmt.Sprintf("n#%dx", i)}
		tab.store(ports[i].id[2:], ports[i])
	}
	peak := 0
	for i := range tab.parts {
		peak = max(peak, tab.parts[i].hw)
	}
	for _, p := range ports[:len(ports)-1000] {
		tab.delete(p.id[2:], p)
	}
	for i := range tab.parts {
		part := &tab.parts[i]
		if part.hw > peak/8+1 {
			t.Fatalf("part %d: %d entries left, its map made for %d (the peak was %d per part)", i, len(part.m), part.hw, peak)
		}
	}
	for _, p := range ports[len(ports)-1000:] {
		if tab.load(p.id[2:]) != p {
			t.Fatalf("%s was lost when the table shrank", p.id)
		}
	}
}
