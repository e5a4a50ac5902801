// Package benchref holds the benchmarks that compare the plugin's flush
// path with two references on the same chunks. The stock path is
// fluent-bit-go's decoder with a plain substring matcher, which is what a
// plugin author writes first. The floor is one bytes.Index pass over the
// chunk, which no detector can beat. It has no code of its own outside its tests; it is a
// package of its own so that only these benchmarks link fluent-bit-go's
// cgo decoder.
package benchref
