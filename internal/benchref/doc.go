// Package benchref holds the benchmarks that compare the plugin's flush
// path with two references on the same chunks: the stock path (fluent-bit-go's
// decoder and a plain substring matcher, what a plugin author writes
// first) and the floor (one bytes.Index pass over the chunk, which no
// detector can beat). It has no code of its own outside its tests; it is a
// package of its own so that only these benchmarks link fluent-bit-go's
// cgo decoder.
package benchref
