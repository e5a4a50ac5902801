package forward

import (
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	jsoniter "github.com/json-iterator/go"
	"github.com/tinylib/msgp/msgp"

	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
)

// maxEntriesBytes bounds the uncompressed entries of one message. Fluent
// Bit's in_forward drops the connection on a message larger than its
// buffer_max_size, 6,144,000 bytes by default, and a dropped connection
// would be retried forever.
const maxEntriesBytes = 4 << 20

// entry is one alert encoded as a forward Entry, [EventTime, record].
type entry struct {
	index int // position of the alert in the batch
	data  []byte
}

// message is one PackedForward message and the alerts it carries.
type message struct {
	indices []int
	chunk   string // "" when no ack is requested
	data    []byte
}

// encodeEntry appends alert a as an Entry whose record has shape f.
func encodeEntry(dst []byte, f format.Format, a *detect.Alert) ([]byte, error) {
	t, err := time.Parse(time.RFC3339Nano, a.Timestamp)
	if err != nil {
		return dst, fmt.Errorf("invalid @timestamp %q of alert %s: expected RFC 3339", a.Timestamp, a.ID)
	}
	if t.Unix() < 0 || t.Unix() > math.MaxUint32 {
		return dst, fmt.Errorf("invalid @timestamp %s of alert %s: a forward EventTime only holds the years 1970 to 2106", a.Timestamp, a.ID)
	}

	doc, err := format.AppendJSON(nil, f, a)
	if err != nil {
		return dst, fmt.Errorf("encode alert %s: %w", a.ID, err)
	}

	dst = msgp.AppendArrayHeader(dst, 2)
	dst = appendEventTime(dst, t)
	return appendJSONAsMsgpack(dst, doc)
}

// appendEventTime appends t as the forward protocol's EventTime: extension
// type 0 in a fixext8, big-endian uint32 seconds then uint32 nanoseconds.
func appendEventTime(dst []byte, t time.Time) []byte {
	dst = append(dst, 0xd7, 0x00)
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond()))
}

// appendJSONAsMsgpack appends the JSON value doc as msgpack. Object keys keep
// their order, so that the same alert always gives the same bytes and the
// same chunk id. Strings become str, integers int or uint, other numbers
// float64.
func appendJSONAsMsgpack(dst []byte, doc []byte) ([]byte, error) {
	it := jsoniter.ConfigDefault.BorrowIterator(doc)
	defer jsoniter.ConfigDefault.ReturnIterator(it)

	dst = appendJSONValue(dst, it)
	if it.Error != nil && !errors.Is(it.Error, io.EOF) {
		return dst, fmt.Errorf("convert record to msgpack: %w", it.Error)
	}
	return dst, nil
}

func appendJSONValue(dst []byte, it *jsoniter.Iterator) []byte {
	switch it.WhatIsNext() {
	case jsoniter.StringValue:
		return msgp.AppendString(dst, it.ReadString())
	case jsoniter.NumberValue:
		return appendJSONNumber(dst, string(it.ReadNumber()))
	case jsoniter.BoolValue:
		return msgp.AppendBool(dst, it.ReadBool())
	case jsoniter.NilValue:
		it.ReadNil()
		return msgp.AppendNil(dst)
	case jsoniter.ArrayValue:
		// msgpack writes the length first, so the elements go to a
		// buffer of their own until they are counted.
		var body []byte
		n := uint32(0)
		it.ReadArrayCB(func(it *jsoniter.Iterator) bool {
			body = appendJSONValue(body, it)
			n++
			return it.Error == nil
		})
		return append(msgp.AppendArrayHeader(dst, n), body...)
	case jsoniter.ObjectValue:
		var body []byte
		n := uint32(0)
		it.ReadMapCB(func(it *jsoniter.Iterator, key string) bool {
			body = msgp.AppendString(body, key)
			body = appendJSONValue(body, it)
			n++
			return it.Error == nil
		})
		return append(msgp.AppendMapHeader(dst, n), body...)
	}
	it.ReportError("convert record to msgpack", "invalid JSON value")
	return dst
}

func appendJSONNumber(dst []byte, s string) []byte {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return msgp.AppendInt64(dst, i)
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return msgp.AppendUint64(dst, u)
		}
	}
	f, _ := strconv.ParseFloat(s, 64) // JSON numbers always parse; a huge one becomes ±Inf
	return msgp.AppendFloat64(dst, f)
}

// chunkID derives the chunk option from the tag and the uncompressed
// entries: base64 of the first 128 bits of their SHA-512, the size the
// protocol gives a chunk id. A resend of the same alerts carries the same
// id, as Fluent Bit's own out_forward does.
func chunkID(tag string, entries []byte) string {
	h := sha512.New()
	h.Write([]byte(tag))
	h.Write([]byte{0})
	h.Write(entries)
	sum := h.Sum(nil)
	return base64.StdEncoding.EncodeToString(sum[:16])
}

// group splits the entries into runs of at most batchSize entries and
// maxEntriesBytes bytes. An entry larger than maxEntriesBytes goes alone.
func group(entries []entry, batchSize int) [][]entry {
	var groups [][]entry
	start, size := 0, 0
	for i, e := range entries {
		full := i-start == batchSize || (i > start && size+len(e.data) > maxEntriesBytes)
		if full {
			groups = append(groups, entries[start:i])
			start, size = i, 0
		}
		size += len(e.data)
	}
	if start < len(entries) {
		groups = append(groups, entries[start:])
	}
	return groups
}

// buildMessage encodes entries as one PackedForward message, or as a
// CompressedPackedForward message when compress is set:
// [tag, bin entries, {"chunk": id, "size": n, "compressed": "gzip"}].
// The chunk option is there only when ack is set.
func buildMessage(tag string, entries []entry, ack, compress bool) (message, error) {
	m := message{indices: make([]int, len(entries))}
	var blob []byte
	for i, e := range entries {
		m.indices[i] = e.index
		blob = append(blob, e.data...)
	}
	if ack {
		m.chunk = chunkID(tag, blob)
	}

	if compress {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(blob); err != nil {
			return m, fmt.Errorf("gzip %d alerts: %w", len(entries), err)
		}
		if err := zw.Close(); err != nil {
			return m, fmt.Errorf("gzip %d alerts: %w", len(entries), err)
		}
		blob = buf.Bytes()
	}

	options := uint32(1)
	if ack {
		options++
	}
	if compress {
		options++
	}

	data := msgp.AppendArrayHeader(nil, 3)
	data = msgp.AppendString(data, tag)
	data = msgp.AppendBytes(data, blob)
	data = msgp.AppendMapHeader(data, options)
	if ack {
		data = msgp.AppendString(data, "chunk")
		data = msgp.AppendString(data, m.chunk)
	}
	data = msgp.AppendString(data, "size")
	data = msgp.AppendInt(data, len(entries))
	if compress {
		data = msgp.AppendString(data, "compressed")
		data = msgp.AppendString(data, "gzip")
	}
	m.data = data
	return m, nil
}
