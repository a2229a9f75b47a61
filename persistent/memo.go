package persistent

// memo remembers the most recent value of one kind of event within a cycle,
// so that a value equal to the previous one is not reported again: E1, E1,
// E2, E1 reports E1, E2, E1. The zero memo has seen nothing.
type memo[T comparable] struct {
	v   T
	set bool
}

// update records v and reports whether it differs from the previous value.
func (m *memo[T]) update(v T) (changed bool) {
	if m.set && m.v == v {
		return false
	}
	m.v, m.set = v, true
	return true
}
