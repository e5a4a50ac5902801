package chunk

import (
	"encoding/binary"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// Layout is the shape of a chunk entry.
type Layout uint8

const (
	// LayoutV2 is [[timestamp, metadata], record], written by Fluent Bit 2.x and later.
	LayoutV2 Layout = iota
	// LayoutV1 is [timestamp, record], passed through by in_forward.
	LayoutV1
)

// TimeFormat is the msgpack type of an entry's timestamp.
type TimeFormat uint8

const (
	EventTime    TimeFormat = iota // ext type 0, seconds and nanoseconds
	IntSeconds                     // integer seconds
	FloatSeconds                   // float64 seconds
)

// Encoder writes chunk entries as Fluent Bit inputs do. The plugin itself
// only reads chunks; the encoder serves the host program and the tests.
type Encoder struct {
	Layout Layout
	Time   TimeFormat
	// Binary writes keys and values as msgpack bin instead of str.
	Binary bool
	// Map32Metadata writes the empty metadata map as map32, as in_forward's
	// message mode and Fluent Bit v5.1.1's in_tail do, instead of a fixmap.
	Map32Metadata bool
	// Map32Record writes the record map as map32, as Fluent Bit v5.1.1's
	// in_tail does, instead of the shortest map header.
	Map32Record bool
}

// TailEncoder is the Encoder that writes entries byte for byte as Fluent Bit v5.1.1's in_tail
// hands them to an output: [[EventTime, map32 {}], map32 record].
var TailEncoder = Encoder{Map32Metadata: true, Map32Record: true}

// Append appends one entry whose record maps keys[i] to values[i].
func (enc Encoder) Append(dst []byte, t time.Time, keys, values []string) []byte {
	dst = msgp.AppendArrayHeader(dst, 2)
	if enc.Layout == LayoutV2 {
		dst = msgp.AppendArrayHeader(dst, 2)
		dst = enc.appendTime(dst, t)
		if enc.Map32Metadata {
			dst = append(dst, 0xdf, 0, 0, 0, 0)
		} else {
			dst = msgp.AppendMapHeader(dst, 0)
		}
	} else {
		dst = enc.appendTime(dst, t)
	}

	if enc.Map32Record {
		dst = append(dst, 0xdf)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(keys)))
	} else {
		dst = msgp.AppendMapHeader(dst, uint32(len(keys)))
	}
	for i := range keys {
		dst = enc.appendText(dst, keys[i])
		dst = enc.appendText(dst, values[i])
	}
	return dst
}

func (enc Encoder) appendTime(dst []byte, t time.Time) []byte {
	switch enc.Time {
	case IntSeconds:
		return msgp.AppendInt64(dst, t.Unix())
	case FloatSeconds:
		return msgp.AppendFloat64(dst, float64(t.UnixNano())/1e9)
	}
	dst = append(dst, 0xd7, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond()))
}

func (enc Encoder) appendText(dst []byte, s string) []byte {
	if enc.Binary {
		return msgp.AppendBytes(dst, []byte(s))
	}
	return msgp.AppendString(dst, s)
}
