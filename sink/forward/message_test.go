package forward

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tinylib/msgp/msgp"

	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
)

func testAlert(id string) detect.Alert {
	return detect.Alert{
		Timestamp: "2026-03-01T12:30:45.123456789Z",
		ID:        id,
		Rule:      detect.RuleRef{ID: "rule-1", Name: "RunningRAT beacon", Version: "1.0.0", Severity: "High"},
		Verdict:   "exact",
		Event: detect.Columns{
			{Name: "TimeGenerated", Value: "2026-03-01T12:30:45.123456789Z"},
			{Name: "RequestURL", Value: "http://bad.example/ui/chk?a=1&b=2"},
			{Name: "SourceIP", Value: "10.0.0.5"},
		},
		Tags:     []string{"POLONIUM"},
		Entities: []detect.Entity{},
	}
}

// mapKeys returns the keys of the msgpack map at the start of b, in order.
func mapKeys(t *testing.T, b []byte) []string {
	t.Helper()
	n, rest, err := msgp.ReadMapHeaderBytes(b)
	require.NoError(t, err)
	keys := make([]string, 0, n)
	for range n {
		var key []byte
		key, rest, err = msgp.ReadMapKeyZC(rest)
		require.NoError(t, err)
		keys = append(keys, string(key))
		rest, err = msgp.Skip(rest)
		require.NoError(t, err)
	}
	return keys
}

func TestEncodeEntryShape(t *testing.T) {
	a := testAlert("a1")
	b, err := encodeEntry(nil, format.Native, &a)
	require.NoError(t, err)

	n, rest, err := msgp.ReadArrayHeaderBytes(b)
	require.NoError(t, err)
	assert.Equal(t, uint32(2), n)
	assert.Equal(t, []byte{0xd7, 0x00}, rest[:2], "time is a fixext8 of type 0")
	want := time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)
	assert.Equal(t, uint32(want.Unix()), binary.BigEndian.Uint32(rest[2:6]), "seconds")
	assert.Equal(t, uint32(123456789), binary.BigEndian.Uint32(rest[6:10]), "nanoseconds")

	record := rest[10:]
	assert.Equal(t, []string{"@timestamp", "alert_id", "rule", "verdict", "extended_reasons", "indicators", "mitre", "tags", "event", "entities", "fluentbit"},
		mapKeys(t, record), "keys keep the order of the native JSON")
	assert.Equal(t, msgp.StrType, msgp.NextType(record[1+len("@timestamp")+1:]), "strings are str, not bin")

	v, tail, err := msgp.ReadIntfBytes(record)
	require.NoError(t, err)
	assert.Empty(t, tail)
	fields := v.(map[string]any)
	assert.Equal(t, "a1", fields["alert_id"])
	event := fields["event"].(map[string]any)
	assert.Equal(t, "http://bad.example/ui/chk?a=1&b=2", event["RequestURL"])
}

func TestEncodeEntryColumnsKeepOrder(t *testing.T) {
	a := testAlert("a1")
	b, err := encodeEntry(nil, format.Native, &a)
	require.NoError(t, err)

	_, rest, err := msgp.ReadArrayHeaderBytes(b)
	require.NoError(t, err)
	rest, err = msgp.Skip(rest) // the time
	require.NoError(t, err)
	n, rest, err := msgp.ReadMapHeaderBytes(rest)
	require.NoError(t, err)
	for range n {
		var key []byte
		key, rest, err = msgp.ReadMapKeyZC(rest)
		require.NoError(t, err)
		if string(key) == "event" {
			assert.Equal(t, []string{"TimeGenerated", "RequestURL", "SourceIP"}, mapKeys(t, rest))
			return
		}
		rest, err = msgp.Skip(rest)
		require.NoError(t, err)
	}
	t.Fatal("no event key in the record")
}

func TestEncodeEntryRejectsBadTimestamp(t *testing.T) {
	for _, ts := range []string{"", "yesterday", "1969-12-31T23:59:59Z", "2107-01-01T00:00:00Z"} {
		t.Run(ts, func(t *testing.T) {
			a := testAlert("a1")
			a.Timestamp = ts
			_, err := encodeEntry(nil, format.Native, &a)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "a1")
		})
	}
}

func TestJSONNumbersBecomeMsgpackNumbers(t *testing.T) {
	cases := []struct {
		json string
		want any
	}{
		{"47", int64(47)},
		{"-3", int64(-3)},
		{"18446744073709551615", uint64(18446744073709551615)},
		{"1.5", 1.5},
		{"1e3", 1000.0},
	}
	for _, c := range cases {
		t.Run(c.json, func(t *testing.T) {
			b, err := appendJSONAsMsgpack(nil, []byte(c.json))
			require.NoError(t, err)
			v, _, err := msgp.ReadIntfBytes(b)
			require.NoError(t, err)
			assert.Equal(t, c.want, v)
		})
	}
}

func TestJSONConversionKeepsNestedValues(t *testing.T) {
	b, err := appendJSONAsMsgpack(nil, []byte(`{"z":{"b":[1,"x",null,true],"a":{}},"a":""}`))
	require.NoError(t, err)
	assert.Equal(t, []string{"z", "a"}, mapKeys(t, b))
	v, _, err := msgp.ReadIntfBytes(b)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"z": map[string]any{"b": []any{int64(1), "x", nil, true}, "a": map[string]any{}},
		"a": "",
	}, v)
}

func TestJSONConversionRejectsBrokenJSON(t *testing.T) {
	_, err := appendJSONAsMsgpack(nil, []byte(`{"a":`))
	assert.Error(t, err)
}

func TestChunkIDIsStableAndContentBound(t *testing.T) {
	id := chunkID("tag", []byte("entries"))
	assert.Equal(t, id, chunkID("tag", []byte("entries")))
	assert.NotEqual(t, id, chunkID("tag", []byte("entries2")))
	assert.NotEqual(t, id, chunkID("tag2", []byte("entries")))
	assert.Len(t, id, 24, "base64 of 16 bytes")
}

func entriesOfSize(sizes ...int) []entry {
	out := make([]entry, len(sizes))
	for i, n := range sizes {
		out[i] = entry{index: i, data: make([]byte, n)}
	}
	return out
}

func groupSizes(groups [][]entry) []int {
	out := make([]int, len(groups))
	for i, g := range groups {
		out[i] = len(g)
	}
	return out
}

func TestGroupSplitsByCountAndBytes(t *testing.T) {
	cases := []struct {
		name      string
		sizes     []int
		batchSize int
		want      []int
	}{
		{"one group", []int{10, 10, 10}, 500, []int{3}},
		{"by count", []int{1, 1, 1, 1, 1}, 2, []int{2, 2, 1}},
		{"by bytes", []int{3 << 20, 2 << 20, 1 << 20}, 500, []int{1, 2}},
		{"oversized entry alone", []int{10, 5 << 20, 10}, 500, []int{1, 1, 1}},
		{"empty", nil, 500, []int{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			groups := group(entriesOfSize(c.sizes...), c.batchSize)
			assert.Equal(t, c.want, groupSizes(groups))
		})
	}
}

func TestBuildMessageGzip(t *testing.T) {
	a := testAlert("a1")
	data, err := encodeEntry(nil, format.Native, &a)
	require.NoError(t, err)
	m, err := buildMessage("t", []entry{{index: 0, data: data}}, true, true)
	require.NoError(t, err)

	n, rest, err := msgp.ReadArrayHeaderBytes(m.data)
	require.NoError(t, err)
	assert.Equal(t, uint32(3), n)
	tag, rest, err := msgp.ReadStringBytes(rest)
	require.NoError(t, err)
	assert.Equal(t, "t", tag)
	blob, rest, err := msgp.ReadBytesBytes(rest, nil)
	require.NoError(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, data, plain)

	option, _, err := msgp.ReadIntfBytes(rest)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"chunk": m.chunk, "size": int64(1), "compressed": "gzip"}, option)
	assert.Equal(t, chunkID("t", data), m.chunk, "the chunk id hashes the uncompressed entries")
}

func TestBuildMessageWithoutAckHasNoChunk(t *testing.T) {
	m, err := buildMessage("t", entriesOfSize(3), false, false)
	require.NoError(t, err)
	assert.Empty(t, m.chunk)
	assert.False(t, strings.Contains(string(m.data), "chunk"))
}
