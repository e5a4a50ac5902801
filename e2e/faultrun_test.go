package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/chunk"
	"github.com/edgehunt/runningrat/internal/fake/bulk"
	forwardpeer "github.com/edgehunt/runningrat/internal/fake/forward"
	"github.com/edgehunt/runningrat/internal/fake/hec"
	"github.com/edgehunt/runningrat/spool"
)

// faultRunSize is the size of a fault run, from the environment so that
// `make faultrun` can run the full size and `make test` a short one.
type faultRunSize struct {
	records int
	alerts  int
	outage  time.Duration // how long every peer is down
	replay  time.Duration // how long the replay of the chunks lasts
}

func faultRunSizeFromEnv(t *testing.T) faultRunSize {
	size := faultRunSize{records: 60_000, alerts: 60, outage: 3 * time.Second, replay: 8 * time.Second}
	if v := os.Getenv("FAULT_RUN_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "FAULT_RUN_RECORDS")
		size.records = n
	}
	if v := os.Getenv("FAULT_RUN_ALERTS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "FAULT_RUN_ALERTS")
		size.alerts = n
	}
	if v := os.Getenv("FAULT_RUN_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "FAULT_RUN_OUTAGE")
		size.outage = d
		size.replay = 2*d + 10*time.Second
	}
	return size
}

// TestEndToEndFaultRun replays a firewall log with one hit per
// records/alerts lines through three copies of the library, one per
// network sink, against peers that fail the way the real products do and
// that all go down for a while in the middle of the replay. It checks that
// every alert reaches Elasticsearch exactly once by _id and the Splunk and
// forward peers at least once, that the spools end empty, and reports the
// longest flush.
func TestEndToEndFaultRun(t *testing.T) {
	size := faultRunSizeFromEnv(t)
	input, hits := writeFaultRunChunks(t, size)

	es, err := bulk.Start(bulk.Options{})
	require.NoError(t, err)
	defer es.Close()
	splunk, err := hec.Start(hec.Options{Ack: true})
	require.NoError(t, err)
	defer splunk.Close()
	fwd, err := forwardpeer.Start(forwardpeer.Options{SharedKey: "fault-run-shared-key"})
	require.NoError(t, err)
	defer fwd.Close()

	// Faults while the peers are up; none of them rejects an alert for
	// good, so every alert must arrive.
	es.FailRequests(3, 429)
	es.SetRandomItemFaults(0.05, 7, bulk.ItemUnavailable)
	es.SetMaxContentLength(64 << 10)
	splunk.FailNext(2, 503)
	splunk.SetAckDelay(200 * time.Millisecond)
	fwd.DropBeforeAck(2)
	fwd.SetAckDelay(50 * time.Millisecond)

	chunks := chunkCount(t, input)
	delay := size.replay / time.Duration(max(chunks, 1))
	spoolDir := t.TempDir()
	common := []string{
		"-w", "2", "-d", strconv.Itoa(int(delay / time.Millisecond)),
		"-p", "Spool_Dir=" + spoolDir,
		"-p", "Shutdown_Timeout=" + (3*size.outage + 60*time.Second).String(),
		"-p", "Delivery_Retry_Max_Wait=2s",
		"-p", "Sink_Timeout=5s",
	}
	runs := map[string][]string{
		"elasticsearch": {"-p", "Sink=elasticsearch", "-p", "ES_URL=" + es.URL(), "-p", "Spool_Name=es"},
		"splunk": {"-p", "Sink=splunk", "-p", "Splunk_URL=" + splunk.URL(), "-p", "Splunk_Token=" + splunk.Token(),
			"-p", "Splunk_Ack=on", "-p", "Spool_Name=splunk"},
		"forward": {"-p", "Sink=forward", "-p", "Forward_Address=" + fwd.Addr(),
			"-p", "Forward_Shared_Key=fault-run-shared-key", "-p", "Spool_Name=forward"},
	}

	// The outage starts a third into the replay, while flushes go on.
	go func() {
		time.Sleep(size.replay / 3)
		es.Down()
		assert.NoError(t, splunk.Down(hec.Refuse))
		fwd.Down()
		time.Sleep(size.outage)
		assert.NoError(t, es.Up())
		assert.NoError(t, splunk.Up())
		assert.NoError(t, fwd.Up())
	}()

	var wg sync.WaitGroup
	results := map[string]hostRun{}
	var mu sync.Mutex
	for name, args := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := runHostNoTest(append(append([]string{}, common...), args...), input)
			mu.Lock()
			results[name] = run
			mu.Unlock()
		}()
	}
	wg.Wait()

	for name, run := range results {
		require.Equal(t, 0, run.exitCode, "%s host failed:\n%s", name, tail(run.stderr, 40))
		assert.NotContains(t, run.stderr, "left in the spool will be delivered", name)
		t.Logf("%s: %s", name, flushSummary(run.stderr))
	}

	// Elasticsearch: exactly one document per alert id.
	esIDs := map[string]int{}
	for _, d := range es.Documents() {
		esIDs[d.ID]++
	}
	assert.Len(t, esIDs, hits, "distinct alerts at Elasticsearch")
	for id, n := range esIDs {
		assert.Equal(t, 1, n, "documents with _id %s", id)
	}

	// Splunk and forward: every alert at least once, and nothing else.
	for name, counts := range map[string]map[string]int{"splunk": splunk.AlertCounts(), "forward": fwd.Counts()} {
		assert.Len(t, counts, hits, "distinct alerts at %s", name)
		dups := 0
		for id, n := range counts {
			assert.Contains(t, esIDs, id, "%s has an alert that Elasticsearch lacks", name)
			dups += n - 1
		}
		t.Logf("%s: %d alerts, %d redelivered copies", name, len(counts), dups)
	}

	for _, name := range []string{"es", "splunk", "forward"} {
		sp, _, err := spool.Open(filepath.Join(spoolDir, name+".spool"), spool.Options{}, nil)
		require.NoError(t, err)
		assert.Equal(t, 0, sp.Len(), "alerts left in the %s spool", name)
		sp.Close()
	}
	t.Logf("fault run: %d records, %d alerts, %d chunks, outage %s", size.records, hits, chunks, size.outage)
}

// writeFaultRunChunks writes the replayed log as 2 MB chunks: benign vendor
// lines with a distinct hit every records/alerts lines.
func writeFaultRunChunks(t *testing.T, size faultRunSize) (string, int) {
	t.Helper()
	benign := []string{
		"May 14 10:21:09 zscaler-nss CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|act=Allowed app=HTTPS dhost=www.example.com dst=203.0.113.20 src=192.0.2.26 request=www.example.com/search?q=report&lang=en requestMethod=GET requestClientApplication=Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4)",
		"<189>May 14 10:22:03 FGT-EDGE-01 CEF: 0|Fortinet|Fortigate|v7.2.8|13312|utm:webfilter ftgd_allow passthrough|3|src=192.0.2.26 dst=203.0.113.20 dhost=www.example.com act=passthrough request=/news/today.html msg=URL belongs to an allowed category in policy",
		"<134>1 2025-05-14T10:23:09Z gw01.example.com CheckPoint 7712 - - CEF:0|Check Point|URL Filtering|Check Point|Log|http|Unknown|act=Accept src=192.0.2.31 dst=203.0.113.70 request=https://docs.example.org/guide/index.html requestMethod=GET",
		"<14>May 14 10:24:11 pa-fw01.example.com CEF:0|Palo Alto Networks|PAN-OS|10.2.4|url|THREAT|1|src=192.0.2.35 dst=203.0.113.80 act=alert request=intranet.example.com/reports/q2.pdf requestMethod=GET",
	}
	every := max(size.records/max(size.alerts, 1), 1)
	path := filepath.Join(t.TempDir(), "faultrun.chunks")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()

	base := time.Date(2025, 5, 14, 10, 0, 0, 0, time.UTC)
	hits := 0
	var data []byte
	flushChunk := func() {
		if len(data) == 0 {
			return
		}
		_, err := f.Write(frame("fw.faultrun", data))
		require.NoError(t, err)
		data = data[:0]
	}
	for i := range size.records {
		line := benign[i%len(benign)]
		if i%every == every/2 && hits < size.alerts {
			line = fmt.Sprintf("May 14 10:21:07 zscaler-nss CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|act=Allowed dst=203.0.113.30 src=192.0.2.%d request=upd.example.net/ui/chk?kMnD=%d requestMethod=GET", i%250, i)
			hits++
		}
		data = chunk.Encoder{}.Append(data, base.Add(time.Duration(i)*time.Microsecond), []string{"log"}, []string{line})
		if len(data) >= 2_000_000 {
			flushChunk()
		}
	}
	flushChunk()
	return path, hits
}

func frame(tag string, data []byte) []byte {
	var out []byte
	out = append(out, byte(len(tag)>>24), byte(len(tag)>>16), byte(len(tag)>>8), byte(len(tag)))
	out = append(out, tag...)
	out = append(out, byte(len(data)>>24), byte(len(data)>>16), byte(len(data)>>8), byte(len(data)))
	return append(out, data...)
}

func chunkCount(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	n := 0
	for off := 0; off+4 <= len(data); n++ {
		tagLen := int(data[off])<<24 | int(data[off+1])<<16 | int(data[off+2])<<8 | int(data[off+3])
		off += 4 + tagLen
		dataLen := int(data[off])<<24 | int(data[off+1])<<16 | int(data[off+2])<<8 | int(data[off+3])
		off += 4 + dataLen
	}
	return n
}

// runHostNoTest is runHost for goroutines: it reports failures in its
// result instead of through t.
func runHostNoTest(args []string, chunkFiles ...string) hostRun {
	full := append(append(append([]string{}, args...), pluginSO), chunkFiles...)
	cmd := exec.Command(hostBin, full...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := hostRun{stdout: stdout.String(), stderr: stderr.String()}
	if exitErr, ok := err.(*exec.ExitError); ok {
		run.exitCode = exitErr.ExitCode()
	} else if err != nil {
		run.exitCode = -1
		run.stderr += "\n" + err.Error()
	}
	return run
}

var flushTimeLine = regexp.MustCompile(`flush time longest [0-9.]+ ms, mean [0-9.]+ ms`)

func flushSummary(stderr string) string {
	return flushTimeLine.FindString(stderr)
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
