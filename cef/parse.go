package cef

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"unicode/utf8"
)

// Reasons a line is not a CEF record. They are fixed values so that a feed
// full of non-CEF lines costs no allocation.
var (
	ErrNoHeader    = errors.New(`no CEF header ("CEF:<version>|") in the line`)
	ErrShortHeader = errors.New("CEF header ends before its seventh field (Severity)")
	ErrVersion     = errors.New("unsupported CEF version (0 and 1 are supported)")
)

var headerMark = []byte("CEF:")

// ParseLine parses one line: optional syslog framing (an RFC 6587 octet
// count, an RFC 3164 or RFC 5424 header, a relay prefix, a UTF-8 BOM, or
// nothing at all), then "CEF:Version|Vendor|Product|Version|Signature|Name|
// Severity|Extension". A trailing CR is dropped. Invalid UTF-8 is replaced by
// U+FFFD before anything else, as Sentinel does at ingestion.
//
// On error r is left empty and the error is one of ErrNoHeader,
// ErrShortHeader or ErrVersion.
func (r *Record) ParseLine(line []byte) error {
	r.reset()
	line = bytes.TrimSuffix(line, []byte("\r"))
	if !utf8.Valid(line) {
		r.buf = appendValidUTF8(r.buf, line)
		line = r.buf
		r.buf = r.buf[len(r.buf):]
	}

	version, pos, err := findHeader(line)
	if err != nil {
		return err
	}
	if version > 1 {
		return ErrVersion
	}
	r.Version = version

	for i := range headerFields {
		field, next, ok := r.headerField(line, pos)
		if !ok {
			r.reset()
			return ErrShortHeader
		}
		r.header[i] = field
		pos = next
	}

	r.parseExtension(line[pos:])
	return nil
}

// CheckHeader returns the error that ParseLine would return for line, or
// nil. It decodes nothing, so a caller can classify every line cheaply and
// parse only the lines that may matter.
func CheckHeader(line []byte) error {
	version, pos, err := findHeader(line)
	if err != nil {
		return err
	}
	if version > 1 {
		return ErrVersion
	}
	if afterPipes(line, pos, headerFields) < 0 {
		return ErrShortHeader
	}
	return nil
}

// afterPipes returns the offset after the n-th pipe at or after pos that
// "\|" does not escape, or -1: n calls of nextHeaderPipe in one pass. Eight
// bytes without a backslash are counted at a time, because the header check
// runs on every line.
func afterPipes(line []byte, pos, n int) int {
	i := pos
	for i < len(line) {
		if i+8 <= len(line) {
			word := binary.LittleEndian.Uint64(line[i:])
			if equalBytes(word, '\\') == 0 {
				pipes := equalBytes(word, '|')
				if count := bits.OnesCount64(pipes); count < n {
					n -= count
					i += 8
					continue
				}
				for ; n > 1; n-- {
					pipes &= pipes - 1 // drop the lowest pipe
				}
				return i + bits.TrailingZeros64(pipes)/8 + 1
			}
		}

		switch line[i] {
		case '\\':
			i += 2 // a backslash takes the next byte with it
			continue
		case '|':
			n--
			if n == 0 {
				return i + 1
			}
		}
		i++
	}
	return -1
}

// equalBytes returns a word with the high bit of each byte set where that
// byte of word equals b, and every other bit clear.
func equalBytes(word uint64, b byte) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	x := word ^ (0x0101010101010101 * uint64(b))
	// A byte of x is zero exactly when adding 0x7f to its low seven bits
	// leaves its high bit clear and its own high bit is clear too.
	return ^((x&low7 + low7) | x | low7)
}

// nextHeaderPipe returns the offset after the first pipe at or after pos
// that "\|" does not escape, or -1.
func nextHeaderPipe(line []byte, pos int) int {
	// A plain loop: header fields are short, and one pass over them costs
	// less than the IndexByte calls it would take to skip them.
	for i := pos; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++ // a backslash takes the next byte with it
		case '|':
			return i + 1
		}
	}
	return -1
}

// findHeader locates "CEF:" followed by optional blanks (FortiOS writes
// "CEF: 0"), a version number and a pipe, where "CEF" does not continue a
// longer word. It returns the version and the offset after that pipe.
// Searching rather than parsing the syslog header lets one parser accept
// every framing seen in the wild, including a syslog TAG that swallows
// "CEF:".
func findHeader(line []byte) (version, pos int, err error) {
	for off := 0; off < len(line); {
		i := bytes.Index(line[off:], headerMark)
		if i < 0 {
			break
		}
		i += off
		off = i + len(headerMark)
		if i > 0 && isAlnum(line[i-1]) {
			continue
		}

		p := off
		for p < len(line) && line[p] == ' ' {
			p++
		}
		digits := 0
		version = 0
		for p < len(line) && '0' <= line[p] && line[p] <= '9' && digits < 4 {
			version = version*10 + int(line[p]-'0')
			p++
			digits++
		}
		if digits == 0 || p >= len(line) || line[p] != '|' {
			continue
		}
		return version, p + 1, nil
	}
	return 0, 0, ErrNoHeader
}

// headerField reads one header field starting at pos, up to the next pipe
// that is not escaped. It decodes "\|" and "\\"; any other backslash is kept
// as written. ok is false when no pipe ends the field.
func (r *Record) headerField(line []byte, pos int) (field []byte, next int, ok bool) {
	escaped := false
	for i := pos; i < len(line); i++ {
		switch line[i] {
		case '\\':
			if i+1 < len(line) && (line[i+1] == '|' || line[i+1] == '\\') {
				escaped = true
				i++
			}
		case '|':
			field = line[pos:i]
			if escaped {
				field = r.decode(field, false)
			}
			return field, i + 1, true
		}
	}
	return nil, 0, false
}

// parseExtension reads "key=value" pairs. A value runs until a blank that is
// followed by something shaped like a key and an unescaped "=", so values
// keep their blanks and the unescaped "=" that many vendors leave in URLs.
// A raw blank followed by "word=" inside a value still ends it: the text
// gives no way to tell the two apart.
func (r *Record) parseExtension(ext []byte) {
	i := 0
	for i < len(ext) && ext[i] == ' ' {
		i++
	}
	if keyLen(ext[i:]) == 0 {
		// Text before the first key cannot be attributed to any key.
		_, i = scanValue(ext, i)
	}

	for i < len(ext) {
		n := keyLen(ext[i:])
		if n == 0 {
			return // unreachable: scanValue only stops before a key
		}
		key := ext[i : i+n]
		start := i + n + 1
		end, next := scanValue(ext, start)
		r.pairs = append(r.pairs, Pair{Key: key, Value: r.decode(ext[start:end], true)})
		i = next
	}
}

// scanValue returns the end of the value that starts at i and the offset of
// the next key, or len(ext) twice at the end of the line. A backslash always
// takes the next byte with it, so an escaped blank never ends a value.
func scanValue(ext []byte, i int) (end, next int) {
	for i < len(ext) {
		j := bytes.IndexByte(ext[i:], ' ')
		if j < 0 {
			break
		}
		if k := bytes.IndexByte(ext[i:i+j], '\\'); k >= 0 {
			i += k + 2
			continue
		}
		i += j
		if keyLen(ext[i+1:]) > 0 {
			return i, i + 1
		}
		i++
	}
	return len(ext), len(ext)
}

// keyLen returns the length of the key at the start of b when b starts with
// key characters followed by "=", else 0. Keys are ASCII letters, digits and
// "_", "." and "-", which covers the CEF dictionary and vendor keys such as
// FTNTFGTlogid, layer_name and ad.X-ClientStatistics.
func keyLen(b []byte) int {
	n := 0
	for n < len(b) && isKeyChar(b[n]) {
		n++
	}
	if n == 0 || n >= len(b) || b[n] != '=' {
		return 0
	}
	return n
}

// decode undoes CEF escapes in one left-to-right pass, so that "\\n" yields a
// backslash and an "n", never a line feed. Header fields decode "\|" and
// "\\"; extension values also decode "\=", "\n" and "\r". Every other
// backslash sequence is kept as written. Values without a backslash are
// returned as they are.
func (r *Record) decode(v []byte, extension bool) []byte {
	if bytes.IndexByte(v, '\\') < 0 {
		return v
	}

	start := len(r.buf)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' || i+1 == len(v) {
			r.buf = append(r.buf, c)
			continue
		}
		switch next := v[i+1]; {
		case next == '\\' || next == '|':
			r.buf = append(r.buf, next)
		case extension && next == '=':
			r.buf = append(r.buf, '=')
		case extension && next == 'n':
			r.buf = append(r.buf, '\n')
		case extension && next == 'r':
			r.buf = append(r.buf, '\r')
		default:
			r.buf = append(r.buf, c, next)
		}
		i++
	}
	return r.buf[start:len(r.buf):len(r.buf)]
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isKeyChar(c byte) bool {
	return isAlnum(c) || c == '_' || c == '.' || c == '-'
}

// CutLine returns the first line of msg and the rest after its line feed.
// A raw line feed inside a CEF value ends the event, as line framing does
// in syslog transports, and the text after it is a line of its own.
func CutLine(msg []byte) (line, rest []byte) {
	if i := bytes.IndexByte(msg, '\n'); i >= 0 {
		return msg[:i], msg[i+1:]
	}
	return msg, nil
}

// RawValues finds, without parsing the line, every raw extension value
// whose key is Key: each place where Key and "=" follow the start of the
// extension or a blank, up to where the parser would end that value. It
// finds a superset of what ParseLine assigns to the key (a "key=" inside a
// header field is found too), which makes it a safe filter: a value that
// RawValues does not return cannot be one that ParseLine keeps. The values
// are raw: escapes are not decoded. Use it as an iterator with Next.
type RawValues struct {
	line   []byte
	key    string
	fold   bool // match the key without regard to ASCII case
	anchor int  // offset in key of the byte searched for
	from   int
	upper  bool // searching the upper-case anchor (second pass when fold)
}

// NewRawValues starts a search for key in line. key must be a non-empty
// CEF key; with fold, "REQUEST=" is found for "request".
func NewRawValues(line []byte, key string, fold bool) RawValues {
	return KeyFinder{key: key, anchor: anchorOffset(key)}.Values(line, fold)
}

// KeyFinder holds a key prepared for RawValues, so that a caller that
// searches many lines for one key prepares it once.
type KeyFinder struct {
	key    string
	anchor int
}

// NewKeyFinder prepares key, a non-empty CEF key.
func NewKeyFinder(key string) KeyFinder {
	return KeyFinder{key: key, anchor: anchorOffset(key)}
}

// Values starts a search for the finder's key in line.
func (k KeyFinder) Values(line []byte, fold bool) RawValues {
	return RawValues{line: line, key: k.key, fold: fold, anchor: k.anchor}
}

// Next returns the next raw value and true, or nil and false at the end.
func (r *RawValues) Next() ([]byte, bool) {
	for {
		c := r.key[r.anchor]
		if r.upper {
			c = upperASCII(c)
		}
		i := -1
		if r.from < len(r.line) {
			i = bytes.IndexByte(r.line[r.from:], c)
		}
		if i < 0 {
			if r.fold && !r.upper && upperASCII(c) != c {
				r.upper, r.from = true, 0
				continue
			}
			return nil, false
		}

		pos := r.from + i
		r.from = pos + 1
		start := pos - r.anchor
		end := start + len(r.key)
		if start < 0 || end >= len(r.line) || r.line[end] != '=' {
			continue
		}
		if start > 0 && r.line[start-1] != ' ' && r.line[start-1] != '|' {
			continue
		}
		if !r.keyAt(start) {
			continue
		}
		valueEnd, _ := scanValue(r.line, end+1)
		return r.line[end+1 : valueEnd], true
	}
}

func (r *RawValues) keyAt(start int) bool {
	candidate := r.line[start : start+len(r.key)]
	if r.fold {
		return equalFoldASCII(candidate, r.key)
	}
	return string(candidate) == r.key
}

// anchorOffset picks the byte of key to search for: the one least common in
// log text, so that IndexByte stops rarely. For "request" it is the "q".
func anchorOffset(key string) int {
	const common = "etaoinsrhldcumfpgwybvkxjqz" // most to least common in English
	best, bestRank := 0, -1
	for i := range len(key) {
		rank := bytes.IndexByte([]byte(common), lowerASCII(key[i]))
		if rank < 0 {
			return i // a digit or punctuation: rarer than any letter
		}
		if rank > bestRank {
			best, bestRank = i, rank
		}
	}
	return best
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}
