package detect

import "bytes"

// prefilter rejects, from the raw text of a record, the records that no
// condition of a rule can match, so that benign records skip CEF parsing.
// It never rejects a record that the full evaluation would alert on: it
// looks for a fragment of each has_any value that CEF escaping cannot
// change, anywhere in the text and ignoring ASCII case.
type prefilter struct {
	tokens [][]byte // lower-case fragments; a record must contain one
	// bigrams has a bit for the first two bytes of each token, so the scan
	// compares tokens only where one can start.
	bigrams [1 << 16 / 64]uint64
	// decodable makes any '%', "\/" or non-ASCII byte pass, because extended
	// mode decodes those before matching.
	decodable bool
	disabled  bool
}

// newPrefilter builds the filter for a rule's has_any values. With
// decodable set, the fragments are also cut at "/" so that "\/" cannot hide
// them. A rule without has_any values, or with a value whose fragment is
// shorter than two bytes, gets a filter that lets everything through.
func newPrefilter(values []string, decodable bool) *prefilter {
	p := &prefilter{decodable: decodable}
	if len(values) == 0 {
		p.disabled = true
		return p
	}

	separators := "=|\\\r\n"
	if decodable {
		separators += "/"
	}
	for _, v := range values {
		token := longestFragment(v, separators)
		if len(token) < 2 {
			p.disabled = true
			return p
		}
		lower := bytes.ToLower([]byte(token))
		p.tokens = append(p.tokens, lower)
		k := uint16(lower[0])<<8 | uint16(lower[1])
		p.bigrams[k>>6] |= 1 << (k & 63)
	}
	return p
}

// longestFragment returns the longest part of v between separator bytes:
// the part that a CEF escape ("\=" for "="), or in extended mode "\/", leaves
// intact in the raw line.
func longestFragment(v, separators string) string {
	best := ""
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || bytes.IndexByte([]byte(separators), v[i]) >= 0 {
			if i-start > len(best) {
				best = v[start:i]
			}
			start = i + 1
		}
	}
	return best
}

// mayMatch reports whether text could hold a match.
func (p *prefilter) mayMatch(text []byte) bool {
	if p.disabled {
		return true
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		if p.decodable && (c == '%' || c >= 0x80 || c == '\\' && i+1 < len(text) && text[i+1] == '/') {
			return true
		}
		if i+1 == len(text) {
			break
		}
		k := uint16(lowerASCII(c))<<8 | uint16(lowerASCII(text[i+1]))
		if p.bigrams[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		for _, token := range p.tokens {
			if i+len(token) <= len(text) && equalLower(text[i:i+len(token)], token) {
				return true
			}
		}
	}
	return false
}
