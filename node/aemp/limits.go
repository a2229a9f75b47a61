package aemp

// Defaults for the zero fields of [Limits].
const (
	DefaultMaxFrameSize = 16 << 20 // 16 MiB
	DefaultMaxDepth     = 128
	DefaultMaxElements  = 1 << 20
)

// Limits bound what one frame may cost. A decoder checks every declared
// length against them before it allocates, and fails with a [*FrameError]
// (ErrFrameTooLarge, ErrFrameTooDeep or ErrTooManyElements) as soon as a
// frame exceeds one; an encoder refuses to write a frame that its own decoder
// would refuse. A zero field takes its default.
type Limits struct {
	// MaxFrameSize is the most bytes one encoded frame may take, including
	// any whitespace before a JSON text. Default 16 MiB.
	MaxFrameSize int
	// MaxDepth is the deepest nesting of lists and maps; the frame's own
	// list is depth 1, so 1 allows only flat frames. Default 128. It also
	// stops an encoder from recursing forever on a list that contains itself.
	MaxDepth int
	// MaxElements is the most values one frame may hold, counting every list
	// element and every map entry at every level. Default 1 Mi.
	MaxElements int
}

func (l Limits) withDefaults() Limits {
	if l.MaxFrameSize <= 0 {
		l.MaxFrameSize = DefaultMaxFrameSize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultMaxElements
	}
	return l
}
