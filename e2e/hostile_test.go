package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/chunk"
)

// taggedChunk is one chunk of a chunk file with its own tag.
type taggedChunk struct {
	tag  string
	data []byte
}

// writeFrames writes a chunk file whose chunks may carry different tags.
func writeFrames(t *testing.T, frames ...taggedChunk) string {
	t.Helper()
	var buf []byte
	for _, f := range frames {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(f.tag)))
		buf = append(buf, f.tag...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(f.data)))
		buf = append(buf, f.data...)
	}
	path := filepath.Join(t.TempDir(), "input.chunks")
	require.NoError(t, os.WriteFile(path, buf, 0o600))
	return path
}

// hitLine is a CEF line that Sentinel's rule raises.
const hitLine = "CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|request=cdn.example.com/ui/chk?mactok=1 requestMethod=GET"

// hitEntry is one entry holding hitLine, stamped at.
func hitEntry(at time.Time) []byte {
	return chunk.Encoder{}.Append(nil, at, []string{"log"}, []string{hitLine})
}

// Hand-written msgpack for the records that chunk.Encoder cannot write.

// entryHeader appends [[EventTime at, {}], and leaves the record to come.
func entryHeader(dst []byte, at time.Time) []byte {
	dst = append(dst, 0x92, 0x92, 0xd7, 0x00)
	dst = binary.BigEndian.AppendUint32(dst, uint32(at.Unix()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(at.Nanosecond()))
	return append(dst, 0x80)
}

func appendStr(dst []byte, s string) []byte {
	dst = append(dst, 0xdb)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

func appendMap32Header(dst []byte, n uint32) []byte {
	return binary.BigEndian.AppendUint32(append(dst, 0xdf), n)
}

// peakMemoryKB reads the host's "peak resident memory (VmHWM)" summary line.
func peakMemoryKB(t *testing.T, stderr string) int {
	t.Helper()
	m := regexp.MustCompile(`peak resident memory \(VmHWM\) (\d+) kB`).FindStringSubmatch(stderr)
	require.NotNil(t, m, "no peak memory line in the host's summary")
	kb, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return kb
}

// TestEndToEndHostileRecords sends each hostile record through the library
// in a chunk of its own, followed by a chunk with one hit. The process must
// survive, say why it skipped the record, raise the later hit, and stay
// within a memory bound.
func TestEndToEndHostileRecords(t *testing.T) {
	base := time.Unix(1747218067, 0)
	const mb = 1 << 20

	nested := entryHeader(nil, base)
	nested = append(nested, 0x82)
	nested = appendStr(nested, "log")
	nested = appendStr(nested, "not a CEF line")
	nested = appendStr(nested, "deep")
	nested = append(nested, bytes.Repeat([]byte{0x91}, 10_000)...)
	nested = append(nested, 0xc0)

	nestedRecord := entryHeader(nil, base)
	nestedRecord = append(nestedRecord, bytes.Repeat([]byte{0x91}, 10_000)...)
	nestedRecord = append(nestedRecord, 0xc0)

	bigMap := entryHeader(nil, base)
	bigMap = appendMap32Header(bigMap, 1_000_000)
	for i := range 1_000_000 {
		bigMap = append(bigMap, 0xce)
		bigMap = binary.BigEndian.AppendUint32(bigMap, uint32(i))
		bigMap = append(bigMap, 0xa1, 'v')
	}

	nonStringKeys := entryHeader(nil, base)
	nonStringKeys = append(nonStringKeys, 0x85,
		0x01, 0xa1, 'x', // integer key
		0xc0, 0xa1, 'y', // nil key
		0x91, 0x01, 0xa1, 'z', // array key
		0x81, 0xa1, 'k', 0xa1, 'v', 0xa1, 'w') // map key
	nonStringKeys = appendStr(nonStringKeys, "log")
	nonStringKeys = appendStr(nonStringKeys, hitLine)

	cut := hitEntry(base)
	cut = append(cut, hitEntry(base.Add(time.Second))...)
	cut = cut[:len(cut)-20]

	pastEnd := hitEntry(base)
	pastEnd = entryHeader(pastEnd, base.Add(time.Second))
	pastEnd = append(pastEnd, 0x81, 0xa3, 'l', 'o', 'g', 0xdb, 0x40, 0x00, 0x00, 0x00) // str32 of 1 GiB
	pastEnd = append(pastEnd, "CEF:0|only a few bytes"...)

	tests := []struct {
		name string
		data []byte
		// alerts is how many alerts the hostile chunk itself raises.
		alerts int
		// logged is what the log must say about the hostile chunk.
		logged string
		// maxPeakMB bounds the host's peak resident memory.
		maxPeakMB int
	}{
		{
			name:      "64 MB record",
			data:      chunk.Encoder{}.Append(nil, base, []string{"log"}, []string{strings.Repeat("A", 64*mb)}),
			logged:    "reason=not_cef",
			maxPeakMB: 700,
		},
		{
			name:      "1M-entry map",
			data:      bigMap,
			logged:    "reason=no_message",
			maxPeakMB: 300,
		},
		{
			name:      "10k nested arrays in a value",
			data:      nested,
			logged:    "reason=not_cef",
			maxPeakMB: 200,
		},
		{
			name:      "10k nested arrays as the record",
			data:      nestedRecord,
			logged:    "reason=malformed_entry",
			maxPeakMB: 200,
		},
		{
			name:      "chunk cut inside a record",
			data:      cut,
			alerts:    1,
			logged:    "reason=chunk_truncated",
			maxPeakMB: 200,
		},
		{
			name:      "keys that are not strings",
			data:      nonStringKeys,
			alerts:    1,
			maxPeakMB: 200,
		},
		{
			name:      "string length past the buffer",
			data:      pastEnd,
			alerts:    1,
			logged:    "reason=chunk_truncated",
			maxPeakMB: 200,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			later := base.Add(time.Hour)
			input := writeFrames(t, taggedChunk{"fw.hostile", tt.data}, taggedChunk{"fw.later", hitEntry(later)})
			alertsPath := filepath.Join(t.TempDir(), "alerts.json")

			run := runHost(t, []string{"-p", "Sink=file", "-p", "Path=" + alertsPath}, input)
			require.Equal(t, 0, run.exitCode, run.stderr)

			text, err := os.ReadFile(alertsPath)
			require.NoError(t, err)
			alerts := parseAlerts(t, string(text))
			require.Len(t, alerts, tt.alerts+1)
			assert.Equal(t, later.UTC().Format("2006-01-02T15:04:05.000000000Z"), alerts[len(alerts)-1].Timestamp,
				"the chunk after the hostile one still raises its alert")
			if tt.logged != "" {
				assert.Contains(t, run.stderr, tt.logged)
			}
			assert.Contains(t, run.stderr, "chunks delivered 2", "both chunks were accepted")

			peak := peakMemoryKB(t, run.stderr)
			t.Logf("%s: %d bytes of chunk, peak resident memory %d MB", tt.name, len(tt.data), peak/1024)
			assert.Less(t, peak, tt.maxPeakMB*1024)
		})
	}
}

// TestEndToEndInvalidUTF8URL checks that invalid UTF-8 in the URL of a hit
// raises the alert, and that the alert is valid JSON.
func TestEndToEndInvalidUTF8URL(t *testing.T) {
	line := "CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|request=cdn.example.com/ui/chk?mactok=\xff\xfe\xc3 requestMethod=GET"
	at := time.Unix(1747218067, 0)
	input := writeFrames(t,
		taggedChunk{"fw.utf8", chunk.Encoder{}.Append(nil, at, []string{"log"}, []string{line})},
		taggedChunk{"fw.later", hitEntry(at.Add(time.Hour))})
	alertsPath := filepath.Join(t.TempDir(), "alerts.json")

	run := runHost(t, []string{"-p", "Sink=file", "-p", "Path=" + alertsPath}, input)
	require.Equal(t, 0, run.exitCode, run.stderr)

	text, err := os.ReadFile(alertsPath)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	require.Len(t, lines, 2)
	assert.True(t, json.Valid([]byte(lines[0])), "the alert is valid JSON: %s", lines[0])
	alerts := parseAlerts(t, string(text))
	assert.Equal(t, "exact", alerts[0].Verdict)
	url := alerts[0].Event["RequestURL"]
	assert.True(t, strings.HasPrefix(url, "cdn.example.com/ui/chk?mactok="), url)
	t.Logf("RequestURL in the alert: %q (the input held \\xff\\xfe\\xc3)", url)
}

// TestEndToEndFlushPanic makes every flush of one tag panic outside the
// per-record guards (through the plugin's test hook) and checks that the
// panic is logged with the tag, that the flush drops its chunk with
// FLB_ERROR, and that later chunks are still served.
func TestEndToEndFlushPanic(t *testing.T) {
	base := time.Unix(1747218067, 0)
	input := writeFrames(t,
		taggedChunk{"fw.ok", hitEntry(base)},
		taggedChunk{"fw.boom", hitEntry(base.Add(time.Second))},
		taggedChunk{"fw.ok", hitEntry(base.Add(2 * time.Second))})

	for _, workers := range []string{"0", "2"} {
		t.Run("workers "+workers, func(t *testing.T) {
			alertsPath := filepath.Join(t.TempDir(), "alerts.json")
			args := []string{"-w", workers, "-p", "Sink=file", "-p", "Path=" + alertsPath, "-p", "Spool_Dir=" + t.TempDir(), pluginSO, input}
			cmd := exec.Command(hostBin, args...)
			cmd.Env = append(os.Environ(), "RUNNINGRAT_TEST_PANIC_TAG=fw.boom")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()

			var exitErr *exec.ExitError
			require.ErrorAs(t, err, &exitErr, stderr.String())
			assert.Equal(t, 1, exitErr.ExitCode(), "flbhost exits 1 when a chunk was dropped: %s", stderr.String())
			log := stderr.String()
			assert.Regexp(t, `\[error\] \[output:runningrat:runningrat.0\] recovered from a panic in a flush; the chunk is dropped with FLB_ERROR tag=fw.boom `, log)
			assert.Contains(t, log, "chunk 2 (tag fw.boom): runningrat.0 returned FLB_ERROR; chunk dropped")
			assert.Contains(t, log, "flushes 3 (OK 2, RETRY 0, ERROR 1)")
			assert.Contains(t, log, "flush_panics=1")

			text, err := os.ReadFile(alertsPath)
			require.NoError(t, err)
			alerts := parseAlerts(t, string(text))
			require.Len(t, alerts, 2)
			assert.Equal(t, "2025-05-14T10:21:07.000000000Z", alerts[0].Timestamp)
			assert.Equal(t, "2025-05-14T10:21:09.000000000Z", alerts[1].Timestamp)
		})
	}
}
