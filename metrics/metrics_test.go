package metrics

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scrape GETs the metrics page of the listener configured as address.
func scrape(t *testing.T, address string) string {
	t.Helper()
	bound := ListenAddress(address)
	require.NotEmpty(t, bound, "no listener for %s", address)
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + bound + Path)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func fixedSource(c Counters) Source { return func() Counters { return c } }

func TestRegisterServesCountersOverHTTP(t *testing.T) {
	const address = "127.0.0.1:0"
	unregister, err := Register(address, "runningrat.0", fixedSource(Counters{
		Records: 20, Skipped: map[string]int64{"not_cef": 1, "malformed_entry": 2},
		ExactAlerts: 6, ExtendedAlerts: 4, Delivered: 9, FailedBatches: 3, DeadLettered: 1,
		SpoolDepth: 5, SpoolFull: 7, FlushPanics: 8,
	}), discardLog())
	require.NoError(t, err)
	defer unregister()

	body := scrape(t, address)
	for _, want := range []string{
		`runningrat_records_total{instance="runningrat.0"} 20`,
		`runningrat_records_skipped_total{instance="runningrat.0",reason="not_cef"} 1`,
		`runningrat_records_skipped_total{instance="runningrat.0",reason="malformed_entry"} 2`,
		`runningrat_alerts_total{instance="runningrat.0",verdict="exact"} 6`,
		`runningrat_alerts_total{instance="runningrat.0",verdict="extended"} 4`,
		`runningrat_alerts_delivered_total{instance="runningrat.0"} 9`,
		`runningrat_delivery_failed_batches_total{instance="runningrat.0"} 3`,
		`runningrat_alerts_dead_lettered_total{instance="runningrat.0"} 1`,
		`runningrat_spool_alerts{instance="runningrat.0"} 5`,
		`runningrat_spool_full_retries_total{instance="runningrat.0"} 7`,
		`runningrat_flush_panics_total{instance="runningrat.0"} 8`,
		`# TYPE runningrat_spool_alerts gauge`,
		`# TYPE runningrat_records_total counter`,
	} {
		assert.Contains(t, body, want)
	}
}

func TestRegisterSharesOneListenerPerAddress(t *testing.T) {
	const address = "127.0.0.1:0"
	var records atomic.Int64
	first, err := Register(address, "runningrat.0", func() Counters { return Counters{Records: records.Load()} }, discardLog())
	require.NoError(t, err)
	bound := ListenAddress(address)

	second, err := Register(address, "runningrat.1", fixedSource(Counters{Records: 2}), discardLog())
	require.NoError(t, err)
	assert.Equal(t, bound, ListenAddress(address), "the second instance joins the first one's listener")

	records.Store(41)
	body := scrape(t, address)
	assert.Contains(t, body, `runningrat_records_total{instance="runningrat.0"} 41`)
	assert.Contains(t, body, `runningrat_records_total{instance="runningrat.1"} 2`)

	first()
	body = scrape(t, address)
	assert.NotContains(t, body, `instance="runningrat.0"`)
	assert.Contains(t, body, `instance="runningrat.1"`)

	second()
	assert.Empty(t, ListenAddress(address), "the last instance closes the listener")
}

func TestRegisterOtherAddressStartsOtherListener(t *testing.T) {
	a, err := Register("127.0.0.1:0", "runningrat.0", fixedSource(Counters{Records: 1}), discardLog())
	require.NoError(t, err)
	defer a()
	b, err := Register("localhost:0", "runningrat.1", fixedSource(Counters{Records: 2}), discardLog())
	require.NoError(t, err)
	defer b()

	assert.NotEqual(t, ListenAddress("127.0.0.1:0"), ListenAddress("localhost:0"))
	assert.NotContains(t, scrape(t, "127.0.0.1:0"), `instance="runningrat.1"`)
	assert.NotContains(t, scrape(t, "localhost:0"), `instance="runningrat.0"`)
}

func TestRegisterSameInstanceTwiceFails(t *testing.T) {
	const address = "127.0.0.1:0"
	first, err := Register(address, "runningrat.0", fixedSource(Counters{}), discardLog())
	require.NoError(t, err)
	defer first()

	_, err = Register(address, "runningrat.0", fixedSource(Counters{}), discardLog())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "runningrat.0")
	assert.NotEmpty(t, ListenAddress(address), "the failed registration leaves the listener to the first instance")
}

// A hot reload removes every instance and registers new ones under the same
// names: the listener closes and opens again, and nothing is registered
// twice.
func TestRegisterAgainAfterReload(t *testing.T) {
	const address = "127.0.0.1:0"
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for round := range 3 {
		unregister, err := Register(address, "runningrat.0", fixedSource(Counters{Records: int64(round)}), log)
		require.NoError(t, err, "round %d", round)
		assert.Contains(t, scrape(t, address), `runningrat_records_total{instance="runningrat.0"} `+string(rune('0'+round)))
		unregister()
		unregister() // a second call does nothing
	}
	assert.Equal(t, 3, strings.Count(logs.String(), "stopped serving metrics"))
}

func TestRegisterBusyAddressFails(t *testing.T) {
	first, err := Register("127.0.0.1:0", "runningrat.0", fixedSource(Counters{}), discardLog())
	require.NoError(t, err)
	defer first()

	busy := ListenAddress("127.0.0.1:0")
	_, err = Register(busy, "runningrat.1", fixedSource(Counters{}), discardLog())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Metrics_Listen")
	assert.Contains(t, err.Error(), busy)
}
