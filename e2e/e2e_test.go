// Package e2e runs the real plugin library through flbhost, the C program
// that drives it as Fluent Bit does: the same symbols, structs, threads and
// 64 KiB flush stacks. The tests build both into a temporary folder.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/chunk"
	"github.com/edgehunt/runningrat/internal/casefile"
)

var (
	root      string // repository root
	pluginSO  string
	hostBin   string
	chunkTool string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	root = filepath.Join(filepath.Dir(file), "..")

	dir, err := os.MkdirTemp("", "runningrat-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginSO = filepath.Join(dir, "out_runningrat.so")
	hostBin = filepath.Join(dir, "flbhost")
	chunkTool = filepath.Join(dir, "flbchunk")

	steps := [][]string{
		{"go", "build", "-buildmode=c-shared", "-o", pluginSO, "./cmd/out_runningrat"},
		{"go", "build", "-o", chunkTool, "./cmd/flbchunk"},
		{"gcc", "-std=gnu11", "-O2", "-Wall", "-o", hostBin, "host/flbhost.c", "-ldl", "-lpthread"},
	}
	for _, step := range steps {
		cmd := exec.Command(step[0], step[1:]...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e setup: %s failed: %v\n%s", strings.Join(step, " "), err, out)
			os.Exit(1)
		}
	}

	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hostRun is the outcome of one flbhost run.
type hostRun struct {
	stdout, stderr string
	exitCode       int
}

// runHost runs flbhost with the given options and chunk files. Unless the
// options set Spool_Dir, the spool goes to a temporary folder.
func runHost(t *testing.T, args []string, chunkFiles ...string) hostRun {
	t.Helper()
	if !strings.Contains(strings.Join(args, " "), "Spool_Dir=") {
		args = append([]string{"-p", "Spool_Dir=" + t.TempDir()}, args...)
	}
	full := append(append(append([]string{}, args...), pluginSO), chunkFiles...)
	cmd := exec.Command(hostBin, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := hostRun{stdout: stdout.String(), stderr: stderr.String()}
	if exitErr, ok := err.(*exec.ExitError); ok {
		run.exitCode = exitErr.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return run
}

// writeChunkFile writes one chunk file frame per chunk, all with tag.
func writeChunkFile(t *testing.T, tag string, chunks ...[]byte) string {
	t.Helper()
	var buf []byte
	for _, c := range chunks {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(tag)))
		buf = append(buf, tag...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(c)))
		buf = append(buf, c...)
	}
	path := filepath.Join(t.TempDir(), "input.chunks")
	require.NoError(t, os.WriteFile(path, buf, 0o600))
	return path
}

// alertLine is the part of an alert the tests look at.
type alertLine struct {
	Timestamp       string            `json:"@timestamp"`
	ID              string            `json:"alert_id"`
	Verdict         string            `json:"verdict"`
	ExtendedReasons []string          `json:"extended_reasons"`
	Event           map[string]string `json:"event"`
}

func parseAlerts(t *testing.T, text string) []alertLine {
	t.Helper()
	var alerts []alertLine
	scanner := bufio.NewScanner(strings.NewReader(text))
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		var a alertLine
		require.NoError(t, json.Unmarshal(scanner.Bytes(), &a), "alert line %q", scanner.Text())
		alerts = append(alerts, a)
	}
	return alerts
}

// TestEndToEndGoldenSamples is `make run` as a test: the vendor samples,
// chunked by flbchunk, must yield exactly the golden alerts.
func TestEndToEndGoldenSamples(t *testing.T) {
	samples, err := filepath.Glob(filepath.Join(root, "testdata", "samples", "*.log"))
	require.NoError(t, err)
	require.NotEmpty(t, samples)

	for _, mode := range []string{"exact", "extended"} {
		t.Run(mode, func(t *testing.T) {
			var chunkFiles []string
			var want bytes.Buffer
			for _, sample := range samples {
				name := strings.TrimSuffix(filepath.Base(sample), ".log")
				out := filepath.Join(t.TempDir(), name+".chunks")
				cmd := exec.Command(chunkTool, "-tag", "fw."+name, "-start", "2025-05-14T10:21:07Z", "-step", "1s", "-o", out, sample)
				if msg, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("flbchunk: %v\n%s", err, msg)
				}
				chunkFiles = append(chunkFiles, out)

				golden, err := os.ReadFile(filepath.Join(root, "testdata", "golden", name+"."+mode+".jsonl"))
				require.NoError(t, err)
				want.Write(golden)
			}

			run := runHost(t, []string{"-p", "Detection_Mode=" + mode}, chunkFiles...)
			require.Equal(t, 0, run.exitCode, run.stderr)
			assert.Equal(t, want.String(), run.stdout)
			assert.Contains(t, run.stderr, "reason=not_cef", "the FortiGate event line is skipped and logged")
		})
	}
}

// TestEndToEndCorpus sends every corpus case through the library in both
// modes. Each case is one record whose timestamp is its index in seconds,
// which maps each alert back to its case.
func TestEndToEndCorpus(t *testing.T) {
	cases, err := casefile.Load()
	require.NoError(t, err)

	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var data []byte
	for i, c := range cases {
		at := base.Add(time.Duration(i) * time.Second)
		if c.Kind == "fields" {
			keys := c.FieldKeys()
			values := make([]string, len(keys))
			for j, k := range keys {
				values[j] = c.Fields[k]
			}
			data = chunk.Encoder{}.Append(data, at, keys, values)
		} else {
			data = chunk.Encoder{}.Append(data, at, []string{"log"}, []string{string(c.Line)})
		}
	}
	input := writeChunkFile(t, "fw.corpus", data)

	for _, mode := range []string{"exact", "extended"} {
		t.Run(mode, func(t *testing.T) {
			alertsPath := filepath.Join(t.TempDir(), "alerts", "alerts.json")
			run := runHost(t, []string{"-p", "Sink=file", "-p", "Path=" + alertsPath, "-p", "Detection_Mode=" + mode}, input)
			require.Equal(t, 0, run.exitCode, run.stderr)
			text, err := os.ReadFile(alertsPath)
			require.NoError(t, err)

			byCase := map[int]alertLine{}
			for _, a := range parseAlerts(t, string(text)) {
				at, err := time.Parse(time.RFC3339Nano, a.Timestamp)
				require.NoError(t, err)
				index := int(at.Sub(base) / time.Second)
				_, dup := byCase[index]
				assert.False(t, dup, "two alerts for case %s", cases[index].ID)
				byCase[index] = a
			}

			for i, c := range cases {
				a, alerted := byCase[i]
				want := c.Exact || mode == "extended" && c.Extended
				if !assert.Equal(t, want, alerted, "case %s (%s)", c.ID, c.Why) || !want {
					continue
				}
				if c.Exact {
					assert.Equal(t, "exact", a.Verdict, c.ID)
				} else {
					assert.Equal(t, "extended", a.Verdict, c.ID)
					assert.Equal(t, c.Reasons, a.ExtendedReasons, c.ID)
				}
			}
		})
	}
}

// TestEndToEndEncodings covers the entry layouts, timestamp types and string
// types that Fluent Bit inputs produce.
func TestEndToEndEncodings(t *testing.T) {
	sample := filepath.Join(root, "testdata", "samples", "zscaler-nss.log")
	tests := []struct {
		name  string
		flags []string
	}{
		{"v2 eventtime str", nil},
		{"v2 map32 metadata under message", []string{"-map32", "-key", "message"}},
		{"v1 integer time bin", []string{"-layout", "v1", "-time-format", "int", "-binary"}},
		{"v1 float time under msg", []string{"-layout", "v1", "-time-format", "float", "-key", "msg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "in.chunks")
			args := append(append([]string{"-tag", "fw.z", "-start", "2025-05-14T10:21:07.5Z", "-step", "1s", "-o", out}, tt.flags...), sample)
			msg, err := exec.Command(chunkTool, args...).CombinedOutput()
			require.NoError(t, err, string(msg))

			run := runHost(t, nil, out)
			require.Equal(t, 0, run.exitCode, run.stderr)
			alerts := parseAlerts(t, run.stdout)
			require.Len(t, alerts, 3)
			assert.Equal(t, "cdn.example.com/ui/chk?mactok=7f3a", alerts[0].Event["RequestURL"])
		})
	}
}

// TestEndToEndFileSink checks the alert file: its folder is created, it has
// mode 0600, and a second run appends.
func TestEndToEndFileSink(t *testing.T) {
	input := writeChunkFile(t, "fw.z", chunk.Encoder{}.Append(nil, time.Unix(1747218067, 0), []string{"log"},
		[]string{"CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|request=cdn.example.com/ui/chk requestMethod=GET"}))
	path := filepath.Join(t.TempDir(), "new", "folder", "alerts.json")

	for range 2 {
		run := runHost(t, []string{"-p", "Sink=file", "-p", "Path=" + path}, input)
		require.Equal(t, 0, run.exitCode, run.stderr)
	}

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	dirInfo, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), dirInfo.Mode().Perm())

	text, err := os.ReadFile(path)
	require.NoError(t, err)
	alerts := parseAlerts(t, string(text))
	require.Len(t, alerts, 2)
	assert.Equal(t, alerts[0].ID, alerts[1].ID, "the same record yields the same alert id")
}

// TestEndToEndWorkersAndInstances runs two instances with two workers each
// over many chunks: every alert arrives once per instance.
func TestEndToEndWorkersAndInstances(t *testing.T) {
	hit := "May 14 10:21:07 zscaler-nss CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|request=cdn.example.com/ui/chk?n=%d requestMethod=GET"
	benign := "May 14 10:21:07 zscaler-nss CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|request=cdn.example.com/index.html requestMethod=GET"
	var chunks [][]byte
	for c := range 20 {
		var data []byte
		for i := range 500 {
			line := benign
			if i%100 == 0 {
				line = fmt.Sprintf(hit, c*1000+i)
			}
			data = chunk.Encoder{}.Append(data, time.Unix(1747218067, 0), []string{"log"}, []string{line})
		}
		chunks = append(chunks, data)
	}
	input := writeChunkFile(t, "fw.z", chunks...)

	run := runHost(t, []string{"-i", "2", "-w", "2"}, input)
	require.Equal(t, 0, run.exitCode, run.stderr)
	alerts := parseAlerts(t, run.stdout)
	assert.Len(t, alerts, 2*20*5)

	seen := map[string]int{}
	for _, a := range alerts {
		seen[a.ID]++
	}
	assert.Len(t, seen, 100)
	for id, n := range seen {
		assert.Equal(t, 2, n, id)
	}
	assert.Contains(t, run.stderr, "[output:runningrat:runningrat.1]", "log lines name their instance as Fluent Bit does")
}

// TestEndToEndInvalidConfigStopsStartup checks that a bad setting makes
// Init fail, which stops Fluent Bit's start-up, with the reason in the log.
func TestEndToEndInvalidConfigStopsStartup(t *testing.T) {
	input := writeChunkFile(t, "fw.z", chunk.Encoder{}.Append(nil, time.Now(), []string{"log"}, []string{"x"}))
	tests := []struct {
		name, property, message string
	}{
		{"bad mode", "Detection_Mode=fuzzy", `invalid detection mode \"fuzzy\"`},
		{"unknown sink", "Sink=kafka", `invalid Sink \"kafka\"`},
		{"file sink without path", "Sink=file", "Sink file needs Path"},
		{"bad spool name", "Spool_Name=a/b", `invalid Spool_Name \"a/b\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := runHost(t, []string{"-p", tt.property}, input)
			assert.Equal(t, 255, run.exitCode)
			assert.Contains(t, run.stderr, tt.message)
		})
	}
}

// TestEndToEndSinkOutageAndRestart writes alerts to /dev/full, where every
// write fails. Flushes still succeed because the alerts wait in the spool;
// at shutdown they stay there, and the next start with a working sink
// delivers them.
func TestEndToEndSinkOutageAndRestart(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	hit := chunk.Encoder{}.Append(nil, time.Now(), []string{"log"}, []string{"CEF:0|V|P|1|2|n|3|request=/ui/chk requestMethod=GET"})
	benign := chunk.Encoder{}.Append(nil, time.Now(), []string{"log"}, []string{"CEF:0|V|P|1|2|n|3|request=/ok requestMethod=GET"})
	input := writeChunkFile(t, "fw.z", benign, hit)
	spoolDir := t.TempDir()
	common := []string{"-p", "Spool_Dir=" + spoolDir, "-p", "Spool_Name=outage", "-p", "Shutdown_Timeout=1s", "-p", "Sink=file"}

	run := runHost(t, append(common, "-p", "Path=/dev/full"), input)
	assert.Equal(t, 0, run.exitCode, "flushes succeed while the sink is down: %s", run.stderr)
	assert.Contains(t, run.stderr, "alert delivery failed, will retry")
	assert.Contains(t, run.stderr, "no space left on device")
	assert.Contains(t, run.stderr, "alerts left in the spool will be delivered after the next start")

	alerts := filepath.Join(t.TempDir(), "alerts.json")
	empty := writeChunkFile(t, "fw.z", benign)
	run = runHost(t, append(common, "-p", "Path="+alerts), empty)
	require.Equal(t, 0, run.exitCode, run.stderr)
	assert.Contains(t, run.stderr, "delivering alerts left in the spool")
	text, err := os.ReadFile(alerts)
	require.NoError(t, err)
	assert.Len(t, parseAlerts(t, string(text)), 1)
}

// TestEndToEndKilledAfterFlush kills flbhost with SIGKILL once a flush with
// alerts has returned and their delivery has failed, with the default
// Spool_Sync normal: the next start must deliver every one of them. The
// alerts are then only in the spool file and the kernel's page cache.
func TestEndToEndKilledAfterFlush(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	const hits = 25

	var data []byte
	for i := range hits {
		line := fmt.Sprintf("CEF:0|V|P|1|2|n|3|src=192.0.2.%d request=/ui/chk?mactok=%d requestMethod=GET", i, i)
		data = chunk.Encoder{}.Append(data, time.Now(), []string{"log"}, []string{line})
	}
	input := writeChunkFile(t, "fw.kill", data)
	spoolDir := t.TempDir()
	common := []string{"-p", "Spool_Dir=" + spoolDir, "-p", "Spool_Name=killed", "-p", "Sink=file"}

	// A long Shutdown_Timeout keeps the host retrying the full device until
	// it is killed.
	cmd := exec.Command(hostBin, append(append(common, "-p", "Path=/dev/full", "-p", "Shutdown_Timeout=1m"), pluginSO, input)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	failed := make(chan struct{})
	go func() {
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			if strings.Contains(scanner.Text(), "alert delivery failed, will retry") {
				close(failed)
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case <-failed:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no failed delivery within 30 s")
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	alerts := filepath.Join(t.TempDir(), "alerts.json")
	empty := writeChunkFile(t, "fw.kill", chunk.Encoder{}.Append(nil, time.Now(), []string{"log"}, []string{"CEF:0|V|P|1|2|n|3|request=/ok"}))
	run := runHost(t, append(common, "-p", "Path="+alerts), empty)

	require.Equal(t, 0, run.exitCode, run.stderr)
	assert.Contains(t, run.stderr, fmt.Sprintf("queued_alerts=%d", hits))
	text, err := os.ReadFile(alerts)
	require.NoError(t, err)
	assert.Len(t, parseAlerts(t, string(text)), hits)
}

// TestEndToEndLargeChunks sends about 40 MB of mixed vendor lines in 2 MB
// chunks, one hit per 1000 lines, and checks that every hit arrives.
func TestEndToEndLargeChunks(t *testing.T) {
	samples, err := filepath.Glob(filepath.Join(root, "testdata", "samples", "*.log"))
	require.NoError(t, err)
	var benign []string
	for _, s := range samples {
		text, err := os.ReadFile(s)
		require.NoError(t, err)
		for _, line := range strings.Split(strings.TrimSpace(string(text)), "\n") {
			if !strings.Contains(strings.ToLower(line), "chk") && !strings.Contains(line, "%3D") &&
				!strings.Contains(strings.ToLower(line), "usrnme") && !strings.Contains(strings.ToLower(line), "ilocalp") {
				benign = append(benign, line)
			}
		}
	}
	require.NotEmpty(t, benign)

	path := filepath.Join(t.TempDir(), "big.log")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	const lines = 80000
	hits := 0
	for i := range lines {
		if i%1000 == 500 {
			fmt.Fprintf(w, "May 14 10:21:07 zscaler-nss CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|src=192.0.2.%d request=upd.example.net/ui/chk?kMnD=%d requestMethod=GET\n", i%250, i)
			hits++
			continue
		}
		fmt.Fprintln(w, benign[i%len(benign)])
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())

	chunks := filepath.Join(t.TempDir(), "big.chunks")
	msg, err := exec.Command(chunkTool, "-tag", "fw.big", "-start", "2025-05-14T10:21:07Z", "-step", "1ms", "-o", chunks, path).CombinedOutput()
	require.NoError(t, err, string(msg))

	start := time.Now()
	run := runHost(t, []string{"-w", "2"}, chunks)
	elapsed := time.Since(start)
	require.Equal(t, 0, run.exitCode, run.stderr)
	alerts := parseAlerts(t, run.stdout)
	assert.Len(t, alerts, hits)

	ids := make([]string, 0, len(alerts))
	for _, a := range alerts {
		ids = append(ids, a.ID)
	}
	sort.Strings(ids)
	for i := 1; i < len(ids); i++ {
		assert.NotEqual(t, ids[i-1], ids[i], "alert ids are unique per record")
	}
	t.Logf("%d lines, %d alerts through the library in %s (not a benchmark: see BENCHMARKS.md)", lines, len(alerts), elapsed)
}
