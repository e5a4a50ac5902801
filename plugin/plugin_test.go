package plugin

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/internal/flblog"
	"github.com/edgehunt/runningrat/pipeline"
)

// randomSecret returns a value made at run time, so that no secret, not
// even a fake one, sits in a fixture.
func randomSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "s3cr3t" + hex.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer that a logger and a test may share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestSettingsLineMasksSecrets(t *testing.T) {
	splunkToken, esPassword, esAPIKey := randomSecret(t), randomSecret(t), randomSecret(t)
	sharedKey, forwardPassword, urlPassword := randomSecret(t), randomSecret(t), randomSecret(t)
	settings := config.Map{
		"Sink":               "splunk",
		"Splunk_URL":         "https://hec:" + urlPassword + "@splunk.example.com:8088",
		"Splunk_Token":       splunkToken,
		"ES_URL":             "https://es1.example.com:9200, https://elastic:" + urlPassword + "@es2.example.com:9200",
		"ES_Username":        "elastic",
		"ES_Password":        esPassword,
		"ES_API_Key":         esAPIKey,
		"Forward_Shared_Key": sharedKey,
		"Forward_Username":   "relay",
		"Forward_Password":   forwardPassword,
		"Spool_Dir":          t.TempDir(),
		"Stats_Interval":     "60s",
		"Metrics_Listen":     "127.0.0.1:2021",
	}
	cfg, err := pipeline.LoadConfig(settings)
	require.NoError(t, err)
	obs, err := pipeline.LoadObserveConfig(settings)
	require.NoError(t, err)

	var buf bytes.Buffer
	slog.New(flblog.New(&buf, "output:runningrat:runningrat.0", slog.LevelInfo)).Info("started", settingsAttrs(cfg, obs, settings)...)
	line := buf.String()

	for name, secret := range map[string]string{
		"Splunk_Token": splunkToken, "ES_Password": esPassword, "ES_API_Key": esAPIKey,
		"Forward_Shared_Key": sharedKey, "Forward_Password": forwardPassword, "URL password": urlPassword,
	} {
		assert.NotContains(t, line, secret, name)
	}
	for _, want := range []string{
		"splunk_token=***", "es_password=***", "es_api_key=***", "forward_shared_key=***", "forward_password=***",
		"splunk_url=https://hec:xxxxx@splunk.example.com:8088",
		"es_url=https://es1.example.com:9200,https://elastic:xxxxx@es2.example.com:9200",
		"es_username=elastic", "forward_username=relay",
		"sink=splunk", "stats_interval=1m0s", "metrics_listen=127.0.0.1:2021",
		"detection_mode=extended", "spool_max_size=268435456", "spool_sync=normal",
	} {
		assert.Contains(t, line, want)
	}
	assert.Equal(t, 1, strings.Count(line, "\n"), "one line")
}

func TestSettingsLineDefaults(t *testing.T) {
	settings := config.Map{"Spool_Dir": t.TempDir()}
	cfg, err := pipeline.LoadConfig(settings)
	require.NoError(t, err)
	obs, err := pipeline.LoadObserveConfig(settings)
	require.NoError(t, err)

	var buf bytes.Buffer
	slog.New(flblog.New(&buf, "s", slog.LevelInfo)).Info("started", settingsAttrs(cfg, obs, settings)...)
	line := buf.String()
	for _, want := range []string{
		"sink=stdout", `path=""`, "alert_format=native", `message_key="log, message or msg"`,
		"stats_interval=off", "metrics_listen=off", "shutdown_timeout=5s", "skip_log_interval=1m0s",
		"delivery_linger=200ms", "rules=all", `rules_path=""`, "rules_watch_interval=10s", "unknown_keys=error",
	} {
		assert.Contains(t, line, want)
	}
	assert.NotContains(t, line, "splunk_", "unset sink keys are left out")
}

func TestMaskValue(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"secret", "Forward_Shared_Key", "abc", masked},
		{"url without user", "Splunk_URL", "https://splunk.example.com:8088", "https://splunk.example.com:8088"},
		{"url with user only", "Splunk_URL", "https://hec@splunk.example.com", "https://hec@splunk.example.com"},
		{"url with password", "Splunk_URL", "https://hec:pw@splunk.example.com", "https://hec:xxxxx@splunk.example.com"},
		{"unparsable url masked whole", "ES_URL", "http://a b:pw@[::1", masked},
		{"plain key kept", "ES_Index", "logs-x", "logs-x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, maskValue(tt.key, tt.value))
		})
	}
}

// newTestInstance starts an instance over a stdout sink whose log goes to
// the returned buffer.
func newTestInstance(t *testing.T, settings config.Map) (*instance, *syncBuffer) {
	t.Helper()
	settings["Spool_Dir"] = t.TempDir()
	cfg, err := pipeline.LoadConfig(settings)
	require.NoError(t, err)
	obs, err := pipeline.LoadObserveConfig(settings)
	require.NoError(t, err)

	logs := &syncBuffer{}
	log := slog.New(flblog.New(logs, "output:runningrat:test", slog.LevelInfo))
	out, err := pipeline.New(cfg, settings, log)
	require.NoError(t, err)
	inst := &instance{id: "test." + filepath.Base(t.Name()), out: out, log: log}
	require.NoError(t, inst.startObserving(obs))
	t.Cleanup(inst.close)
	return inst, logs
}

func TestStatsLineListsCounters(t *testing.T) {
	inst, logs := newTestInstance(t, config.Map{})
	inst.flushPanics.Add(2)
	inst.logStats()

	line := logs.String()
	for _, want := range []string{
		"] [ info] [output:runningrat:test] stats records=0 skipped=none exact_alerts=0 extended_alerts=0",
		"delivered=0", "failed_delivery_batches=0", "dead_lettered=0", "spool_alerts=0",
		"spool_full_retries=0", "flush_panics=2",
	} {
		assert.Contains(t, line, want)
	}
}

func TestStatsIntervalLogsPeriodically(t *testing.T) {
	_, logs := newTestInstance(t, config.Map{"Stats_Interval": "10ms"})

	// Wait for two lines, bounded in count and time, without asserting
	// on when they came.
	for range 500 {
		if strings.Count(logs.String(), "] stats records=") >= 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	assert.GreaterOrEqual(t, strings.Count(logs.String(), "] stats records="), 2)
}

func TestStopObservingStopsStatsAndMetrics(t *testing.T) {
	inst, logs := newTestInstance(t, config.Map{"Stats_Interval": "10ms", "Metrics_Listen": "127.0.0.1:0"})
	inst.stopObserving()
	inst.stopObserving() // a second call does nothing

	before := logs.String()
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, before, logs.String(), "no stats line after stopping")
	assert.Nil(t, inst.unregisterMetrics)
}

func TestClaimIndexTakesLowestFree(t *testing.T) {
	a, b := claimIndex(), claimIndex()
	defer releaseIndex(b)
	releaseIndex(a)
	c := claimIndex()
	defer releaseIndex(c)
	assert.Equal(t, a, c, "a released number is taken again, as after a hot reload")
	assert.NotEqual(t, b, c)
}

func TestFlushPanicCountsAndDrops(t *testing.T) {
	inst, logs := newTestInstance(t, config.Map{})
	inst.panicTag = "fw.boom"
	status := flushChunk(inst, []byte{0x90}, "fw.boom")
	assert.Equal(t, 0, status, "FLB_ERROR")
	assert.Equal(t, int64(1), inst.flushPanics.Load())
	assert.Contains(t, logs.String(), "[error] [output:runningrat:test] recovered from a panic in a flush; the chunk is dropped with FLB_ERROR tag=fw.boom")

	assert.Equal(t, 1, flushChunk(inst, nil, "fw.ok"), "FLB_OK for another tag")
}
