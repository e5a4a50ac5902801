// Package cef turns a CEF event into the CommonSecurityLog columns that
// Microsoft Sentinel would store for it. It reads a raw line as syslog
// inputs deliver it (any syslog framing, then "CEF:Version|...|Extension")
// or a record whose fields were already split by an earlier parser. It has
// no notion of any detection rule.
//
// A Record is reusable and borrows the bytes it was built from: its values
// stay valid until the next ParseLine or ResetFields, or until the caller's
// input buffer is released, whichever comes first.
package cef

import (
	"unicode/utf8"
)

// Pair is one key/value of a CEF extension or of a split record, in input
// order. The value is decoded.
type Pair struct {
	Key   []byte
	Value []byte
}

// Record is one CEF event.
type Record struct {
	// Version is the CEF version of a parsed line, or -1 for a record built
	// from split fields.
	Version int

	header [headerFields][]byte
	pairs  []Pair
	fields bool   // built by AddField rather than ParseLine
	buf    []byte // decoded values that differ from their input bytes
}

// Pairs returns the extension pairs (or split fields) in input order,
// duplicates included.
func (r *Record) Pairs() []Pair {
	return r.pairs
}

// Value returns what Sentinel stores in column c: the header field, or the
// value of the last pair whose key maps to c. A missing column is empty.
func (r *Record) Value(c Column) []byte {
	if !r.fields && c.isHeader() {
		return r.header[c-1]
	}
	for i := len(r.pairs) - 1; i >= 0; i-- {
		if r.keyNames(r.pairs[i].Key, c) {
			return r.pairs[i].Value
		}
	}
	return nil
}

// Has reports whether any pair or header field fills column c.
func (r *Record) Has(c Column) bool {
	if !r.fields && c.isHeader() {
		return true
	}
	for i := range r.pairs {
		if r.keyNames(r.pairs[i].Key, c) {
			return true
		}
	}
	return false
}

// Candidate is one value that a lenient reading of the record puts in a
// column.
type Candidate struct {
	Value []byte
	// KeyCaseDiffers is true when the key names the column only if letter
	// case is ignored (REQUESTMETHOD for requestMethod).
	KeyCaseDiffers bool
	// Superseded is true for a value that a later pair of the same key
	// overrides, so that Sentinel never stores it.
	Superseded bool
}

// AppendCandidates appends every value that a lenient reading puts in column
// c: the value Sentinel keeps, the values of earlier duplicate keys, and the
// values of keys that name c in another letter case.
func (r *Record) AppendCandidates(dst []Candidate, c Column) []Candidate {
	if !r.fields && c.isHeader() {
		return append(dst, Candidate{Value: r.header[c-1]})
	}

	winner := -1
	for i := len(r.pairs) - 1; i >= 0; i-- {
		if r.keyNames(r.pairs[i].Key, c) {
			winner = i
			break
		}
	}
	for i := range r.pairs {
		key := r.pairs[i].Key
		switch {
		case r.keyNames(key, c):
			dst = append(dst, Candidate{Value: r.pairs[i].Value, Superseded: i != winner})
		case r.keyNamesFold(key, c):
			dst = append(dst, Candidate{Value: r.pairs[i].Value, KeyCaseDiffers: true})
		}
	}
	return dst
}

// AdditionalExtensions returns the pairs whose keys Microsoft's mapping does
// not know, as "key=value" joined by ";", the way CommonSecurityLog's
// AdditionalExtensions column holds them.
func (r *Record) AdditionalExtensions() string {
	var out []byte
	for _, p := range r.pairs {
		if r.mapped(p.Key) {
			continue
		}
		if len(out) > 0 {
			out = append(out, ';')
		}
		out = append(out, p.Key...)
		out = append(out, '=')
		out = append(out, p.Value...)
	}
	return string(out)
}

// ResetFields empties r for a record whose fields were split before they
// reached the plugin: call AddField for each of them.
func (r *Record) ResetFields() {
	r.reset()
	r.Version = -1
	r.fields = true
}

// AddField adds one field of a split record. The key is a CEF key
// (requestMethod) or a CommonSecurityLog column name (RequestMethod); both
// fill the same column. Invalid UTF-8 in the value is replaced by U+FFFD, as
// Sentinel does at ingestion.
func (r *Record) AddField(key, value []byte) {
	if !utf8.Valid(value) {
		start := len(r.buf)
		r.buf = appendValidUTF8(r.buf, value)
		value = r.buf[start:]
	}
	r.pairs = append(r.pairs, Pair{Key: key, Value: value})
}

func (r *Record) reset() {
	r.Version = 0
	r.header = [headerFields][]byte{}
	r.pairs = r.pairs[:0]
	r.fields = false
	r.buf = r.buf[:0]
}

// keyNames reports whether key fills column c in this record. A parsed line
// uses CEF keys only, and a split record also the column name or a header
// alias.
func (r *Record) keyNames(key []byte, c Column) bool {
	def := columnDefs[c]
	if def.key != "" && string(key) == def.key {
		return true
	}
	if !r.fields {
		return false
	}
	if string(key) == def.name {
		return true
	}
	alias, ok := headerAliases[string(key)]
	return ok && alias == c
}

// keyNamesFold is keyNames with ASCII letter case ignored.
func (r *Record) keyNamesFold(key []byte, c Column) bool {
	def := columnDefs[c]
	if def.key != "" && equalFoldASCII(key, def.key) {
		return true
	}
	if !r.fields {
		return false
	}
	if equalFoldASCII(key, def.name) {
		return true
	}
	for alias, ac := range headerAliases {
		if ac == c && equalFoldASCII(key, alias) {
			return true
		}
	}
	return false
}

// mapped reports whether key fills any column.
func (r *Record) mapped(key []byte) bool {
	if columnForKey(key) != 0 {
		return true
	}
	if !r.fields {
		return false
	}
	if _, ok := columnsByName[string(key)]; ok {
		return true
	}
	_, ok := headerAliases[string(key)]
	return ok
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lowerASCII(b[i]) != lowerASCII(s[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// appendValidUTF8 appends b with each byte that is not part of a valid UTF-8
// sequence replaced by U+FFFD.
func appendValidUTF8(dst, b []byte) []byte {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, b[:size]...)
		}
		b = b[size:]
	}
	return dst
}
