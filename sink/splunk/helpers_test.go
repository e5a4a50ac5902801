package splunk

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/internal/fake/hec"
	"github.com/edgehunt/runningrat/internal/testkit"
	"github.com/edgehunt/runningrat/sink"
)

// testAlerts returns n alerts with the ids alert-000, alert-001, …
func testAlerts(t *testing.T, n int) []detect.Alert {
	t.Helper()
	golden := testkit.GoldenAlerts(t, "pan-os.extended")
	out := make([]detect.Alert, n)
	for i := range out {
		out[i] = golden[i%len(golden)]
		out[i].ID = fmt.Sprintf("alert-%03d", i)
	}
	return out
}

// settingsFor returns the keys that point a sink at srv, with extra
// merged in; an extra value of "" removes the key.
func settingsFor(srv *hec.Server, extra config.Map) config.Map {
	cfg := config.Map{
		"Splunk_URL":   srv.URL(),
		"Splunk_Token": srv.Token(),
		"Sink_Timeout": "2s",
	}
	if ca := srv.CAFile(); ca != "" {
		cfg["Sink_TLS_CA_File"] = ca
	}
	for k, v := range extra {
		if v == "" {
			delete(cfg, k)
			continue
		}
		cfg[k] = v
	}
	return cfg
}

// newSink builds a sink for srv and returns it with its log output.
func newSink(t *testing.T, srv *hec.Server, extra config.Map) (*Sink, *testkit.LogBuffer) {
	t.Helper()
	logs := &testkit.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(sink.Options{Config: settingsFor(srv, extra), Log: log})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close(t.Context()) })
	return s, logs
}

// itemSets splits a BatchError into the sorted indexes of transient and
// permanent failures.
func itemSets(be *sink.BatchError) (transient, permanent []int) {
	for _, it := range be.Items {
		if it.Permanent {
			permanent = append(permanent, it.Index)
		} else {
			transient = append(transient, it.Index)
		}
	}
	return transient, permanent
}

// reasonOf returns the reason given for index i, or "".
func reasonOf(be *sink.BatchError, i int) string {
	for _, it := range be.Items {
		if it.Index == i {
			return it.Reason
		}
	}
	return ""
}

// storedIDs returns the alert ids the server stored, in order.
func storedIDs(srv *hec.Server) []string {
	var ids []string
	for _, ev := range srv.Events() {
		ids = append(ids, ev.AlertID)
	}
	return ids
}

// requestStatuses returns the status of each event request, in order.
func requestStatuses(srv *hec.Server) []int {
	var out []int
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "/event") {
			out = append(out, r.Status)
		}
	}
	return out
}
