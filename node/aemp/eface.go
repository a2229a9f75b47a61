package aemp

import "unsafe"

// Boxing into slabs: an interface value holding a non-pointer type such as
// int64 or []byte is two words, the dynamic type and a pointer to the value.
// A conversion like any(x) allocates the value on its own; boxAt instead
// points the interface at a value already stored in a slab, which lets a
// decoder box the scalars of thousands of frames with one allocation.
//
// This relies on the runtime's layout of interface values, which the Go
// specification does not promise (reflect depends on it too). layoutOK
// checks it once at start-up; should it ever not hold, the boxer falls back
// to ordinary conversions, which are correct, only slower. The values boxed
// this way must never change afterwards: interfaces are immutable.

// eface is the runtime's layout of an empty interface value.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

// typeWord returns the dynamic type word of v.
func typeWord(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

var (
	int64Type  = typeWord(int64(0))
	stringType = typeWord("")
	bytesType  = typeWord([]byte(nil))
)

// boxAt returns the interface value of dynamic type typ whose value is *p;
// p must point to a value of that type.
func boxAt(typ, p unsafe.Pointer) (v any) {
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, p
	return v
}

// layoutOK tells whether boxAt makes interfaces that behave like the ones
// conversions make: the right dynamic type, the right value.
func layoutOK() bool {
	x, s, b := int64(-1)<<40, "layout", []byte{1, 2, 3}
	vx, vs, vb := boxAt(int64Type, unsafe.Pointer(&x)), boxAt(stringType, unsafe.Pointer(&s)), boxAt(bytesType, unsafe.Pointer(&b))
	gx, okx := vx.(int64)
	gs, oks := vs.(string)
	gb, okb := vb.([]byte)
	return okx && oks && okb && gx == x && gs == s && len(gb) == 3 && &gb[0] == &b[0] &&
		vx == any(x) && vs == any(s)
}

// forge is whether boxers box into slabs; tests turn it off to check the
// fallback.
var forge = layoutOK()
