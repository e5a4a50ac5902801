package detect

import (
	"bytes"
	"strings"
)

// prefilter rejects, from the raw text of a record, the records that no
// condition of a rule can match, so that benign records skip CEF parsing.
// It never rejects a record that the full evaluation would alert on: it
// looks for a fragment of each has_any value that CEF escaping cannot
// change, anywhere in the text and ignoring ASCII case.
//
// The search runs per anchor: for each fragment, the byte that is rarest in
// log text, found with bytes.IndexByte in both letter cases, and each hit is
// checked against the fragments anchored on that byte.
type prefilter struct {
	anchors []anchor
	// decodable makes mayMatch also look at the text after extended mode's
	// decodings of '%', "\/" and non-ASCII code points.
	decodable bool
	disabled  bool
}

// anchor is one byte to search for and the fragments that contain it.
type anchor struct {
	lower, upper byte
	fragments    []anchored
}

type anchored struct {
	token  []byte // lower case
	offset int    // position of the anchor byte in token
	// beforeEquals marks a token anchored on the "=" that follows it, which
	// a CEF line may write as "\=": the token ends just before the "=" or
	// its backslash.
	beforeEquals bool
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
		// A value that ends in "=" is anchored on that "=": URLs hold few
		// of them, fewer than of any letter. Extended mode's decodings
		// cannot hide it, because a line with '%' passes anyway.
		if head, ok := strings.CutSuffix(v, "="); ok && len(head) >= 2 && !strings.ContainsAny(head, separators) {
			p.add('=', anchored{token: []byte(strings.ToLower(head)), beforeEquals: true})
			continue
		}

		token := strings.ToLower(longestFragment(v, separators))
		if len(token) < 2 {
			p.disabled = true
			return p
		}
		offset := rarestByte(token)
		p.add(token[offset], anchored{token: []byte(token), offset: offset})
	}
	return p
}

func (p *prefilter) add(c byte, a anchored) {
	for i := range p.anchors {
		if p.anchors[i].lower == c {
			p.anchors[i].fragments = append(p.anchors[i].fragments, a)
			return
		}
	}
	upper := c
	if 'a' <= c && c <= 'z' {
		upper = c - 'a' + 'A'
	}
	p.anchors = append(p.anchors, anchor{lower: c, upper: upper, fragments: []anchored{a}})
}

// byteRank orders bytes from rare to common in web proxy logs, roughly by
// English letter frequency with punctuation that URLs are full of last.
// Only the order matters, and only for speed.
const byteRank = "qjzxkvbpygfwmucldrhsnioate0123456789=&?./-_ "

// rarestByte returns the offset of the byte of token that byteRank puts
// first; bytes it does not list count as rarest of all.
func rarestByte(token string) int {
	best, bestRank := 0, len(byteRank)+1
	for i := range len(token) {
		rank := strings.IndexByte(byteRank, token[i])
		if rank < 0 {
			return i
		}
		if rank < bestRank {
			best, bestRank = i, rank
		}
	}
	return best
}

// longestFragment returns the longest part of v between separator bytes:
// the part that a CEF escape ("\=" for "="), or in extended mode "\/", leaves
// intact in the raw line.
func longestFragment(v, separators string) string {
	best := ""
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || strings.IndexByte(separators, v[i]) >= 0 {
			if i-start > len(best) {
				best = v[start:i]
			}
			start = i + 1
		}
	}
	return best
}

// maxDecodedScan is the longest text that mayMatch decodes on the stack.
// Longer text with something to decode is let through unexamined.
const maxDecodedScan = 1024

// mayMatch reports whether text could hold a match. With decodable set it
// also tries every combination of extended mode's decodings, the same ones
// Evaluate tries, without allocating.
func (p *prefilter) mayMatch(text []byte) bool {
	if p.disabled || p.findAny(text) {
		return true
	}
	if !p.decodable {
		return false
	}
	present := decodingsPresent(text)
	if present == 0 {
		return false
	}
	if len(text) > maxDecodedScan {
		return true
	}

	var a, b [maxDecodedScan]byte
	for _, flags := range decodingOrder {
		if flags&^present != 0 {
			continue // a decoding that would change nothing
		}
		decoded, ok := appendDecoded(a[:0], b[:0], text, flags)
		if ok && p.findAny(decoded) {
			return true
		}
	}
	return false
}

func (p *prefilter) findAny(text []byte) bool {
	for i := range p.anchors {
		if p.anchors[i].find(text) {
			return true
		}
	}
	return false
}

// find reports whether one of a's fragments occurs in text.
func (a *anchor) find(text []byte) bool {
	for _, c := range [2]byte{a.lower, a.upper} {
		for from := 0; from < len(text); {
			i := bytes.IndexByte(text[from:], c)
			if i < 0 {
				break
			}
			i += from
			for _, f := range a.fragments {
				start := i - f.offset
				if f.beforeEquals {
					start = i - len(f.token)
					if i > 0 && text[i-1] == '\\' {
						start--
					}
				}
				if start >= 0 && start+len(f.token) <= len(text) && equalLower(text[start:start+len(f.token)], f.token) {
					return true
				}
			}
			from = i + 1
		}
		if a.lower == a.upper {
			break
		}
	}
	return false
}

// decodingsPresent returns the decodings that could change text: percent
// when it holds a '%', escaped slash for "\/", Unicode folding for a
// non-ASCII byte.
func decodingsPresent(text []byte) int {
	flags := 0
	if bytes.IndexByte(text, '%') >= 0 {
		flags |= decodePercent
	}
	for from := 0; ; {
		i := bytes.IndexByte(text[from:], '\\')
		if i < 0 {
			break
		}
		from += i + 1
		if from < len(text) && text[from] == '/' {
			flags |= decodeEscapedSlash
			break
		}
	}
	if !isASCII(text) {
		flags |= decodeUnicodeFold
	}
	return flags
}

// hasDecodable reports whether text holds a '%', "\/" or a non-ASCII byte.
func hasDecodable(text []byte) bool {
	return decodingsPresent(text) != 0
}

func isASCII(b []byte) bool {
	for len(b) >= 8 {
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if w&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
