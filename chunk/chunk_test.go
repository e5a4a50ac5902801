package chunk

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 5, 14, 10, 21, 7, 123456789, time.UTC)

func readAll(t *testing.T, data []byte) ([]Entry, []error, error) {
	t.Helper()
	r := NewReader(data)
	var entries []Entry
	var errs []error
	for {
		var e Entry
		ok, err := r.Next(&e)
		if !ok {
			break
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		entries = append(entries, e)
	}
	return entries, errs, r.Err()
}

func fieldsOf(t *testing.T, record []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	f := NewFields(record)
	for {
		k, v, ok := f.Next()
		if !ok {
			break
		}
		out[string(k)] = string(v.AppendText(nil))
	}
	require.NoError(t, f.Err())
	return out
}

func TestReaderLayouts(t *testing.T) {
	tests := []struct {
		name string
		enc  Encoder
		want time.Time
		meta bool
	}{
		{"v2 EventTime", Encoder{}, t0, true},
		{"v2 map32 metadata", Encoder{Map32Metadata: true}, t0, true},
		{"v2 as in_tail writes it", TailEncoder, t0, true},
		{"v2 bin strings", Encoder{Binary: true}, t0, true},
		{"v1 integer time", Encoder{Layout: LayoutV1, Time: IntSeconds}, t0.Truncate(time.Second), false},
		{"v1 float time", Encoder{Layout: LayoutV1, Time: FloatSeconds}, t0, false},
		{"v2 float time", Encoder{Time: FloatSeconds}, t0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.enc.Append(nil, t0, []string{"log"}, []string{"line one"})
			data = tt.enc.Append(data, t0, []string{"log", "n"}, []string{"line two", "x"})

			entries, errs, err := readAll(t, data)
			require.NoError(t, err)
			require.Empty(t, errs)
			require.Len(t, entries, 2)
			assert.WithinDuration(t, tt.want, entries[0].Time, time.Microsecond)
			assert.Equal(t, tt.meta, entries[0].Metadata != nil)
			assert.Equal(t, 1, entries[1].Index)
			assert.Equal(t, map[string]string{"log": "line two", "n": "x"}, fieldsOf(t, entries[1].Record))
		})
	}
}

func TestReaderDocumentedChunk(t *testing.T) {
	// One dummy record as Fluent Bit writes it.
	data := []byte{0x92, 0x92, 0xd7, 0x00, 0x6b, 0x13, 0x12, 0xaf, 0x29, 0xdf, 0xff, 0x85, 0x80,
		0x81, 0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xa5, 'd', 'u', 'm', 'm', 'y'}
	entries, errs, err := readAll(t, data)
	require.NoError(t, err)
	require.Empty(t, errs)
	require.Len(t, entries, 1)
	assert.Equal(t, int64(0x6b1312af), entries[0].Time.Unix())
	assert.Equal(t, 0x29dfff85, entries[0].Time.Nanosecond())
	assert.Equal(t, map[string]string{"message": "dummy"}, fieldsOf(t, entries[0].Record))
}

func TestReaderSkipsMalformedEntries(t *testing.T) {
	good := Encoder{}.Append(nil, t0, []string{"log"}, []string{"ok"})
	tests := []struct {
		name  string
		entry []byte
		err   string
	}{
		{"not an array", []byte{0xa1, 'x'}, "entry is not an array"},
		{"three elements", []byte{0x93, 0x01, 0x02, 0x03}, "3 elements"},
		{"record not a map", []byte{0x92, 0x01, 0x02}, "expected a map"},
		{"string timestamp", []byte{0x92, 0xa1, 'x', 0x80}, "timestamp has type str"},
		{"nanoseconds too large", []byte{0x92, 0x92, 0xd7, 0x00, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x80, 0x80}, "out of range"},
		{"empty header", []byte{0x92, 0x90, 0x80}, "header array is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := append(append(append([]byte{}, good...), tt.entry...), good...)
			entries, errs, err := readAll(t, data)
			require.NoError(t, err)
			assert.Len(t, entries, 2)
			require.Len(t, errs, 1)
			assert.ErrorContains(t, errs[0], "entry 1: ")
			assert.ErrorContains(t, errs[0], tt.err)
		})
	}
}

func TestReaderStopsAtTruncation(t *testing.T) {
	data := Encoder{}.Append(nil, t0, []string{"log"}, []string{"ok"})
	data = Encoder{}.Append(data, t0, []string{"log"}, []string{"cut short"})
	entries, _, err := readAll(t, data[:len(data)-3])
	assert.Len(t, entries, 1)
	assert.ErrorIs(t, err, ErrTruncated)
}

func TestValueAppendText(t *testing.T) {
	tests := []struct {
		v    Value
		want string
	}{
		{Value{Kind: Text, Bytes: []byte("x")}, "x"},
		{Value{Kind: Int, Int: -3}, "-3"},
		{Value{Kind: Uint, Uint: 51544}, "51544"},
		{Value{Kind: Float, Float: 1.5}, "1.5"},
		{Value{Kind: Bool, Bool: true}, "true"},
		{Value{Kind: Nil}, ""},
		{Value{Kind: Other, Bytes: []byte{0x90}}, ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, string(tt.v.AppendText(nil)))
	}
}

// FuzzReader checks that arbitrary bytes never panic the walker and that
// the walk always ends.
func FuzzReader(f *testing.F) {
	f.Add(Encoder{}.Append(nil, t0, []string{"log"}, []string{"CEF:0|a|b|c|d|e|f|k=v"}))
	f.Add(Encoder{Layout: LayoutV1, Time: FloatSeconds, Binary: true}.Append(nil, t0, []string{"a", "b"}, []string{"1", "2"}))
	f.Add(TailEncoder.Append(nil, t0, []string{"log"}, []string{"CEF:0|a|b|c|d|e|f|request=/ui/chk"}))
	f.Add([]byte{0x92, 0x92, 0xd7, 0x00, 0x6b, 0x13, 0x12, 0xaf, 0x29, 0xdf, 0xff, 0x85, 0x80, 0x81, 0xa1, 'm', 0xc3})

	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(data)
		slow := &Reader{rest: data, slow: true}
		for n := 0; ; n++ {
			if n > len(data) {
				t.Fatal("more entries than bytes")
			}
			var e, slowEntry Entry
			ok, err := r.Next(&e)
			slowOK, slowErr := slow.Next(&slowEntry)
			require.Equal(t, slowOK, ok, "the fast path walks as msgp does")
			require.Equal(t, slowErr, err)
			require.Equal(t, slowEntry, e)
			if !ok {
				break
			}
			if err != nil {
				continue
			}
			checkFastValues(t, e.Record)
			checkSingleText(t, e.Record)
			checkNextText(t, e.Record)
			fields := NewFields(e.Record)
			for {
				if _, v, ok := fields.Next(); !ok {
					break
				} else {
					v.AppendText(nil)
				}
			}
		}
	})
}

// checkNextText checks that NextText walks a record as Next does.
func checkNextText(t *testing.T, record []byte) {
	fields, texts := NewFields(record), NewFields(record)
	for {
		key, value, ok := fields.Next()
		textKey, text, isText, textOK := texts.NextText()
		require.Equal(t, ok, textOK)
		if !ok {
			break
		}
		require.Equal(t, key, textKey)
		require.Equal(t, value.Kind == Text, isText)
		if isText {
			require.Equal(t, value.Bytes, text)
		}
	}
	require.Equal(t, fields.Err(), texts.Err())
}

// checkSingleText checks that when SingleText reads a record, the general
// walk finds the same single pair.
func checkSingleText(t *testing.T, record []byte) {
	key, text, ok := SingleText(record)
	if !ok {
		return
	}
	fields := NewFields(record)
	fieldKey, value, fieldOK := fields.Next()
	require.True(t, fieldOK)
	require.Equal(t, key, fieldKey)
	require.Equal(t, Value{Kind: Text, Bytes: text}, value)
	_, _, more := fields.Next()
	require.False(t, more, "one pair only")
}

// checkFastValues checks, at every offset of b, that the fast decoding of a
// str or bin value agrees with msgp's.
func checkFastValues(t *testing.T, b []byte) {
	for i := range b {
		text, rest, ok := fastText(b[i:])
		if !ok {
			continue
		}
		slowText, slowRest, err := readTextSlow(b[i:])
		require.NoError(t, err)
		require.Equal(t, slowText, text)
		require.Equal(t, slowRest, rest)

		value, _, err := readValueSlow(b[i:])
		require.NoError(t, err)
		require.Equal(t, Value{Kind: Text, Bytes: text}, value)
	}
}

// TestReaderTailChunk reads an entry whose first 22 bytes are those of a chunk
// that Fluent Bit v5.1.1's in_tail handed to a Go output, captured for this
// test with a shorter log line. It also checks that TailEncoder writes the
// same bytes.
func TestReaderTailChunk(t *testing.T) {
	line := "<14>May 14 10:24:11 pa-fw01.example.com CEF:0|x"
	captured := []byte{0x92, 0x92, 0xd7, 0x00, 0x6b, 0x13, 0x48, 0x4e, 0x24, 0x06, 0xb9, 0x55,
		0xdf, 0x00, 0x00, 0x00, 0x00, 0xdf, 0x00, 0x00, 0x00, 0x01, 0xa3, 'l', 'o', 'g', 0xd9, byte(len(line))}
	captured = append(captured, line...)

	when := time.Unix(0x6b13484e, 0x2406b955)
	assert.Equal(t, captured, TailEncoder.Append(nil, when, []string{"log"}, []string{line}))

	r := NewReader(captured)
	var e Entry
	ok, err := r.Next(&e)
	require.True(t, ok)
	require.NoError(t, err)
	n, ok := fastEntry(captured, &Entry{})
	assert.True(t, ok, "the fast path reads in_tail's entries")
	assert.Equal(t, len(captured), n)
	assert.Equal(t, when.UTC(), e.Time)
	fields := NewFields(e.Record)
	key, value, ok := fields.Next()
	require.True(t, ok)
	assert.Equal(t, "log", string(key))
	assert.Equal(t, line, string(value.Bytes))
}

func TestSingleText(t *testing.T) {
	tests := []struct {
		name   string
		record []byte
		key    string
		text   string
		ok     bool
	}{
		{"fixmap str", []byte{0x81, 0xa3, 'l', 'o', 'g', 0xa2, 'h', 'i'}, "log", "hi", true},
		{"map32 str8 as in_tail", []byte{0xdf, 0, 0, 0, 1, 0xa3, 'm', 's', 'g', 0xd9, 2, 'h', 'i'}, "msg", "hi", true},
		{"bin value", []byte{0x81, 0xa1, 'm', 0xc4, 1, 'x'}, "m", "x", true},
		{"two pairs", []byte{0x82, 0xa1, 'a', 0xa1, 'x', 0xa1, 'b', 0xa1, 'y'}, "", "", false},
		{"empty map", []byte{0x80}, "", "", false},
		{"number value", []byte{0x81, 0xa3, 'l', 'o', 'g', 0x07}, "", "", false},
		{"number key", []byte{0x81, 0x01, 0xa1, 'x'}, "", "", false},
		{"value past the end", []byte{0x81, 0xa3, 'l', 'o', 'g', 0xa5, 'h', 'i'}, "", "", false},
		{"not a map", []byte{0xa3, 'l', 'o', 'g'}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, text, ok := SingleText(tt.record)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.key, string(key))
			assert.Equal(t, tt.text, string(text))
		})
	}
}

func TestReaderSkipsGroupMarkers(t *testing.T) {
	// [[EventTime 0xffffffff.0, {"schema": "otlp"}], {"resource": {}}]
	groupStart := []byte{0x92, 0x92, 0xd7, 0x00, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
		0x81, 0xa6, 's', 'c', 'h', 'e', 'm', 'a', 0xa4, 'o', 't', 'l', 'p',
		0x81, 0xa8, 'r', 'e', 's', 'o', 'u', 'r', 'c', 'e', 0x80}
	// [[EventTime 0xfffffffe.0, {}], {}]
	groupEnd := []byte{0x92, 0x92, 0xd7, 0x00, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 0x80, 0x80}
	// [[-1, {}], {}] and [[-2, {}], {}]: the integer form.
	intStart := []byte{0x92, 0x92, 0xff, 0x80, 0x80}
	intEnd := []byte{0x92, 0x92, 0xfe, 0x80, 0x80}
	record := Encoder{}.Append(nil, t0, []string{"log"}, []string{"CEF:0|a|b|c|d|e|f|k=v"})
	// EventTime 0xffffffff.000000001 is an ordinary (if distant) time.
	late := []byte{0x92, 0x92, 0xd7, 0x00, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0x80, 0x81, 0xa1, 'k', 0xa1, 'v'}

	tests := []struct {
		name    string
		data    []byte
		indexes []int
	}{
		{"EventTime markers around a record", slices.Concat(groupStart, record, groupEnd), []int{1}},
		{"integer markers around a record", slices.Concat(intStart, record, intEnd), []int{1}},
		{"only markers", slices.Concat(groupStart, groupEnd), nil},
		{"nanoseconds make a record", slices.Concat(late, record), []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, errs, err := readAll(t, tt.data)
			require.NoError(t, err)
			require.Empty(t, errs)
			var indexes []int
			for _, e := range entries {
				indexes = append(indexes, e.Index)
			}
			assert.Equal(t, tt.indexes, indexes)
		})
	}
}
