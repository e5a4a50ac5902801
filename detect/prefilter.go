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
// Each fragment is anchored on one of its bytes, the rarest in log text. One
// pass over the text looks up each byte in a table, and checks each anchor
// byte it meets, in either letter case, against the fragments anchored on
// it. The values it runs on are short (a URL), where one table-driven pass
// costs less than a bytes.IndexByte call per anchor, letter case and hit.
// NOTE: on a long value full of anchor bytes it costs more: about 32 ns per
// byte on a 1 MiB URL of near misses, against 23 with IndexByte (benchref's
// Pathological benchmark). Both are linear.
type prefilter struct {
	anchors []anchor
	// class maps each byte to 1 + the index of its anchor in anchors, or 0,
	// in its low bits, and to the decoding that it calls for in classPercent,
	// classBackslash and classNonASCII.
	class [256]uint8
	// decodable makes mayMatch also look at the text after extended mode's
	// decodings of '%', "\/" and non-ASCII code points.
	decodable bool
	disabled  bool
}

const (
	classAnchor    = 0x1f // mask of the anchor number
	classPercent   = 0x20
	classBackslash = 0x40
	classNonASCII  = 0x80
	// maxAnchors fits the anchor numbers in classAnchor.
	maxAnchors = classAnchor - 1
)

// anchor is one byte to search for and the fragments that contain it.
type anchor struct {
	lower, upper byte
	fragments    []anchored
	// before and after contain, in both letter cases, the bytes that can
	// sit just before or just after the anchor byte in a fragment that
	// matches: a necessary test, cheaper than comparing each fragment.
	before, after byteSet
}

// byteSet is a set of bytes.
type byteSet [256]bool

// addFold adds c and, for a letter, its other case.
func (s *byteSet) addFold(c byte) {
	s[c] = true
	s[lowerASCII(c)] = true
	if 'a' <= c && c <= 'z' {
		s[c-'a'+'A'] = true
	}
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
	if len(p.anchors) > maxAnchors {
		p.disabled = true
		return p
	}

	p.class['%'] |= classPercent
	p.class['\\'] |= classBackslash
	for c := 0x80; c < 0x100; c++ {
		p.class[c] |= classNonASCII
	}
	for i, a := range p.anchors {
		p.class[a.lower] |= uint8(i + 1)
		p.class[a.upper] |= uint8(i + 1)
	}
	return p
}

func (p *prefilter) add(c byte, a anchored) {
	var an *anchor
	for i := range p.anchors {
		if p.anchors[i].lower == c {
			an = &p.anchors[i]
		}
	}
	if an == nil {
		upper := c
		if 'a' <= c && c <= 'z' {
			upper = c - 'a' + 'A'
		}
		p.anchors = append(p.anchors, anchor{lower: c, upper: upper})
		an = &p.anchors[len(p.anchors)-1]
	}
	an.fragments = append(an.fragments, a)

	switch {
	case a.beforeEquals:
		// The token ends just before the "=", or before its backslash.
		an.before.addFold(a.token[len(a.token)-1])
		an.before['\\'] = true
	case a.offset > 0:
		an.before.addFold(a.token[a.offset-1])
	default:
		an.after.addFold(a.token[a.offset+1])
	}
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
	if p.disabled {
		return true
	}
	found, present := p.scan(text)
	if found {
		return true
	}
	if !p.decodable || present == 0 {
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
		if ok {
			if found, _ := p.scan(decoded); found {
				return true
			}
		}
	}
	return false
}

// scan reports whether a fragment occurs in text, and otherwise returns the
// decodings that could change text: percent for a '%', escaped slash for
// "\/", Unicode folding for a non-ASCII byte.
func (p *prefilter) scan(text []byte) (found bool, present int) {
	for i, c := range text {
		class := p.class[c]
		if class == 0 {
			continue
		}
		if n := class & classAnchor; n != 0 && p.anchors[n-1].matchAt(text, i) {
			return true, 0
		}
		switch {
		case class&classPercent != 0:
			present |= decodePercent
		case class&classBackslash != 0 && i+1 < len(text) && text[i+1] == '/':
			present |= decodeEscapedSlash
		case class&classNonASCII != 0:
			present |= decodeUnicodeFold
		}
	}
	return false, present
}

// matchAt reports whether one of a's fragments occurs in text with its
// anchor byte at text[i].
func (a *anchor) matchAt(text []byte, i int) bool {
	if !(i > 0 && a.before[text[i-1]]) && !(i+1 < len(text) && a.after[text[i+1]]) {
		return false
	}
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
