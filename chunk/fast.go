package chunk

import (
	"encoding/binary"
	"math"
	"time"
)

// The functions here decode the shapes that nearly every chunk holds, such as
// in_tail's [[EventTime, {}], {"log": "..."}], with plain byte tests in place
// of msgp's general decoder. Each one reports false for anything else, from
// a nested map to a length that runs past the buffer, and the caller then
// takes msgp's path, which decodes or rejects it. Both paths give the same
// results: the fast path only saves time.

// strHeader returns the header length and payload length of a msgpack str or
// bin value at the start of b, or false for another type or a short buffer.
func strHeader(b []byte) (header, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c >= 0xa0 && c <= 0xbf: // fixstr
		header, n = 1, int(c&0x1f)
	case (c == 0xd9 || c == 0xc4) && len(b) >= 2: // str8, bin8
		header, n = 2, int(b[1])
	case (c == 0xda || c == 0xc5) && len(b) >= 3: // str16, bin16
		header, n = 3, int(binary.BigEndian.Uint16(b[1:]))
	case (c == 0xdb || c == 0xc6) && len(b) >= 5: // str32, bin32
		header, n = 5, int(binary.BigEndian.Uint32(b[1:]))
	default:
		return 0, 0, false
	}
	if n > len(b)-header {
		return 0, 0, false
	}
	return header, n, true
}

// fastText returns the str or bin value at the start of b and the bytes
// after it.
func fastText(b []byte) (text, rest []byte, ok bool) {
	header, n, ok := strHeader(b)
	if !ok {
		return nil, nil, false
	}
	return b[header : header+n], b[header+n:], true
}

// fastScalarLen returns the length of the positive fixint, str or bin value at
// the start of b, the values a log record's map is made of.
func fastScalarLen(b []byte) (int, bool) {
	if len(b) > 0 && b[0] <= 0x7f {
		return 1, true
	}
	header, n, ok := strHeader(b)
	return header + n, ok
}

// mapHeader returns the header length and pair count of a msgpack map at
// the start of b. Fluent Bit v5 writes records and metadata as map32 (df),
// other encoders the shortest form.
func mapHeader(b []byte) (header, pairs int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c >= 0x80 && c <= 0x8f: // fixmap
		return 1, int(c & 0x0f), true
	case c == 0xde && len(b) >= 3: // map16
		return 3, int(binary.BigEndian.Uint16(b[1:])), true
	case c == 0xdf && len(b) >= 5: // map32
		return 5, int(binary.BigEndian.Uint32(b[1:])), true
	}
	return 0, 0, false
}

// fastMapLen returns the length of the map at the start of b when its keys
// and values are fixints, strs and bins.
func fastMapLen(b []byte) (int, bool) {
	pos, pairs, ok := mapHeader(b)
	if !ok || pairs > len(b) {
		return 0, false
	}
	for range 2 * pairs {
		n, ok := fastScalarLen(b[pos:])
		if !ok {
			return 0, false
		}
		pos += n
	}
	return pos, true
}

// fastEntry decodes an entry in Fluent Bit's layout [[EventTime, metadata],
// record] whose metadata is an empty map and whose record fastMapLen can
// measure. It returns the entry's length.
func fastEntry(b []byte, e *Entry) (int, bool) {
	// 0x92 0x92: two arrays of two; 0xd7 0x00: fixext8 of type 0, EventTime.
	if len(b) < 14 || b[0] != 0x92 || b[1] != 0x92 || b[2] != 0xd7 || b[3] != 0x00 {
		return 0, false
	}
	sec := binary.BigEndian.Uint32(b[4:8])
	nsec := binary.BigEndian.Uint32(b[8:12])
	if nsec >= 1e9 || nsec == 0 && sec >= math.MaxUint32-1 {
		return 0, false // out of range, or a group marker for the slow path
	}

	pos := 12
	switch {
	case b[pos] == 0x80: // fixmap of 0
		pos++
	case b[pos] == 0xdf && len(b) >= pos+5 && binary.BigEndian.Uint32(b[pos+1:]) == 0: // map32 of 0
		pos += 5
	default:
		return 0, false
	}
	metadata := b[12:pos]

	n, ok := fastMapLen(b[pos:])
	if !ok {
		return 0, false
	}
	e.Time = time.Unix(int64(sec), int64(nsec)).UTC()
	e.Metadata = metadata
	e.Record = b[pos : pos+n]
	return pos + n, true
}

// SingleText returns the key and text of record when it is a map of one pair
// whose key and value are str or bin: the records of in_tail without a
// parser, {"log": line}. It reports false for any other record, which the
// caller then reads with NewFields.
func SingleText(record []byte) (key, text []byte, ok bool) {
	header, pairs, ok := mapHeader(record)
	if !ok || pairs != 1 {
		return nil, nil, false
	}
	key, rest, ok := fastText(record[header:])
	if !ok {
		return nil, nil, false
	}
	text, _, ok = fastText(rest)
	if !ok {
		return nil, nil, false
	}
	return key, text, true
}
