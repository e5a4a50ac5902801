package elasticsearch

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
	"github.com/edgehunt/runningrat/internal/fake/bulk"
	"github.com/edgehunt/runningrat/internal/testkit"
	"github.com/edgehunt/runningrat/sink"
)

// makeAlerts returns n copies of the first golden alert with the ids
// <prefix>-0 … <prefix>-(n-1).
func makeAlerts(t *testing.T, prefix string, n int) []detect.Alert {
	t.Helper()
	base := testkit.GoldenAlerts(t, "pan-os.extended")[0]
	out := make([]detect.Alert, n)
	for i := range out {
		out[i] = base
		out[i].ID = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
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
func newSink(t *testing.T, url string, keys config.Map) (*Sink, *testkit.LogBuffer) {
	t.Helper()
	s, logs, err := buildSink(url, keys, format.Default)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close(t.Context()) })
	return s, logs
}

func buildSink(url string, keys config.Map, f format.Format) (*Sink, *testkit.LogBuffer, error) {
	cfg := config.Map{"ES_URL": url, "Sink_Timeout": "5s"}
	for k, v := range keys {
		cfg[k] = v
	}
	logs := &testkit.LogBuffer{}
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
