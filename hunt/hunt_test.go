package hunt

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
)

// verdicts reduces alerts to what does not depend on the record's time or
// tag: verdict, reasons, indicators and URL, sorted.
func verdicts(t *testing.T, lines []byte) []string {
	t.Helper()
	var out []string
	s := bufio.NewScanner(bytes.NewReader(lines))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		a, err := detect.ParseAlert(s.Bytes())
		require.NoError(t, err)
		out = append(out, strings.Join([]string{a.Verdict, strings.Join(a.ExtendedReasons, ","),
			strings.Join(a.Indicators, ","), a.Event.Get("RequestURL")}, " | "))
	}
	sort.Strings(out)
	return out
}

func golden(t *testing.T, mode string) []byte {
	t.Helper()
	paths, err := filepath.Glob("../testdata/golden/*." + mode + ".jsonl")
	require.NoError(t, err)
	var all []byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		all = append(all, b...)
	}
	return all
}

// TestHuntMatchesThePlugin hunts the vendor samples and compares the alerts
// with the plugin's golden alerts for the same lines.
func TestHuntMatchesThePlugin(t *testing.T) {
	for _, mode := range []string{"exact", "extended"} {
		t.Run(mode, func(t *testing.T) {
			var out bytes.Buffer
			summary, err := Run(context.Background(), []string{"../testdata/samples"}, Options{
				Settings: config.Map{"Detection_Mode": mode}, Out: &out, Workers: 2,
			})
			require.NoError(t, err)
			assert.Equal(t, verdicts(t, golden(t, mode)), verdicts(t, out.Bytes()))
			assert.Equal(t, 4, summary.Files)
			assert.Equal(t, int64(20), summary.Records)
			assert.Equal(t, map[string]int64{"not_cef": 1}, summary.Skipped)
			assert.Equal(t, int64(len(verdicts(t, out.Bytes()))), summary.Alerts)
		})
	}
}

func TestHuntReadsGzipAndJSONLines(t *testing.T) {
	dir := t.TempDir()
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, err := w.Write([]byte("CEF:0|V|P|1|2|n|3|requestMethod=GET request=/ui/chk?a=1\nnot a cef line\n"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old.log.gz"), gz.Bytes(), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "split.json"), []byte(
		`{"RequestMethod":"GET","RequestURL":"https://x.example.com/a?kMnD=1","SourceIP":"192.0.2.9"}`+"\n"+
			`{"log":"CEF:0|V|P|1|2|n|3|requestMethod=GET request=/b?UsRnMe=x"}`+"\n"), 0o600))

	var out bytes.Buffer
	summary, err := Run(context.Background(), []string{dir}, Options{Settings: config.Map{}, Out: &out, Workers: 1})
	require.NoError(t, err)
	assert.Equal(t, 2, summary.Files)
	assert.Equal(t, int64(4), summary.Records)
	assert.Equal(t, int64(3), summary.Alerts)
	assert.Equal(t, []SourceCount{{SourceIP: "192.0.2.9", Alerts: 1}}, summary.TopSources)
}

func TestHuntTagsNameFileAndLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "proxy.log")
	require.NoError(t, os.WriteFile(path, []byte("not cef\nCEF:0|V|P|1|2|n|3|requestMethod=GET request=/ui/chk\n"), 0o600))

	var out bytes.Buffer
	_, err := Run(context.Background(), []string{path}, Options{Settings: config.Map{}, Out: &out, Workers: 1})
	require.NoError(t, err)
	a, err := detect.ParseAlert(bytes.TrimSpace(out.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, path+":1", a.FluentBit.Tag, "the chunk starts at line 1; the hit is its record 1")
}

func TestHuntReportsMissingInput(t *testing.T) {
	_, err := Run(context.Background(), []string{"no/such/file"}, Options{Settings: config.Map{}, Out: &bytes.Buffer{}})
	assert.ErrorContains(t, err, "no/such/file")
}

func TestHuntDrawsProgress(t *testing.T) {
	var out, progress bytes.Buffer
	_, err := Run(context.Background(), []string{"../testdata/samples"}, Options{Settings: config.Map{}, Out: &out, Progress: &progress})
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(progress.String(), "\n"), "the progress line is ended")
}

// TestHuntKeepsUndeliveredAlerts sends to a loopback port where nothing
// listens: the alerts raised must be counted, kept in the spool and
// reported as an error.
func TestHuntKeepsUndeliveredAlerts(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddress := listener.Addr().String()
	require.NoError(t, listener.Close())

	spoolDir := t.TempDir()
	settings := config.Map{"Sink": "elasticsearch", "ES_URL": "http://" + closedAddress, "Shutdown_Timeout": "200ms",
		"Spool_Dir": spoolDir}

	summary, err := Run(context.Background(), []string{"../testdata/samples/pan-os.log"}, Options{Settings: settings, Out: &bytes.Buffer{}, Workers: 1})

	require.Error(t, err)
	assert.Contains(t, err.Error(), "were not delivered")
	assert.Contains(t, err.Error(), spoolDir)
	assert.Equal(t, int64(3), summary.Alerts)
	assert.Equal(t, int64(0), summary.Delivered)
	assert.Equal(t, int64(3), summary.Undelivered)
	entries, _ := os.ReadDir(spoolDir)
	assert.NotEmpty(t, entries, "the spool is kept")
}
