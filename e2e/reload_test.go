package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/chunk"
)

// hitChunks returns count chunks of one hit each, the n-th stamped n
// seconds after base, so that each alert names its chunk.
func hitChunks(base time.Time, count int) [][]byte {
	chunks := make([][]byte, count)
	for i := range chunks {
		chunks[i] = chunk.Encoder{}.Append(nil, base.Add(time.Duration(i)*time.Second), []string{"log"},
			[]string{"CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|request=cdn.example.com/ui/chk?mactok=1 requestMethod=GET"})
	}
	return chunks
}

// TestEndToEndHotReload replays the chunks, reloads as Fluent Bit does on
// SIGHUP with Hot_Reload On, and replays them again, with two instances of
// two workers that share one metrics listener. While each generation is
// paused (-s), the test reads the metrics over HTTP.
func TestEndToEndHotReload(t *testing.T) {
	const chunks = 6
	input := writeChunkFile(t, "fw.reload", hitChunks(time.Unix(1747218067, 0), chunks)...)
	spoolDir := t.TempDir()
	alertsPath := filepath.Join(t.TempDir(), "alerts.json")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"-R", "-s", "-i", "2", "-w", "2",
		"-p", "Sink=file", "-p", "Path=" + alertsPath, "-p", "Spool_Dir=" + spoolDir,
		"-p", "Metrics_Listen=127.0.0.1:0", "-p", "Stats_Interval=1s", pluginSO, input}
	cmd := exec.CommandContext(ctx, hostBin, args...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stderrPipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	// Read the log line by line; at each pause, scrape and let the host go on.
	urlPattern := regexp.MustCompile(`serving metrics .*url=(\S+)`)
	var stderr strings.Builder
	var scrapes []string
	metricsURL := ""
	scanner := bufio.NewScanner(stderrPipe)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		stderr.WriteString(line + "\n")
		if m := urlPattern.FindStringSubmatch(line); m != nil {
			metricsURL = m[1]
		}
		if strings.Contains(line, "waiting for a line on standard input") {
			require.NotEmpty(t, metricsURL, "no metrics listener was logged before the pause")
			scrapes = append(scrapes, httpGet(t, metricsURL))
			_, err := io.WriteString(stdin, "\n")
			require.NoError(t, err)
		}
	}
	require.NoError(t, stdin.Close())
	err = cmd.Wait()
	log := stderr.String()
	require.NoError(t, err, log)

	// Alerts from both halves, from both instances.
	text, err := os.ReadFile(alertsPath)
	require.NoError(t, err)
	alerts := parseAlerts(t, string(text))
	assert.Len(t, alerts, 2*2*chunks, "each chunk's alert once per instance and half")
	perID := map[string]int{}
	for _, a := range alerts {
		perID[a.ID]++
	}
	assert.Len(t, perID, chunks)

	// The old instances' spools were released and the new ones took the
	// same files, not numbered copies.
	plain := regexp.MustCompile(`spool ready spool=` + regexp.QuoteMeta(spoolDir) + `/file-[0-9a-f]{12}\.spool `)
	assert.Len(t, plain.FindAllString(log, -1), 2, "one instance of each generation uses the plain spool name")
	assert.Len(t, regexp.MustCompile(`spool ready spool=\S+\.2\.spool `).FindAllString(log, -1), 2, "the second instance of each generation uses the .2 spool")
	assert.NotContains(t, log, ".3.spool")
	assert.Equal(t, 2, strings.Count(log, "] [ info] [output:runningrat:runningrat.0] started "), "the new instances take the old names")

	// One listener per generation, shared by both instances, and the
	// counters of each generation start from zero.
	assert.Equal(t, 2, strings.Count(log, "] serving metrics"))
	assert.Equal(t, 2, strings.Count(log, "stopped serving metrics"))
	require.Len(t, scrapes, 2)
	for i, body := range scrapes {
		for _, instance := range []string{"runningrat.0", "runningrat.1"} {
			assert.Contains(t, body, `runningrat_records_total{instance="`+instance+`"} 6`, "scrape %d", i)
			assert.Contains(t, body, `runningrat_alerts_total{instance="`+instance+`",verdict="exact"} 6`, "scrape %d", i)
		}
	}

	assert.NotContains(t, log, "panic")
	assert.NotContains(t, log, "already served")
	assert.NotContains(t, log, "[error]")
}

// httpGet returns the body of a GET on a loopback URL.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	require.True(t, strings.HasPrefix(url, "http://127.0.0.1:"), "only loopback URLs: %s", url)
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}
