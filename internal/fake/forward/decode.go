package forwardpeer

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// Mode is the carrier mode of a forward message.
type Mode int

const (
	// MessageMode is [tag, time, record, option?].
	MessageMode Mode = iota + 1
	// ForwardMode is [tag, [[time, record], ...], option?].
	ForwardMode
	// PackedForwardMode is [tag, str|bin of concatenated entries, option?].
	PackedForwardMode
	// CompressedPackedForwardMode is PackedForward with gzip entries and
	// option compressed "gzip".
	CompressedPackedForwardMode
)

func (m Mode) String() string {
	switch m {
	case MessageMode:
		return "Message"
	case ForwardMode:
		return "Forward"
	case PackedForwardMode:
		return "PackedForward"
	case CompressedPackedForwardMode:
		return "CompressedPackedForward"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Message is one forward message as the peer received it.
type Message struct {
	Mode Mode
	Tag  string
	// Chunk is the chunk option, "" when the client asked for no ack.
	Chunk string
	// Size is the size option, -1 when absent.
	Size int
	// Compressed is the compressed option, "" when absent.
	Compressed string
	// BinaryEntries is true when PackedForward entries came as bin, false
	// when they came as str.
	BinaryEntries bool
	Entries       int
}

// Record is one event of a message.
type Record struct {
	Tag  string
	Time time.Time
	// EventTime is true when the time came as the EventTime extension,
	// false when it came as integer seconds.
	EventTime bool
	// Fields is the record as decoded by msgp: str values are string, bin
	// values []byte, integers int64 or uint64.
	Fields map[string]any
	// AlertID is the "alert_id" str of Fields, at the top or in a nested
	// map, or "".
	AlertID string
	Chunk   string
}

// decodeMessage decodes one message, already read as a generic value.
func decodeMessage(v any) (Message, []Record, error) {
	m := Message{Size: -1}
	arr, ok := v.([]any)
	if !ok || len(arr) < 2 || len(arr) > 4 {
		return m, nil, fmt.Errorf("expected an array of 2 to 4 elements, got %T", v)
	}
	tag, ok := arr[0].(string)
	if !ok {
		return m, nil, fmt.Errorf("tag is %T, not str", arr[0])
	}
	m.Tag = tag

	var entries [][2]any
	var optionAt int
	switch second := arr[1].(type) {
	case int64, uint64, msgp.Extension:
		if len(arr) < 3 {
			return m, nil, errors.New("message mode needs a record")
		}
		m.Mode = MessageMode
		entries = [][2]any{{second, arr[2]}}
		optionAt = 3
	case []any:
		m.Mode = ForwardMode
		for i, e := range second {
			pair, ok := e.([]any)
			if !ok || len(pair) != 2 {
				return m, nil, fmt.Errorf("entry %d is not [time, record]", i)
			}
			entries = append(entries, [2]any{pair[0], pair[1]})
		}
		optionAt = 2
	case string:
		m.Mode = PackedForwardMode
		optionAt = 2
	case []byte:
		m.Mode = PackedForwardMode
		m.BinaryEntries = true
		optionAt = 2
	default:
		return m, nil, fmt.Errorf("cannot tell the mode from a second element of type %T", second)
	}

	if err := decodeOption(&m, arr, optionAt); err != nil {
		return m, nil, err
	}

	if m.Mode == PackedForwardMode {
		var err error
		if entries, err = unpackEntries(&m, arr[1]); err != nil {
			return m, nil, err
		}
	}

	records := make([]Record, 0, len(entries))
	for i, e := range entries {
		r, err := decodeEntry(tag, m.Chunk, e)
		if err != nil {
			return m, nil, fmt.Errorf("entry %d: %w", i, err)
		}
		records = append(records, r)
	}
	m.Entries = len(records)
	return m, records, nil
}

// decodeOption reads the option map at arr[at], if any.
func decodeOption(m *Message, arr []any, at int) error {
	if at >= len(arr) || arr[at] == nil {
		return nil
	}
	option, ok := arr[at].(map[string]any)
	if !ok {
		return fmt.Errorf("option is %T, not a map", arr[at])
	}
	if c, ok := option["chunk"]; ok {
		// Fluent Bit's in_forward rejects a chunk that is not a str.
		s, ok := c.(string)
		if !ok {
			return fmt.Errorf("chunk option is %T, not str", c)
		}
		m.Chunk = s
	}
	if n, ok := option["size"]; ok {
		switch n := n.(type) {
		case int64:
			m.Size = int(n)
		case uint64:
			m.Size = int(n)
		default:
			return fmt.Errorf("size option is %T, not an integer", n)
		}
	}
	if c, ok := option["compressed"].(string); ok {
		m.Compressed = c
	}
	return nil
}

// unpackEntries splits the entries of a PackedForward message, after
// gunzipping them when the compressed option is gzip.
func unpackEntries(m *Message, blob any) ([][2]any, error) {
	var data []byte
	switch b := blob.(type) {
	case string:
		data = []byte(b)
	case []byte:
		data = b
	}

	if m.Compressed == "gzip" {
		if !m.BinaryEntries {
			return nil, errors.New("compressed entries must be bin")
		}
		m.Mode = CompressedPackedForwardMode
		// gzip.Reader reads concatenated gzip members, which the protocol
		// allows.
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gunzip entries: %w", err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("gunzip entries: %w", err)
		}
	}

	var entries [][2]any
	for len(data) > 0 {
		v, rest, err := msgp.ReadIntfBytes(data)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", len(entries), err)
		}
		data = rest
		pair, ok := v.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("entry %d is not [time, record]", len(entries))
		}
		entries = append(entries, [2]any{pair[0], pair[1]})
	}
	return entries, nil
}

func decodeEntry(tag, chunk string, e [2]any) (Record, error) {
	r := Record{Tag: tag, Chunk: chunk}
	switch t := e[0].(type) {
	case int64:
		r.Time = time.Unix(t, 0).UTC()
	case uint64:
		r.Time = time.Unix(int64(t), 0).UTC()
	case msgp.Extension:
		// msgp decodes an extension as *msgp.RawExtension, or as the type
		// that a package in the binary registered for it.
		if t.ExtensionType() != 0 || t.Len() != 8 {
			return r, fmt.Errorf("time is extension type %d of %d bytes, not EventTime", t.ExtensionType(), t.Len())
		}
		data := make([]byte, 8)
		if err := t.MarshalBinaryTo(data); err != nil {
			return r, fmt.Errorf("time: %w", err)
		}
		sec := binary.BigEndian.Uint32(data[:4])
		nsec := binary.BigEndian.Uint32(data[4:])
		r.Time = time.Unix(int64(sec), int64(nsec)).UTC()
		r.EventTime = true
	default:
		return r, fmt.Errorf("time is %T, neither an integer nor EventTime", e[0])
	}

	fields, ok := e[1].(map[string]any)
	if !ok {
		return r, fmt.Errorf("record is %T, not a map", e[1])
	}
	r.Fields = fields
	r.AlertID = findAlertID(fields)
	return r, nil
}

// findAlertID returns the "alert_id" str at the top of m, as in the native
// shape, or else one found in a nested map, as under runningrat in ECS.
func findAlertID(m map[string]any) string {
	if id, ok := m["alert_id"].(string); ok {
		return id
	}
	for _, v := range m {
		if sub, ok := v.(map[string]any); ok {
			if id := findAlertID(sub); id != "" {
				return id
			}
		}
	}
	return ""
}
