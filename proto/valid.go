package proto

// A decoder skips the value of a map key this version does not know
// unchecked, as the CBOR library this package was first written on did.
// checkValid closes that gap so that a frame is valid CBOR (RFC 8949 §5.3:
// text is UTF-8, map keys are unique) in every corner, and a decoder that
// reads the whole item, as JavaScript ones do, agrees with this one about
// which frames to reject. Decode does the same check in the pass that holds
// the frame to the limits (validFrame); Encode checks its output with
// checkValid, and DecodeEntry its input.

// checkValid walks the single CBOR data item b and reports the first text
// string that is not UTF-8 or map with two equal keys (integers equal by
// value, strings by content, other keys by their bytes), or that b is not
// one well-formed item. Unlike validFrame it does not hold b to the
// decoder's limits on arrays, maps and simple values: a frame the program
// builds may be larger than a peer accepts, which is not Encode's to refuse.
// Nesting beyond twice the decoder's limit is refused, only to keep the
// walk's recursion finite.
func checkValid(b []byte) error {
	c := checker{b: b, valid: true, unlimited: true}
	return c.check()
}
