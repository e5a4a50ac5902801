// Package host contains the tests of flbhost.c, the C program that replaces
// Fluent Bit when the plugin is run on a machine without Fluent Bit. The
// tests build flbhost with gcc and the probe plugin under testdata/probe with
// go build -buildmode=c-shared, then check what the probe saw.
package host

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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

// flushStackSize is FLUSH_STACK_SIZE in flbhost.c.
const flushStackSize = 64 * 1024

// tools are the programs that the tests build once.
type tools struct {
	host        string // flbhost
	probe       string // probe plugin with the FLBPluginFlushCtx entry points
	legacyProbe string // probe plugin with only FLBPluginFlush and FLBPluginExit
	flbchunk    string
}

// event is one line of the probe's call log; see testdata/probe/probe.go.
type event struct {
	Call          string            `json:"call"`
	Instance      int               `json:"instance"`
	ThreadID      int               `json:"tid"`
	Argument      *int              `json:"argument"`
	Properties    map[string]string `json:"properties"`
	Tag           string            `json:"tag"`
	Length        int               `json:"length"`
	SHA256        string            `json:"sha256"`
	InFlight      int               `json:"in_flight"`
	Result        *int              `json:"result"`
	Retained      *retainedCheck    `json:"retained"`
	StartUnixNano int64             `json:"start_unix_nano"`
	EndUnixNano   int64             `json:"end_unix_nano"`
}

type retainedCheck struct {
	Changed     bool `json:"changed"`
	PoisonBytes int  `json:"poison_bytes"`
	Length      int  `json:"length"`
}

// run is the outcome of one flbhost process.
type run struct {
	exitCode int
	stderr   string
	events   []event
}

func (r run) calls() []string {
	var calls []string
	for _, e := range r.events {
		calls = append(calls, e.Call)
	}
	return calls
}

func (r run) flushes() []event {
	var flushes []event
	for _, e := range r.events {
		if e.Call == "FLBPluginFlushCtx" || e.Call == "FLBPluginFlush" {
			flushes = append(flushes, e)
		}
	}
	return flushes
}

func (r run) first(call string) event {
	for _, e := range r.events {
		if e.Call == call {
			return e
		}
	}
	return event{}
}

// instanceSummary is one "summary: NAME: ..." line of flbhost.
type instanceSummary struct {
	flushes, ok, retry, errors, chunksDelivered, recordsDelivered, chunksDropped int
}

var (
	totalsLine   = regexp.MustCompile(`summary: chunks (\d+), records (\d+)`)
	instanceLine = regexp.MustCompile(`summary: (\S+): flushes (\d+) \(OK (\d+), RETRY (\d+), ERROR (\d+)\), chunks delivered (\d+) \(records (\d+)\), chunks dropped (\d+)`)
	stackLine    = regexp.MustCompile(`deepest flush stack use (\d+) of (\d+) bytes`)
)

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// totals returns the chunk and record counts of the run's summary.
func (r run) totals(t *testing.T) (chunks, records int) {
	t.Helper()
	m := totalsLine.FindStringSubmatch(r.stderr)
	require.NotNil(t, m, "no totals line in flbhost's output:\n%s", r.stderr)
	return atoi(t, m[1]), atoi(t, m[2])
}

// summaries returns the per-instance summary lines by instance name.
func (r run) summaries(t *testing.T) map[string]instanceSummary {
	t.Helper()
	result := map[string]instanceSummary{}
	for _, m := range instanceLine.FindAllStringSubmatch(r.stderr, -1) {
		result[m[1]] = instanceSummary{
			flushes: atoi(t, m[2]), ok: atoi(t, m[3]), retry: atoi(t, m[4]), errors: atoi(t, m[5]),
			chunksDelivered: atoi(t, m[6]), recordsDelivered: atoi(t, m[7]), chunksDropped: atoi(t, m[8]),
		}
	}
	return result
}

// frame is one chunk of a chunk file.
type frame struct {
	tag  string
	data []byte
}

// writeChunkFile writes frames in flbhost's chunk file format.
func writeChunkFile(t *testing.T, frames ...frame) string {
	t.Helper()
	var out []byte
	for _, f := range frames {
		out = binary.BigEndian.AppendUint32(out, uint32(len(f.tag)))
		out = append(out, f.tag...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(f.data)))
		out = append(out, f.data...)
	}
	path := filepath.Join(t.TempDir(), "chunks.bin")
	require.NoError(t, os.WriteFile(path, out, 0o644))
	return path
}

var testTime = time.Date(2024, 5, 1, 12, 0, 0, 500, time.UTC)

// records encodes count records {"log": "<prefix> record <i>"}.
func records(enc chunk.Encoder, count int, prefix string) []byte {
	var data []byte
	for i := 0; i < count; i++ {
		line := fmt.Sprintf("%s record %d: CEF:0|Zscaler|NSSFW|6.1|Allow|allowed|3|src=10.0.0.%d", prefix, i, i%250)
		data = enc.Append(data, testTime.Add(time.Duration(i)*time.Millisecond), []string{"log"}, []string{line})
	}
	return data
}

// simpleChunks returns n chunks of three records each with tag fw.test.
func simpleChunks(n int) []frame {
	frames := make([]frame, n)
	for i := range frames {
		frames[i] = frame{tag: "fw.test", data: records(chunk.Encoder{}, 3, fmt.Sprintf("chunk %d", i))}
	}
	return frames
}

// runHost runs flbhost with the probe's call log in a fresh directory. args
// are flbhost's arguments without the plugin and chunk files.
func runHost(t *testing.T, plugin string, args []string, chunkFiles ...string) run {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "calls.jsonl")
	all := append([]string{"-p", "Probe_Log=" + logPath}, args...)
	all = append(all, plugin)
	all = append(all, chunkFiles...)

	cmd := exec.Command(built.host, all...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()

	result := run{stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.Exited():
		result.exitCode = exitErr.ExitCode()
	default:
		require.NoError(t, err, "flbhost did not exit normally; stderr:\n%s", result.stderr)
	}

	f, err := os.Open(logPath)
	if errors.Is(err, os.ErrNotExist) {
		return result
	}
	require.NoError(t, err)
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		var e event
		require.NoError(t, json.Unmarshal(scanner.Bytes(), &e), "call log line %q", scanner.Text())
		result.events = append(result.events, e)
	}
	require.NoError(t, scanner.Err())
	return result
}

var built tools

func buildTools(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found in PATH: flbhost is a C program, install gcc to run these tests")
	}
	dir := t.TempDir()
	built = tools{
		host:        filepath.Join(dir, "flbhost"),
		probe:       filepath.Join(dir, "probe.so"),
		legacyProbe: filepath.Join(dir, "probe_legacy.so"),
		flbchunk:    filepath.Join(dir, "flbchunk"),
	}

	steps := []struct {
		dir  string
		args []string
	}{
		{".", []string{"gcc", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-o", built.host, "flbhost.c", "-ldl", "-lpthread"}},
		{"testdata/probe", []string{"go", "build", "-buildmode=c-shared", "-o", built.probe, "."}},
		{"testdata/probe", []string{"go", "build", "-tags", "legacy", "-buildmode=c-shared", "-o", built.legacyProbe, "."}},
		{".", []string{"go", "build", "-o", built.flbchunk, "github.com/edgehunt/runningrat/cmd/flbchunk"}},
	}
	// go test caches a passing result by the files that the test process
	// opens, and gcc and go build open the sources in other processes, so
	// the test reads them here to make a change to them rerun the tests.
	for _, pattern := range []string{"flbhost.c", "testdata/probe/*", "../cmd/flbchunk/*.go"} {
		paths, err := filepath.Glob(pattern)
		require.NoError(t, err)
		require.NotEmpty(t, paths, "no source matches %s", pattern)
		for _, path := range paths {
			_, err := os.ReadFile(path)
			require.NoError(t, err)
		}
	}

	for _, step := range steps {
		cmd := exec.Command(step.args[0], step.args[1:]...)
		cmd.Dir = step.dir
		output, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s failed:\n%s", strings.Join(step.args, " "), output)
	}
}

// TestFlbhost builds the tools once into its temporary directory, which
// lives as long as the subtests.
func TestFlbhost(t *testing.T) {
	buildTools(t)

	t.Run("call sequence", testCallSequence)
	t.Run("threads", testThreads)
	t.Run("properties", testProperties)
	t.Run("instances", testInstances)
	t.Run("retries", testRetries)
	t.Run("borrowed data", testBorrowedData)
	t.Run("workers", testWorkers)
	t.Run("record counts", testRecordCounts)
	t.Run("exit codes", testExitCodes)
	t.Run("flush stack", testFlushStack)
	t.Run("flbchunk output", testFlbchunkOutput)
}

func testCallSequence(t *testing.T) {
	cases := []struct {
		name      string
		plugin    func() string
		instances int
		want      []string
	}{
		{
			name:      "one instance",
			plugin:    func() string { return built.probe },
			instances: 1,
			want: []string{
				"FLBPluginPreRegister", "FLBPluginRegister", "FLBPluginInit", "FLBPluginOutputPreRun",
				"FLBPluginFlushCtx", "FLBPluginFlushCtx",
				"FLBPluginOutputPreExit", "FLBPluginExitCtx", "FLBPluginUnregister",
			},
		},
		{
			name:      "two instances",
			plugin:    func() string { return built.probe },
			instances: 2,
			want: []string{
				"FLBPluginPreRegister", "FLBPluginRegister",
				"FLBPluginInit", "FLBPluginInit", "FLBPluginOutputPreRun", "FLBPluginOutputPreRun",
				"FLBPluginFlushCtx", "FLBPluginFlushCtx", "FLBPluginFlushCtx", "FLBPluginFlushCtx",
				"FLBPluginOutputPreExit", "FLBPluginExitCtx", "FLBPluginOutputPreExit", "FLBPluginExitCtx",
				"FLBPluginUnregister",
			},
		},
		{
			name:      "legacy entry points only",
			plugin:    func() string { return built.legacyProbe },
			instances: 1,
			want:      []string{"FLBPluginRegister", "FLBPluginInit", "FLBPluginFlush", "FLBPluginFlush", "FLBPluginExit"},
		},
	}

	chunks := writeChunkFile(t, simpleChunks(2)...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runHost(t, tc.plugin(), []string{"-i", strconv.Itoa(tc.instances)}, chunks)

			require.Equal(t, 0, r.exitCode, r.stderr)
			assert.Equal(t, tc.want, r.calls())
			assert.Contains(t, r.stderr, "registered output plugin 'probe' (records the calls that flbhost makes)")
		})
	}

	t.Run("hook arguments are zero", func(t *testing.T) {
		r := runHost(t, built.probe, nil, chunks)

		for _, call := range []string{"FLBPluginPreRegister", "FLBPluginOutputPreRun", "FLBPluginOutputPreExit"} {
			e := r.first(call)
			if assert.NotNil(t, e.Argument, call) {
				assert.Equal(t, 0, *e.Argument, call)
			}
		}
	})
}

func testThreads(t *testing.T) {
	chunks := writeChunkFile(t, simpleChunks(3)...)
	r := runHost(t, built.probe, nil, chunks)
	require.Equal(t, 0, r.exitCode, r.stderr)

	mainThread := r.first("FLBPluginRegister").ThreadID
	pipelineThread := r.first("FLBPluginInit").ThreadID
	assert.NotEqual(t, mainThread, pipelineThread, "Init runs on the pipeline thread, not the main thread")
	assert.Equal(t, mainThread, r.first("FLBPluginPreRegister").ThreadID)
	assert.Equal(t, mainThread, r.first("FLBPluginUnregister").ThreadID)
	assert.Equal(t, pipelineThread, r.first("FLBPluginOutputPreRun").ThreadID)
	assert.Equal(t, pipelineThread, r.first("FLBPluginExitCtx").ThreadID)
	for _, f := range r.flushes() {
		assert.Equal(t, pipelineThread, f.ThreadID, "with -w 0 flushes run on the pipeline thread")
	}
}

func testProperties(t *testing.T) {
	reserved := []string{
		"Name", "Match", "Match_Regex", "Alias", "Log_Level", "Log_Suppress_Interval", "Host", "Port",
		"IPv6", "Retry_Limit", "Workers", "storage.total_limit_size", "tls", "tls.verify",
		"tls.ca_file", "tls.proxy.ca_file", "net.keepalive", "NET.connect_timeout", "oauth2.enable",
		"OAuth2.token_url",
	}
	args := []string{
		"-p", "Color=red",
		"-p", "SHAPE=round",
		"-p", "Empty=",
		"-p", "Dup=first",
		"-p", "dup=second",
		"-p", "Equation=a=b",
		"-p", "tls.windows.certstore_name=My",
	}
	for _, key := range reserved {
		args = append(args, "-p", key+"=set-by-test")
	}
	lookups := []string{"color", "COLOR", "Color", "shape", "Empty", "DUP", "Equation", "Missing", "tls.windows.certstore_name"}
	lookups = append(lookups, reserved...)
	args = append(args, "-p", "Probe_Keys="+strings.Join(lookups, ","))

	chunks := writeChunkFile(t, simpleChunks(1)...)
	r := runHost(t, built.probe, args, chunks)
	require.Equal(t, 0, r.exitCode, r.stderr)
	seen := r.first("FLBPluginInit").Properties
	require.NotNil(t, seen)

	cases := []struct {
		name, key, want string
	}{
		{"lower-case lookup", "color", "red"},
		{"upper-case lookup", "COLOR", "red"},
		{"lookup as set", "Color", "red"},
		{"key set in upper case", "shape", "round"},
		{"empty value", "Empty", ""},
		{"first duplicate wins", "DUP", "first"},
		{"value containing equals sign", "Equation", "a=b"},
		{"missing key", "Missing", ""},
		{"unconsumed tls key reaches plugin", "tls.windows.certstore_name", "My"},
	}
	for _, key := range reserved {
		cases = append(cases, struct{ name, key, want string }{"reserved " + key + " hidden", key, ""})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			value, ok := seen[tc.key]
			require.True(t, ok, "probe did not log key %s", tc.key)
			assert.Equal(t, tc.want, value)
		})
	}

	t.Run("hidden keys are reported", func(t *testing.T) {
		assert.Contains(t, r.stderr, "property Workers is kept by Fluent Bit and not passed to the plugin")
	})
}

func testInstances(t *testing.T) {
	frames := simpleChunks(3)
	chunks := writeChunkFile(t, frames...)
	r := runHost(t, built.probe, []string{"-i", "2", "-p", "Color=blue", "-p", "Probe_Keys=color"}, chunks)
	require.Equal(t, 0, r.exitCode, r.stderr)

	flushesByInstance := map[int][]string{}
	for _, f := range r.flushes() {
		flushesByInstance[f.Instance] = append(flushesByInstance[f.Instance], f.SHA256)
	}
	assert.Len(t, flushesByInstance, 2, "flushes should name two distinct instances")
	assert.Equal(t, flushesByInstance[0], flushesByInstance[1], "each instance gets every chunk, in order")
	assert.Len(t, flushesByInstance[0], len(frames))

	var inits, exits []int
	for _, e := range r.events {
		switch e.Call {
		case "FLBPluginInit":
			inits = append(inits, e.Instance)
			assert.Equal(t, "blue", e.Properties["color"], "every instance gets the same properties")
		case "FLBPluginExitCtx":
			exits = append(exits, e.Instance)
		}
	}
	assert.Equal(t, []int{0, 1}, inits)
	assert.Equal(t, []int{0, 1}, exits, "ExitCtx gets each instance's own context")

	summaries := r.summaries(t)
	assert.Equal(t, len(frames), summaries["probe.0"].chunksDelivered)
	assert.Equal(t, len(frames), summaries["probe.1"].chunksDelivered)
}

func testRetries(t *testing.T) {
	cases := []struct {
		name        string
		args        []string
		wantFlushes int
		wantExit    int
		wantOK      int
		wantRetry   int
	}{
		{"retry then OK", []string{"-p", "Flush_Results=RETRY,OK"}, 2, 0, 1, 1},
		{"default limit drops after two attempts", []string{"-p", "Flush_Results=RETRY"}, 2, 1, 0, 2},
		{"limit 3 makes four attempts", []string{"-r", "3", "-p", "Flush_Results=RETRY"}, 4, 1, 0, 4},
		{"limit 0 drops at once", []string{"-r", "0", "-p", "Flush_Results=RETRY"}, 1, 1, 0, 1},
		{"retry on worker thread", []string{"-w", "2", "-p", "Flush_Results=RETRY,OK"}, 2, 0, 1, 1},
	}

	frames := simpleChunks(1)
	chunks := writeChunkFile(t, frames...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runHost(t, built.probe, tc.args, chunks)

			assert.Equal(t, tc.wantExit, r.exitCode, r.stderr)
			flushes := r.flushes()
			require.Len(t, flushes, tc.wantFlushes)
			for i, f := range flushes[1:] {
				assert.Equal(t, flushes[0].SHA256, f.SHA256, "attempt %d flushes other bytes", i+2)
				assert.Equal(t, len(frames[0].data), f.Length)
				assert.Equal(t, "fw.test", f.Tag)
				waited := time.Duration(f.StartUnixNano - flushes[i].EndUnixNano)
				assert.GreaterOrEqual(t, waited, 90*time.Millisecond, "attempt %d did not wait for the retry", i+2)
			}

			summary := r.summaries(t)["probe.0"]
			assert.Equal(t, tc.wantOK, summary.ok)
			assert.Equal(t, tc.wantRetry, summary.retry)
		})
	}
}

func testBorrowedData(t *testing.T) {
	// Small chunks stay below glibc's mmap threshold, so their freed memory
	// stays mapped and the probe can read it after the call. The second
	// chunk is larger so that malloc does not hand the first chunk's block
	// straight back for the second copy.
	chunks := writeChunkFile(t,
		frame{tag: "fw.test", data: records(chunk.Encoder{}, 3, "small")},
		frame{tag: "fw.test", data: records(chunk.Encoder{}, 30, "large")},
	)
	r := runHost(t, built.probe, []string{"-p", "Retain_Data=true"}, chunks)
	require.Equal(t, 0, r.exitCode, r.stderr)

	flushes := r.flushes()
	require.Len(t, flushes, 2)
	retained := flushes[1].Retained
	require.NotNil(t, retained, "second flush should report on the data kept from the first")
	assert.True(t, retained.Changed, "data kept after the flush returned should have been overwritten")
	assert.Greater(t, retained.PoisonBytes, retained.Length/2, "most kept bytes should be the poison byte 0xDB")
}

func testWorkers(t *testing.T) {
	cases := []struct {
		name         string
		workers      int
		instances    int
		wantInFlight int
		wantThreads  int
	}{
		{"no workers run flushes one at a time", 0, 1, 1, 1},
		{"two workers overlap", 2, 1, 2, 2},
		{"workers are per instance", 2, 2, 4, 4},
	}

	chunks := writeChunkFile(t, simpleChunks(6)...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-w", strconv.Itoa(tc.workers), "-i", strconv.Itoa(tc.instances), "-p", "Flush_Delay_Ms=200"}
			r := runHost(t, built.probe, args, chunks)
			require.Equal(t, 0, r.exitCode, r.stderr)

			maxInFlight := 0
			threads := map[int]bool{}
			for _, f := range r.flushes() {
				maxInFlight = max(maxInFlight, f.InFlight)
				threads[f.ThreadID] = true
			}
			assert.Equal(t, tc.wantInFlight, maxInFlight)
			assert.Len(t, threads, tc.wantThreads)
			if tc.workers > 0 {
				assert.NotContains(t, threads, r.first("FLBPluginInit").ThreadID, "flushes should leave the pipeline thread to the workers")
			}
			assert.Len(t, r.flushes(), 6*tc.instances)
		})
	}
}

func testRecordCounts(t *testing.T) {
	cases := []struct {
		name    string
		encoder chunk.Encoder
	}{
		{"v2 event time", chunk.Encoder{}},
		{"v2 map32 metadata", chunk.Encoder{Map32Metadata: true}},
		{"v2 binary strings", chunk.Encoder{Binary: true}},
		{"v1 integer time", chunk.Encoder{Layout: chunk.LayoutV1, Time: chunk.IntSeconds}},
		{"v1 float time", chunk.Encoder{Layout: chunk.LayoutV1, Time: chunk.FloatSeconds}},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frames := []frame{
				{tag: "fw.a", data: records(tc.encoder, 5, "a")},
				{tag: "fw.b", data: records(tc.encoder, 300, "b")},
				{tag: "fw.c", data: records(tc.encoder, 1, "c")},
			}
			r := runHost(t, built.probe, nil, writeChunkFile(t, frames...))
			require.Equal(t, 0, r.exitCode, r.stderr)

			chunks, count := r.totals(t)
			assert.Equal(t, 3, chunks)
			assert.Equal(t, 306, count)
			assert.Equal(t, 306, r.summaries(t)["probe.0"].recordsDelivered)
			flushes := r.flushes()
			require.Len(t, flushes, 3)
			for i, f := range flushes {
				assert.Equal(t, frames[i].tag, f.Tag)
				assert.Equal(t, len(frames[i].data), f.Length)
			}
		})
	}

	t.Run("truncated data is flushed with a warning", func(t *testing.T) {
		data := records(chunk.Encoder{}, 4, "t")
		r := runHost(t, built.probe, nil, writeChunkFile(t, frame{tag: "fw.t", data: data[:len(data)-3]}))

		require.Equal(t, 0, r.exitCode, r.stderr)
		assert.Contains(t, r.stderr, "invalid or truncated after 3 complete records")
		_, count := r.totals(t)
		assert.Equal(t, 3, count)
		assert.Len(t, r.flushes(), 1)
	})
}

func testExitCodes(t *testing.T) {
	good := writeChunkFile(t, simpleChunks(2)...)
	truncated := filepath.Join(t.TempDir(), "truncated.bin")
	content, err := os.ReadFile(good)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(truncated, content[:len(content)-1], 0o644))
	textFile := filepath.Join(t.TempDir(), "log.txt")
	require.NoError(t, os.WriteFile(textFile, []byte("this is a log line, not a chunk file\n"), 0o644))

	cases := []struct {
		name       string
		args       []string
		plugin     string
		chunkFile  string
		wantExit   int
		wantStderr string
	}{
		{"every chunk delivered", nil, built.probe, good, 0, "chunks delivered 2 (records 6), chunks dropped 0"},
		{"flush returns FLB_ERROR", []string{"-p", "Flush_Results=ERROR"}, built.probe, good, 1, "returned FLB_ERROR; chunk dropped"},
		{"flush returns unknown code", []string{"-p", "Flush_Results=7"}, built.probe, good, 1, "returned 7, which Fluent Bit treats as FLB_ERROR"},
		{"one chunk of two dropped", []string{"-p", "Flush_Results=OK,ERROR"}, built.probe, good, 1, "chunks delivered 1 (records 3), chunks dropped 1"},
		{"retries exhausted", []string{"-p", "Flush_Results=RETRY"}, built.probe, good, 1, "on the last of 2 attempts; chunk dropped"},
		{"init fails", []string{"-p", "Fail_Init=true"}, built.probe, good, 255, "FLBPluginInit of probe.0 returned 0"},
		{"missing chunk file", nil, built.probe, filepath.Join(t.TempDir(), "absent.bin"), 2, "cannot open chunk file"},
		{"truncated chunk file", nil, built.probe, truncated, 2, "runs past the end of the file"},
		{"text file as chunk file", nil, built.probe, textFile, 2, "is it a chunk file written by flbchunk?"},
		{"chunk file as plugin", nil, good, good, 2, "cannot load plugin"},
		{"invalid worker count", []string{"-w", "many"}, built.probe, good, 2, "invalid -w value 'many'"},
		{"property without equals sign", []string{"-p", "Color"}, built.probe, good, 2, "invalid property 'Color': expected KEY=VALUE"},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runHost(t, tc.plugin, tc.args, tc.chunkFile)

			assert.Equal(t, tc.wantExit, r.exitCode, r.stderr)
			assert.Contains(t, r.stderr, tc.wantStderr)
		})
	}

	t.Run("init failure skips flushes and exit", func(t *testing.T) {
		r := runHost(t, built.probe, []string{"-p", "Fail_Init=true"}, good)

		assert.Equal(t, []string{"FLBPluginPreRegister", "FLBPluginRegister", "FLBPluginInit"}, r.calls())
	})

	t.Run("quiet run prints nothing", func(t *testing.T) {
		r := runHost(t, built.probe, []string{"-q", "-p", "Host=example"}, good)

		assert.Equal(t, 0, r.exitCode)
		assert.Empty(t, r.stderr)
	})

	t.Run("quiet run still prints errors", func(t *testing.T) {
		r := runHost(t, built.probe, []string{"-q", "-p", "Flush_Results=RETRY", "-r", "0"}, good)

		assert.Equal(t, 1, r.exitCode)
		assert.Contains(t, r.stderr, "chunk dropped")
	})
}

func testFlushStack(t *testing.T) {
	// Each flush allocates and runs the garbage collector, so runtime code
	// runs on the 64 KiB stack of flushes on three kinds of thread.
	chunks := writeChunkFile(t, simpleChunks(100)...)
	for _, workers := range []int{0, 3} {
		t.Run(fmt.Sprintf("garbage collection with %d workers", workers), func(t *testing.T) {
			r := runHost(t, built.probe, []string{"-w", strconv.Itoa(workers), "-i", "2", "-p", "Flush_GC=true"}, chunks)

			require.Equal(t, 0, r.exitCode, r.stderr)
			assert.Len(t, r.flushes(), 200)
			m := stackLine.FindStringSubmatch(r.stderr)
			require.NotNil(t, m, "no stack line in:\n%s", r.stderr)
			used := atoi(t, m[1])
			assert.Equal(t, flushStackSize, atoi(t, m[2]))
			assert.Greater(t, used, 0, "the flush should have run on the measured stack")
			assert.Less(t, used, flushStackSize/2, "Go assumes at least 32 KiB of C stack below a callback")
		})
	}
}

func testFlbchunkOutput(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "firewall.log")
	var lines strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&lines, "CEF:0|Zscaler|NSSFW|6.1|Allow|allowed|3|src=10.1.%d.%d dpt=443\n", i/250, i%250)
	}
	require.NoError(t, os.WriteFile(input, []byte(lines.String()), 0o644))
	output := filepath.Join(dir, "firewall.chunks")

	cmd := exec.Command(built.flbchunk, "-tag", "fw.zscaler", "-chunk-size", "16384", "-v", "-o", output, input)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	m := regexp.MustCompile(`wrote (\d+) records in (\d+) chunks`).FindSubmatch(out)
	require.NotNil(t, m, "%s", out)
	wantChunks := atoi(t, string(m[2]))
	assert.Equal(t, 1000, atoi(t, string(m[1])))
	assert.Greater(t, wantChunks, 1, "a 16 KiB chunk size should split the input")

	r := runHost(t, built.probe, nil, output)
	require.Equal(t, 0, r.exitCode, r.stderr)
	chunks, count := r.totals(t)
	assert.Equal(t, wantChunks, chunks)
	assert.Equal(t, 1000, count)
	for _, f := range r.flushes() {
		assert.Equal(t, "fw.zscaler", f.Tag)
	}
}
