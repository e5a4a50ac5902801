// Package chunk walks the msgpack chunks that Fluent Bit hands to an output
// plugin's flush callback, without copying them and without reflection.
//
// A chunk is a concatenation of entries. Fluent Bit 2.x and later write each
// entry as [[timestamp, metadata], record]; in_forward passes PackedForward
// data through in the older layout [timestamp, record]. The timestamp is an
// EventTime (msgpack ext type 0: big-endian uint32 seconds and uint32
// nanoseconds), an integer or a float number of seconds. Keys and values may
// be msgpack str or bin.
//
// Every byte slice that this package returns points into the chunk, which
// Fluent Bit frees when the flush returns: callers copy what they keep.
package chunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// Entry is one decoded event of a chunk. Metadata and Record are the raw
// msgpack maps, borrowed from the chunk.
type Entry struct {
	Index    int // position of the entry in its chunk, counted from 0
	Time     time.Time
	Metadata []byte // nil in the [timestamp, record] layout
	Record   []byte
}

// Reader iterates over the entries of one chunk. A malformed entry whose
// extent is still known is reported through Next's error and skipped, so
// that one bad record never hides the rest of the chunk.
type Reader struct {
	rest  []byte
	index int
	err   error
	// slow turns off the fast path, so that tests can compare both.
	slow bool
}

// ErrTruncated reports a chunk that ends inside an entry. Nothing after that
// point can be located, so the Reader stops.
var ErrTruncated = errors.New("chunk ends inside an entry")

// NewReader returns a Reader over data, which must stay valid while the
// Reader and the entries it returns are in use.
func NewReader(data []byte) *Reader {
	return &Reader{rest: data}
}

// Reset makes r read data from its start, so that one Reader can serve
// many chunks without allocating.
func (r *Reader) Reset(data []byte) {
	*r = Reader{rest: data}
}

// Next decodes the next entry into e. It returns false when the chunk is
// exhausted or can no longer be walked (see Err). A non-nil error with a
// true result means that entry e.Index was malformed and skipped: the caller
// logs it and calls Next again.
//
// Group markers, the entries that open and close a group of records that
// share metadata, are skipped as Fluent Bit's own decoder skips them.
func (r *Reader) Next(e *Entry) (bool, error) {
	for r.err == nil && len(r.rest) > 0 {
		if n, ok := fastEntry(r.rest, e); ok && !r.slow {
			e.Index = r.index
			r.index++
			r.rest = r.rest[n:]
			return true, nil
		}

		ok, err := r.decodeNext(e)
		if !ok || err != nil || !isGroupMarker(e.Time) {
			return ok, err
		}
	}
	return false, nil
}

// decodeNext is Next through msgp's decoder, for the entries that fastEntry
// leaves: other shapes, malformed entries and group markers.
func (r *Reader) decodeNext(e *Entry) (bool, error) {
	raw := r.rest
	after, err := msgp.Skip(raw)
	if err != nil {
		r.err = fmt.Errorf("entry %d: %w (%d bytes left)", r.index, ErrTruncated, len(raw))
		return false, nil
	}
	r.rest = after
	raw = raw[:len(raw)-len(after)]

	index := r.index
	r.index++
	*e = Entry{Index: index}
	if err := decodeEntry(raw, e); err != nil {
		return true, fmt.Errorf("entry %d: %w", index, err)
	}
	return true, nil
}

// isGroupMarker reports whether t is the timestamp of a group marker: -1
// (group start) or -2 (group end), written as an integer or, by Fluent Bit
// v5's encoder, as EventTime seconds 0xffffffff and 0xfffffffe with no
// nanoseconds. Inputs such as OpenTelemetry write these markers around
// records that share resource and scope attributes.
func isGroupMarker(t time.Time) bool {
	if t.Nanosecond() != 0 {
		return false
	}
	switch t.Unix() {
	case -1, -2, math.MaxUint32, math.MaxUint32 - 1:
		return true
	}
	return false
}

// Err returns the error that stopped the walk early, or nil when the whole
// chunk was read.
func (r *Reader) Err() error {
	return r.err
}

func decodeEntry(raw []byte, e *Entry) error {
	n, b, err := msgp.ReadArrayHeaderBytes(raw)
	if err != nil {
		return fmt.Errorf("entry is not an array: %w", err)
	}
	if n != 2 {
		return fmt.Errorf("entry array has %d elements, expected 2", n)
	}

	if msgp.NextType(b) == msgp.ArrayType {
		// Fluent Bit 2.x layout: [[timestamp, metadata], record].
		var header uint32
		header, b, err = msgp.ReadArrayHeaderBytes(b)
		if err != nil {
			return err
		}
		if header < 1 {
			return errors.New("entry header array is empty")
		}
		e.Time, b, err = readTimestamp(b)
		if err != nil {
			return err
		}
		if header >= 2 {
			start := b
			b, err = msgp.Skip(b)
			if err != nil {
				return fmt.Errorf("metadata: %w", err)
			}
			e.Metadata = start[:len(start)-len(b)]
		}
		for i := uint32(2); i < header; i++ {
			if b, err = msgp.Skip(b); err != nil {
				return err
			}
		}
	} else {
		e.Time, b, err = readTimestamp(b)
		if err != nil {
			return err
		}
	}

	if msgp.NextType(b) != msgp.MapType {
		return fmt.Errorf("record is %s, expected a map", msgp.NextType(b))
	}
	e.Record = b
	return nil
}

// readTimestamp decodes an EventTime, an integer or a float timestamp.
func readTimestamp(b []byte) (time.Time, []byte, error) {
	if len(b) == 0 {
		return time.Time{}, b, msgp.ErrShortBytes
	}

	switch msgp.NextType(b) {
	case msgp.IntType:
		sec, rest, err := msgp.ReadInt64Bytes(b)
		return time.Unix(sec, 0).UTC(), rest, err
	case msgp.UintType:
		sec, rest, err := msgp.ReadUint64Bytes(b)
		if sec > math.MaxInt64 {
			return time.Time{}, b, fmt.Errorf("timestamp %d out of range", sec)
		}
		return time.Unix(int64(sec), 0).UTC(), rest, err
	case msgp.Float64Type, msgp.Float32Type:
		f, rest, err := msgp.ReadFloat64Bytes(b)
		if err != nil {
			return time.Time{}, b, err
		}
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<62/1e9 {
			return time.Time{}, b, fmt.Errorf("float timestamp %g out of range", f)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), rest, nil
	}

	// EventTime: fixext8 (d7) or ext8 (c7 08) with type 0.
	var payload []byte
	switch {
	case b[0] == 0xd7 && len(b) >= 10 && b[1] == 0:
		payload, b = b[2:10], b[10:]
	case b[0] == 0xc7 && len(b) >= 11 && b[1] == 8 && b[2] == 0:
		payload, b = b[3:11], b[11:]
	default:
		return time.Time{}, b, fmt.Errorf("timestamp has type %s, expected EventTime, integer or float", msgp.NextType(b))
	}
	sec := binary.BigEndian.Uint32(payload[:4])
	nsec := binary.BigEndian.Uint32(payload[4:])
	if nsec >= 1e9 {
		return time.Time{}, b, fmt.Errorf("EventTime nanoseconds %d out of range", nsec)
	}
	return time.Unix(int64(sec), int64(nsec)).UTC(), b, nil
}
