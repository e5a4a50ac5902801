package chunk

import (
	"fmt"
	"strconv"

	"github.com/tinylib/msgp/msgp"
)

// Kind is the msgpack family of a record value.
type Kind uint8

// Kinds of record values. Str and bin are both Text: Fluent Bit inputs use
// either for the same line.
const (
	Text Kind = iota
	Int
	Uint
	Float
	Bool
	Nil
	Other // array, map or extension: kept as raw msgpack
)

// Value is one record value. Bytes holds the text of a Text value and the raw
// msgpack of an Other value; both borrow from the chunk.
type Value struct {
	Kind  Kind
	Bytes []byte
	Int   int64
	Uint  uint64
	Float float64
	Bool  bool
}

// AppendText appends the value as a log column would show it: text as is,
// numbers in decimal, booleans as true or false, nil as nothing. Arrays, maps
// and extensions are not columns of a CEF record and append nothing.
func (v Value) AppendText(dst []byte) []byte {
	switch v.Kind {
	case Text:
		return append(dst, v.Bytes...)
	case Int:
		return strconv.AppendInt(dst, v.Int, 10)
	case Uint:
		return strconv.AppendUint(dst, v.Uint, 10)
	case Float:
		return strconv.AppendFloat(dst, v.Float, 'g', -1, 64)
	case Bool:
		return strconv.AppendBool(dst, v.Bool)
	}
	return dst
}

// Fields iterates over the key/value pairs of a raw msgpack map.
type Fields struct {
	rest []byte
	left uint32
	err  error
}

// NewFields starts an iteration over record, a raw msgpack map such as
// Entry.Record.
func NewFields(record []byte) Fields {
	if header, pairs, ok := mapHeader(record); ok {
		return Fields{rest: record[header:], left: uint32(pairs)}
	}
	n, rest, err := msgp.ReadMapHeaderBytes(record)
	return Fields{rest: rest, left: n, err: err}
}

// Next returns the next pair. A key that is neither str nor bin comes back
// as nil, so that the caller can ignore it. ok is false at the end of the
// map or after a decoding error (see Err).
func (f *Fields) Next() (key []byte, value Value, ok bool) {
	if f.err != nil || f.left == 0 {
		return nil, Value{}, false
	}
	f.left--

	key, f.rest, f.err = readText(f.rest)
	if f.err != nil {
		return nil, Value{}, false
	}
	value, f.rest, f.err = readValue(f.rest)
	if f.err != nil {
		return nil, Value{}, false
	}
	return key, value, true
}

// NextText is Next for a caller that reads only text, without copying a
// Value per pair: it returns the next pair's key and, when the value is a
// str or bin, its text with isText set. Other values are skipped.
func (f *Fields) NextText() (key, text []byte, isText, ok bool) {
	if f.err != nil || f.left == 0 {
		return nil, nil, false, false
	}
	f.left--

	key, f.rest, f.err = readText(f.rest)
	if f.err != nil {
		return nil, nil, false, false
	}
	if text, rest, ok := fastText(f.rest); ok {
		f.rest = rest
		return key, text, true, true
	}
	var v Value
	v, f.rest, f.err = readValueSlow(f.rest)
	if f.err != nil {
		return nil, nil, false, false
	}
	if v.Kind != Text {
		return key, nil, false, true
	}
	return key, v.Bytes, true, true
}

// Err returns the error that ended the iteration early, if any.
func (f *Fields) Err() error {
	return f.err
}

// readText reads a str or bin. Any other type is skipped and yields nil.
func readText(b []byte) ([]byte, []byte, error) {
	if text, rest, ok := fastText(b); ok {
		return text, rest, nil
	}
	return readTextSlow(b)
}

// readTextSlow is readText through msgp's decoder alone.
func readTextSlow(b []byte) ([]byte, []byte, error) {
	switch msgp.NextType(b) {
	case msgp.StrType:
		return msgp.ReadStringZC(b)
	case msgp.BinType:
		return msgp.ReadBytesZC(b)
	}
	rest, err := msgp.Skip(b)
	return nil, rest, err
}

func readValue(b []byte) (Value, []byte, error) {
	if text, rest, ok := fastText(b); ok {
		return Value{Kind: Text, Bytes: text}, rest, nil
	}
	return readValueSlow(b)
}

// readValueSlow is readValue through msgp's decoder alone.
func readValueSlow(b []byte) (Value, []byte, error) {
	var v Value
	var err error
	rest := b

	switch t := msgp.NextType(b); t {
	case msgp.StrType:
		v.Bytes, rest, err = msgp.ReadStringZC(b)
	case msgp.BinType:
		v.Bytes, rest, err = msgp.ReadBytesZC(b)
	case msgp.IntType:
		v.Kind = Int
		v.Int, rest, err = msgp.ReadInt64Bytes(b)
	case msgp.UintType:
		v.Kind = Uint
		v.Uint, rest, err = msgp.ReadUint64Bytes(b)
	case msgp.Float32Type, msgp.Float64Type:
		v.Kind = Float
		v.Float, rest, err = msgp.ReadFloat64Bytes(b)
	case msgp.BoolType:
		v.Kind = Bool
		v.Bool, rest, err = msgp.ReadBoolBytes(b)
	case msgp.NilType:
		v.Kind = Nil
		rest, err = msgp.ReadNilBytes(b)
	case msgp.InvalidType:
		err = fmt.Errorf("invalid msgpack byte 0x%02x", firstByte(b))
	default:
		v.Kind = Other
		rest, err = msgp.Skip(b)
		if err == nil {
			v.Bytes = b[:len(b)-len(rest)]
		}
	}
	return v, rest, err
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
