package detect

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// needle is one has_any value, prepared for term matching.
type needle struct {
	text  string // as the rule writes it, reported in alerts
	lower []byte // ASCII lower case
	// Kusto splits text into terms, the maximal runs of letters and digits.
	// A needle that starts (ends) with a letter or digit must start (end) a
	// term of the column, so the byte before (after) the match must not be
	// one. Punctuation at an edge removes that check.
	checkStart, checkEnd bool
}

// termMatcher is a compiled has_any value list.
type termMatcher struct {
	needles []needle
	// caseSensitive makes it has_cs: letters must match in case too.
	caseSensitive bool
}

func newTermMatcher(values []string) *termMatcher {
	m := &termMatcher{}
	for _, v := range values {
		if v == "" {
			continue
		}
		lower := make([]byte, len(v))
		for i := range len(v) {
			lower[i] = lowerASCII(v[i])
		}
		m.needles = append(m.needles, needle{
			text:       v,
			lower:      lower,
			checkStart: isTermChar(v[0]),
			checkEnd:   isTermChar(v[len(v)-1]),
		})
	}
	return m
}

// matchAny reports whether any needle is a term match of v.
func (m *termMatcher) matchAny(v []byte) bool {
	for i := range m.needles {
		if m.match(&m.needles[i], v) {
			return true
		}
	}
	return false
}

// matchAll reports whether every needle is a term match of v.
func (m *termMatcher) matchAll(v []byte) bool {
	for i := range m.needles {
		if !m.match(&m.needles[i], v) {
			return false
		}
	}
	return len(m.needles) > 0
}

func (m *termMatcher) match(n *needle, v []byte) bool {
	if !m.caseSensitive {
		return n.matches(v)
	}
	// has_cs: the same term boundaries, with the needle's own case.
	size := len(n.text)
	for from := 0; from+size <= len(v); {
		i := bytes.Index(v[from:], []byte(n.text))
		if i < 0 {
			return false
		}
		i += from
		from = i + 1
		if n.checkStart && i > 0 && isTermChar(v[i-1]) {
			continue
		}
		if n.checkEnd && i+size < len(v) && isTermChar(v[i+size]) {
			continue
		}
		return true
	}
	return false
}

// appendMatches appends the rule's spelling of every needle that matches v.
func (m *termMatcher) appendMatches(dst []string, v []byte) []string {
	for i := range m.needles {
		if m.needles[i].matches(v) {
			dst = append(dst, m.needles[i].text)
		}
	}
	return dst
}

// matches implements KQL "has" for one needle: the needle occurs in v,
// ignoring ASCII case, at a place where its alphanumeric edges sit on term
// boundaries. Term characters are the ASCII letters and digits only, so "_"
// and every non-ASCII byte separate terms. Nothing is decoded.
func (n *needle) matches(v []byte) bool {
	if n.find(v, n.lower[0]) {
		return true
	}
	if upper := upperASCII(n.lower[0]); upper != n.lower[0] {
		return n.find(v, upper)
	}
	return false
}

// find checks each place where first, one case of the needle's first byte,
// occurs in v.
func (n *needle) find(v []byte, first byte) bool {
	size := len(n.lower)
	for from := 0; from+size <= len(v); {
		j := bytes.IndexByte(v[from:len(v)-size+1], first)
		if j < 0 {
			return false
		}
		i := from + j
		from = i + 1
		if !equalLower(v[i:i+size], n.lower) {
			continue
		}
		if n.checkStart && i > 0 && isTermChar(v[i-1]) {
			continue
		}
		if n.checkEnd && i+size < len(v) && isTermChar(v[i+size]) {
			continue
		}
		return true
	}
	return false
}

func equalLower(b, lower []byte) bool {
	for i := range b {
		if lowerASCII(b[i]) != lower[i] {
			return false
		}
	}
	return true
}

func isTermChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Decodings that extended mode tries on a has_any column, because the
// indicators reach real logs in these shapes while Sentinel compares bytes.
const (
	decodeEscapedSlash = 1 << iota // "\/" written for "/" (Cortex XDR, JSON escapes)
	decodePercent                  // %XX escapes, repeated for double encoding
	decodeUnicodeFold              // code points that fold to ASCII, such as the Kelvin sign
)

var decodeReasons = []struct {
	flag   int
	reason string
}{
	{decodeEscapedSlash, "escaped_slash"},
	{decodePercent, "percent_encoded"},
	{decodeUnicodeFold, "unicode_case_fold"},
}

// applyDecodings returns v with the decodings in flags applied in a fixed
// order, and whether every one of them changed something.
func applyDecodings(v []byte, flags int) ([]byte, bool) {
	out, ok := appendDecoded(nil, nil, v, flags)
	if !ok {
		return nil, false
	}
	return out, true
}

// appendDecoded applies the decodings in flags to v in a fixed order,
// using a and b as scratch space, and the result lives in one of them. Each
// needs room for len(v) bytes to avoid allocating, which is enough because
// no decoding makes text longer. ok is false when a decoding in flags changed nothing.
func appendDecoded(a, b, v []byte, flags int) (out []byte, ok bool) {
	out = v
	for _, step := range [...]int{decodeEscapedSlash, decodePercent, decodeUnicodeFold} {
		if flags&step == 0 {
			continue
		}
		var changed bool
		switch step {
		case decodeEscapedSlash:
			out, changed = appendUnescapedSlashes(a[:0], out)
		case decodePercent:
			out, changed = appendPercentDecoded(a[:0], out)
		default:
			out, changed = appendFoldedASCII(a[:0], out)
		}
		if !changed {
			return nil, false
		}
		a, b = b, a
	}
	return out, true
}

func appendUnescapedSlashes(dst, v []byte) ([]byte, bool) {
	changed := false
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && v[i+1] == '/' {
			dst = append(dst, '/')
			changed = true
			i++
			continue
		}
		dst = append(dst, v[i])
	}
	return dst, changed
}

// maxPercentRounds bounds repeated percent-decoding: two rounds undo the
// double encoding that proxies and evasive clients produce.
const maxPercentRounds = 2

// appendPercentDecoded decodes %XX escapes, in up to maxPercentRounds
// rounds; the rounds run in dst itself, which only shrinks.
func appendPercentDecoded(dst, v []byte) ([]byte, bool) {
	start := len(dst)
	dst, changed := appendPercentDecodedOnce(dst, v)
	if !changed {
		return dst, false
	}
	for range maxPercentRounds - 1 {
		round := dst[start:]
		n := len(round)
		var again bool
		round, again = percentDecodeInPlace(round)
		dst = dst[:start+len(round)]
		if !again || len(round) == n {
			break
		}
	}
	return dst, true
}

func appendPercentDecodedOnce(dst, v []byte) ([]byte, bool) {
	changed := false
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			dst = append(dst, unhex(v[i+1])<<4|unhex(v[i+2]))
			changed = true
			i += 2
			continue
		}
		dst = append(dst, v[i])
	}
	return dst, changed
}

// percentDecodeInPlace decodes one round of %XX escapes in b, writing over
// it from the front, which is safe because the output never outruns the
// input.
func percentDecodeInPlace(b []byte) ([]byte, bool) {
	w := 0
	changed := false
	for i := 0; i < len(b); i++ {
		if b[i] == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
			b[w] = unhex(b[i+1])<<4 | unhex(b[i+2])
			changed = true
			i += 2
		} else {
			b[w] = b[i]
		}
		w++
	}
	return b[:w], changed
}

// appendFoldedASCII replaces each non-ASCII code point whose Unicode simple
// case folding orbit holds an ASCII letter (K KELVIN SIGN, LATIN SMALL
// LETTER LONG S) with that letter.
func appendFoldedASCII(dst, v []byte) ([]byte, bool) {
	changed := false
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRune(v[i:])
		if r >= utf8.RuneSelf {
			if a, ok := asciiFold(r); ok {
				dst = append(dst, a)
				changed = true
				i += size
				continue
			}
		}
		dst = append(dst, v[i:i+size]...)
		i += size
	}
	return dst, changed
}

func asciiFold(r rune) (byte, bool) {
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < utf8.RuneSelf {
			return lowerASCII(byte(f)), true
		}
	}
	return 0, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
