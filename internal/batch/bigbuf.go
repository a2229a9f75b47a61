package batch

import (
	"math/bits"
	"sync"
)

// Big buffers. A writer's buffers grow with its batches, and a writer that
// goes idle gives up what it holds beyond poolMin rather than keep it for
// a link that may stay quiet for hours. Dropping it outright made a busy
// sender pay for the growth again at every lull: a one-way stream between
// two processes runs its writer dry hundreds of times a second, and
// regrowing from nothing (allocating, zeroing, copying at every step of
// append's growth) took a fifth of the sender's CPU.
//
// So big buffers go to pools that all writers share, one per power of two.
// A writer that goes idle gives them up; when it next has frames to queue,
// it takes one back sized for its last batch, and a batch that outgrows its
// buffer takes one sized for twice itself (or twice the last batch), so
// that it rarely grows again. What no writer takes back, the garbage
// collector frees within two cycles (sync.Pool's rule): memory goes back
// after a burst, and a burst spread over thousands of links — each with a
// batch of a kilobyte or two, each idle between batches — passes the same
// few buffers around instead of growing two for every link (which, in a
// 200-node mesh, was a fifth of the CPU: fresh memory, faulted in and
// cleared).

// poolMin is the smallest buffer that goes to the pools: smaller ones the
// writer keeps when it goes idle. A batch of more than poolMin/2 bytes
// (the least that asks for a buffer of poolMin) makes the writer take a
// buffer from the pools for its next one.
const poolMin = 1 << 10

// bigBufs[k] holds buffers of capacity at least 1<<k (and less than
// 1<<(k+1)), each as a *[]byte.
var bigBufs [bits.UintSize]sync.Pool

// putBig gives b's array to the pools if it is big, and reports whether it
// did. b must be the writer's own: nobody else may hold its array.
func putBig(b []byte) bool {
	if cap(b) < poolMin {
		return false
	}
	p := new([]byte) // here, not &b: that would put every b on the heap
	*p = b[:0]
	bigBufs[bits.Len(uint(cap(b)))-1].Put(p)
	return true
}

// takeBig returns a big buffer holding b's bytes with room for want bytes
// in all: one from the pools if they have one, a new one otherwise. b's
// array is the caller's to give back.
func takeBig(b []byte, want int) []byte {
	k := bits.Len(uint(want - 1)) // 1<<k >= want
	for _, c := range [2]int{k, k + 1} {
		if c < len(bigBufs) {
			if p, _ := bigBufs[c].Get().(*[]byte); p != nil {
				return append(*p, b...)
			}
		}
	}
	return append(make([]byte, 0, 1<<k), b...)
}
