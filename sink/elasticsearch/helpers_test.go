package elasticsearch

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
	"github.com/edgehunt/runningrat/internal/fake/bulk"
	"github.com/edgehunt/runningrat/sink"
)

// goldenAlerts reads the PAN-OS golden alerts: one extended, two exact.
func goldenAlerts(t *testing.T) []detect.Alert {
	t.Helper()
	f, err := os.Open("../../testdata/golden/pan-os.extended.jsonl")
	require.NoError(t, err)
	defer f.Close()

	var alerts []detect.Alert
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		a, err := detect.ParseAlert(s.Bytes())
		require.NoError(t, err)
		alerts = append(alerts, a)
	}
	require.NoError(t, s.Err())
	require.NotEmpty(t, alerts)
	return alerts
}

// makeAlerts returns n copies of the first golden alert with the ids
// <prefix>-0 … <prefix>-(n-1).
func makeAlerts(t *testing.T, prefix string, n int) []detect.Alert {
	t.Helper()
	base := goldenAlerts(t)[0]
	out := make([]detect.Alert, n)
	for i := range out {
		out[i] = base
		out[i].ID = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// logBuffer collects a sink's log output for tests to search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startFake(t *testing.T, opts bulk.Options) *bulk.Server {
	t.Helper()
	srv, err := bulk.Start(opts)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

// newSink builds the sink through the registry, as the plugin does, with
// ES_URL set to url and Sink_Timeout to 5s unless keys set them. The log
// records every level.
func newSink(t *testing.T, url string, keys config.Map) (*Sink, *logBuffer) {
	t.Helper()
	s, logs, err := buildSink(url, keys, format.Default)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close(t.Context()) })
	return s, logs
}

func buildSink(url string, keys config.Map, f format.Format) (*Sink, *logBuffer, error) {
	cfg := config.Map{"ES_URL": url, "Sink_Timeout": "5s"}
	for k, v := range keys {
		cfg[k] = v
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := sink.New("elasticsearch", sink.Options{Config: cfg, Log: log, Format: f})
	if err != nil {
		return nil, logs, err
	}
	return s.(*Sink), logs, nil
}

// failedIndexes splits a BatchError's items into transient and permanent
// batch positions.
func failedIndexes(t *testing.T, err error) (transient, permanent []int) {
	t.Helper()
	be := sink.AsBatchError(err)
	require.NotNil(t, be, "want a *sink.BatchError, got %v", err)
	for _, it := range be.Items {
		if it.Permanent {
			permanent = append(permanent, it.Index)
		} else {
			transient = append(transient, it.Index)
		}
	}
	return transient, permanent
}
