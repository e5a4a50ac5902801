package main

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/chunk"
)

// decodedChunk is one frame of a chunk file with its entries decoded.
type decodedChunk struct {
	tag     string
	size    int
	times   []time.Time
	records [][][2]string // key/value pairs of each record, in order
}

// convertText runs flbchunk with args on the given standard input and
// returns the decoded chunk file.
func convertText(t *testing.T, stdin string, args ...string) []decodedChunk {
	t.Helper()
	output := filepath.Join(t.TempDir(), "out.chunks")
	opts, err := parseOptions(append([]string{"-o", output}, args...), io.Discard)
	require.NoError(t, err)
	require.NoError(t, run(opts, strings.NewReader(stdin), io.Discard, io.Discard))

	content, err := os.ReadFile(output)
	require.NoError(t, err)
	return decodeChunkFile(t, content)
}

func decodeChunkFile(t *testing.T, content []byte) []decodedChunk {
	t.Helper()
	var chunks []decodedChunk
	for len(content) > 0 {
		require.GreaterOrEqual(t, len(content), 4, "truncated tag length")
		tagLength := int(binary.BigEndian.Uint32(content))
		content = content[4:]
		require.GreaterOrEqual(t, len(content), tagLength+4, "truncated tag")
		tag := string(content[:tagLength])
		content = content[tagLength:]
		dataLength := int(binary.BigEndian.Uint32(content))
		content = content[4:]
		require.GreaterOrEqual(t, len(content), dataLength, "truncated data")
		data := content[:dataLength]
		content = content[dataLength:]

		decoded := decodedChunk{tag: tag, size: dataLength}
		reader := chunk.NewReader(data)
		var entry chunk.Entry
		for {
			ok, err := reader.Next(&entry)
			require.NoError(t, err)
			if !ok {
				break
			}
			decoded.times = append(decoded.times, entry.Time)
			var pairs [][2]string
			fields := chunk.NewFields(entry.Record)
			for {
				key, value, ok := fields.Next()
				if !ok {
					break
				}
				pairs = append(pairs, [2]string{string(key), string(value.AppendText(nil))})
			}
			require.NoError(t, fields.Err())
			decoded.records = append(decoded.records, pairs)
		}
		require.NoError(t, reader.Err())
		chunks = append(chunks, decoded)
	}
	return chunks
}

func TestLinesBecomeRecords(t *testing.T) {
	cases := []struct {
		name  string
		input string
		args  []string
		want  [][][2]string
	}{
		{"default key", "first\nsecond\n", nil, [][][2]string{{{"log", "first"}}, {{"log", "second"}}}},
		{"custom key", "first\n", []string{"-key", "message"}, [][][2]string{{{"message", "first"}}}},
		{"CRLF line ending removed", "first\r\n", nil, [][][2]string{{{"log", "first"}}}},
		{"lone CR kept as in_tail", "\r\n", nil, [][][2]string{{{"log", "\r"}}}},
		{"empty line kept", "a\n\nb\n", nil, [][][2]string{{{"log", "a"}}, {{"log", ""}}, {{"log", "b"}}}},
		{"empty lines skipped", "a\n\n\r\nb\n", []string{"-skip-empty"}, [][][2]string{{{"log", "a"}}, {{"log", "b"}}}},
		{"last line without newline", "a\nb", nil, [][][2]string{{{"log", "a"}}, {{"log", "b"}}}},
		{"binary strings", "a\n", []string{"-binary"}, [][][2]string{{{"log", "a"}}}},
		{"v1 layout", "a\n", []string{"-layout", "v1", "-time-format", "int"}, [][][2]string{{{"log", "a"}}}},
		{
			"json object keeps key order",
			`{"z":"1","a":"2","dup":"x","dup":"y"}` + "\n\n  \n",
			[]string{"-json"},
			[][][2]string{{{"z", "1"}, {"a", "2"}, {"dup", "x"}, {"dup", "y"}}},
		},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chunks := convertText(t, tc.input, tc.args...)

			require.Len(t, chunks, 1)
			assert.Equal(t, tc.want, chunks[0].records)
			assert.Equal(t, "tail.0", chunks[0].tag)
		})
	}
}

func TestChunkCutting(t *testing.T) {
	var input strings.Builder
	for i := 0; i < 100; i++ {
		input.WriteString("0123456789012345678901234567890123456789\n")
	}

	chunks := convertText(t, input.String(), "-chunk-size", "1000", "-tag", "fw.zscaler")

	total := 0
	for i, c := range chunks {
		assert.Equal(t, "fw.zscaler", c.tag)
		total += len(c.records)
		if i < len(chunks)-1 {
			assert.GreaterOrEqual(t, c.size, 1000, "chunk %d closed before the size limit", i)
			recordSize := c.size / len(c.records) // every line has the same length
			assert.Less(t, c.size-recordSize, 1000, "chunk %d kept records after crossing the limit", i)
		}
	}
	assert.Equal(t, 100, total)
	assert.Greater(t, len(chunks), 1)
}

func TestTimestamps(t *testing.T) {
	start := time.Date(2024, 5, 1, 12, 0, 0, 500_000_000, time.UTC)

	t.Run("start and step", func(t *testing.T) {
		chunks := convertText(t, "a\nb\nc\n", "-start", "2024-05-01T12:00:00.5Z", "-step", "1ms")

		require.Len(t, chunks, 1)
		want := []time.Time{start, start.Add(time.Millisecond), start.Add(2 * time.Millisecond)}
		require.Len(t, chunks[0].times, len(want))
		for i := range want {
			assert.True(t, want[i].Equal(chunks[0].times[i]), "record %d: got %v, want %v", i, chunks[0].times[i], want[i])
		}
	})

	t.Run("clock by default", func(t *testing.T) {
		before := time.Now().Add(-time.Second)
		chunks := convertText(t, "a\n")

		require.Len(t, chunks, 1)
		require.Len(t, chunks[0].times, 1)
		assert.True(t, chunks[0].times[0].After(before))
	})
}

func TestInvalidInput(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		input   string
		wantErr string
	}{
		{"missing output", nil, "", "missing -o"},
		{"empty tag", []string{"-o", "x", "-tag", ""}, "", "invalid -tag"},
		{"unknown layout", []string{"-o", "x", "-layout", "v3"}, "", `invalid -layout "v3"`},
		{"unknown time format", []string{"-o", "x", "-time-format", "iso"}, "", `invalid -time-format "iso"`},
		{"invalid start", []string{"-o", "x", "-start", "yesterday"}, "", `invalid -start "yesterday"`},
		{"step without start", []string{"-o", "x", "-step", "1s"}, "", "-step needs -start"},
		{"zero chunk size", []string{"-o", "x", "-chunk-size", "0"}, "", "invalid -chunk-size 0"},
		{"json number value", []string{"-json"}, `{"port":443}` + "\n", `standard input:1: value of "port" is a number`},
		{"json nested object", []string{"-json"}, "{\"a\":\"1\"}\n" + `{"a":{"b":"c"}}`, `standard input:2: value of "a" is an object`},
		{"json array line", []string{"-json"}, `["a"]`, "line is not a JSON object"},
		{"json trailing data", []string{"-json"}, `{"a":"1"} {"b":"2"}`, "unexpected data after the JSON object"},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			output := filepath.Join(t.TempDir(), "out.chunks")
			if tc.input != "" {
				args = append([]string{"-o", output}, args...)
			}

			opts, err := parseOptions(args, io.Discard)
			if err == nil {
				err = run(opts, strings.NewReader(tc.input), io.Discard, io.Discard)
			}

			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			if tc.input != "" {
				assert.NoFileExists(t, output, "a failed run should not leave a partial chunk file")
			}
		})
	}
}
