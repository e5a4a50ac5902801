package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
	"github.com/edgehunt/runningrat/internal/fake/bulk"
	"github.com/edgehunt/runningrat/internal/testkit"
	"github.com/edgehunt/runningrat/sink"
)

func TestSendDeliversBatch(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, _ := newSink(t, srv.URL(), nil)
	alerts := testkit.GoldenAlerts(t, "pan-os.extended")

	require.NoError(t, s.Send(t.Context(), alerts))

	for _, a := range alerts {
		assert.Equal(t, 1, srv.Writes(DefaultIndex, a.ID), a.ID)
	}
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "/_bulk", reqs[0].Path)
	assert.Equal(t, "application/x-ndjson", reqs[0].ContentType)
	require.Len(t, reqs[0].Actions, len(alerts))
	for i, a := range alerts {
		assert.Equal(t, bulk.Action{Op: "create", Index: DefaultIndex, ID: a.ID}, reqs[0].Actions[i])
	}
}

func TestDocumentShapeIsECS(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, _ := newSink(t, srv.URL(), nil)
	alert := testkit.GoldenAlerts(t, "pan-os.extended")[0]
	require.NoError(t, s.Send(t.Context(), []detect.Alert{alert}))

	stored, ok := srv.Document(DefaultIndex, alert.ID)
	require.True(t, ok)
	assert.True(t, strings.HasPrefix(stored.BackingIndex, ".ds-"+DefaultIndex+"-"), "the default index is a data stream")
	var doc map[string]any
	require.NoError(t, json.Unmarshal(stored.Source, &doc))

	event := doc["event"].(map[string]any)
	assert.Equal(t, "alert", event["kind"])
	assert.Equal(t, alert.ID, event["id"])
	threat := doc["threat"].(map[string]any)
	assert.Equal(t, "MITRE ATT&CK", threat["framework"])
	assert.Equal(t, []any{"T1041", "T1071"}, threat["technique"].(map[string]any)["id"])
	assert.Equal(t, []any{"TA0010", "TA0011"}, threat["tactic"].(map[string]any)["id"])
	assert.Equal(t, "cdn.example.com/ui/chk?IlocalP=192.0.2.25", doc["url"].(map[string]any)["original"])
	assert.Equal(t, "192.0.2.25", doc["source"].(map[string]any)["ip"])
	assert.Equal(t, alert.Rule.ID, doc["rule"].(map[string]any)["id"])
	assert.Equal(t, []any{"POLONIUM"}, doc["tags"])
	assert.Equal(t, alert.Timestamp, doc["@timestamp"])
}

func TestAlertFormatNative(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, _, err := buildSink(srv.URL(), config.Map{"ES_Index": "runningrat-alerts"}, format.Native)
	require.NoError(t, err)
	alert := testkit.GoldenAlerts(t, "pan-os.extended")[0]
	require.NoError(t, s.Send(t.Context(), []detect.Alert{alert}))

	stored, ok := srv.Document("runningrat-alerts", alert.ID)
	require.True(t, ok)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(stored.Source, &doc))
	assert.Equal(t, alert.ID, doc["alert_id"])
	assert.Equal(t, "extended", doc["verdict"])
}

func TestMixedItemErrors(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, logs := newSink(t, srv.URL(), nil)
	alerts := makeAlerts(t, "mixed", 7)
	require.NoError(t, s.Send(t.Context(), alerts[5:6]), "store alert 5 so that it comes back 409")
	srv.FailItem(alerts[1].ID, bulk.ItemRejected, 1)
	srv.FailItem(alerts[2].ID, bulk.ItemMappingError, 1)
	srv.FailItem(alerts[3].ID, bulk.ItemInternalError, 1)
	srv.FailItem(alerts[4].ID, bulk.ItemUnavailable, 1)

	err := s.Send(t.Context(), alerts)

	transient, permanent := failedIndexes(t, err)
	assert.Equal(t, []int{1, 3, 4}, transient)
	assert.Equal(t, []int{2}, permanent)
	be := sink.AsBatchError(err)
	assert.Contains(t, be.Items[0].Reason, "status 429 es_rejected_execution_exception")
	assert.Contains(t, be.Items[1].Reason, "status 400 document_parsing_exception")
	assert.Contains(t, be.Items[1].Reason, "caused by illegal_argument_exception")
	for _, i := range []int{0, 5, 6} {
		assert.Equal(t, 1, srv.Writes(DefaultIndex, alerts[i].ID), "alert %d delivered once", i)
	}
	assert.Contains(t, logs.String(), "rejected alerts for good")
	assert.Contains(t, logs.String(), "first_alert_id="+alerts[2].ID)

	require.NoError(t, s.Send(t.Context(), alerts), "the faults were for one time")
	for _, a := range alerts {
		assert.Equal(t, 1, srv.Writes(DefaultIndex, a.ID), a.ID)
	}
}

func TestResendCountsConflictAsDelivered(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, _ := newSink(t, srv.URL(), nil)
	alerts := testkit.GoldenAlerts(t, "pan-os.extended")

	require.NoError(t, s.Send(t.Context(), alerts))
	require.NoError(t, s.Send(t.Context(), alerts))

	for _, a := range alerts {
		assert.Equal(t, 1, srv.Writes(DefaultIndex, a.ID))
		assert.Equal(t, 1, srv.Conflicts(DefaultIndex, a.ID))
	}
}

func TestWholeRequestFailures(t *testing.T) {
	tests := []struct {
		status  int
		log     string
		errText string
	}{
		{http.StatusTooManyRequests, "could not take the request", "es_rejected_execution_exception"},
		{http.StatusServiceUnavailable, "could not take the request", "cluster_block_exception"},
		{http.StatusInternalServerError, "could not take the request", "illegal_state_exception"},
		{http.StatusBadGateway, "could not take the request", "502 Bad Gateway"},
		{http.StatusGatewayTimeout, "could not take the request", "504 Gateway Timeout"},
		{http.StatusUnauthorized, "rejected the credentials", "security_exception"},
		{http.StatusForbidden, "denied writing alerts", "is unauthorized for user"},
		{http.StatusNotFound, "returned 404 for _bulk", "no such index [logs-runningrat.alert-default]"},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := startFake(t, bulk.Options{})
			s, logs := newSink(t, srv.URL(), nil)
			alerts := testkit.GoldenAlerts(t, "pan-os.extended")
			srv.FailRequests(1, tt.status)

			err := s.Send(t.Context(), alerts)

			require.Error(t, err)
			assert.Nil(t, sink.AsBatchError(err), "a whole-request failure means none delivered")
			assert.Contains(t, err.Error(), fmt.Sprintf("HTTP %d", tt.status))
			assert.Contains(t, err.Error(), tt.errText)
			assert.Contains(t, logs.String(), tt.log)
			assert.Empty(t, srv.Documents())

			require.NoError(t, s.Send(t.Context(), alerts))
			assert.Len(t, srv.Documents(), len(alerts))
		})
	}
}

func TestWholeRequestBadRequestIsPermanent(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, logs := newSink(t, srv.URL(), nil)
	srv.FailRequests(1, http.StatusBadRequest)

	err := s.Send(t.Context(), testkit.GoldenAlerts(t, "pan-os.extended"))

	transient, permanent := failedIndexes(t, err)
	assert.Empty(t, transient)
	assert.Equal(t, []int{0, 1, 2}, permanent)
	assert.Contains(t, logs.String(), "rejected the whole request")
}

func TestFailedRequestStopsTheBatch(t *testing.T) {
	tests := []struct {
		name      string
		skip      int
		delivered int
	}{
		{"first request fails", 0, 0},
		{"second request fails", 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startFake(t, bulk.Options{})
			s, _ := newSink(t, srv.URL(), config.Map{"ES_Batch_Size": "2"})
			srv.FailRequestsAfter(tt.skip, 1, http.StatusTooManyRequests)
			alerts := makeAlerts(t, "stop", 5)

			err := s.Send(t.Context(), alerts)

			require.Error(t, err)
			assert.Len(t, srv.Requests(), tt.skip+1, "no request after the one that failed")
			assert.Len(t, srv.Documents(), tt.delivered)
			if tt.delivered == 0 {
				assert.Nil(t, sink.AsBatchError(err), "none delivered")
				return
			}
			transient, permanent := failedIndexes(t, err)
			assert.Equal(t, []int{2, 3, 4}, transient)
			assert.Empty(t, permanent)
			assert.Contains(t, sink.AsBatchError(err).Items[2].Reason, "not sent because an earlier request of the batch failed: HTTP 429")
		})
	}
}

func TestTooLargeRequestIsSplit(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, logs := newSink(t, srv.URL(), nil)
	alerts := makeAlerts(t, "split", 8)
	docs, failures := s.encode(alerts)
	require.Empty(t, failures)
	// Two documents fit, three do not.
	srv.SetMaxContentLength(int64(len(docs[0].lines)*2 + len(docs[0].lines)/2))

	require.NoError(t, s.Send(t.Context(), alerts))

	for _, a := range alerts {
		assert.Equal(t, 1, srv.Writes(DefaultIndex, a.ID), a.ID)
	}
	assert.Equal(t, 3, srv.Stats().TooLarge, "8 documents, then 4 and 4, each get 413")
	assert.Contains(t, logs.String(), "sends it in halves")
}

func TestDocumentTooLargeIsPermanent(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, logs := newSink(t, srv.URL(), nil)
	srv.SetMaxContentLength(100)

	err := s.Send(t.Context(), makeAlerts(t, "huge", 2))

	transient, permanent := failedIndexes(t, err)
	assert.Empty(t, transient)
	assert.Equal(t, []int{0, 1}, permanent)
	assert.Contains(t, sink.AsBatchError(err).Items[0].Reason, "HTTP 413")
	assert.Contains(t, logs.String(), "rejected an alert as too large")
}

func TestBatchLimitsSplitRequests(t *testing.T) {
	tests := []struct {
		name     string
		keys     config.Map
		requests int
	}{
		{"batch size", config.Map{"ES_Batch_Size": "2"}, 3},
		{"request size", config.Map{"ES_Max_Request_Size": "1K"}, 5},
		{"defaults", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startFake(t, bulk.Options{})
			s, _ := newSink(t, srv.URL(), tt.keys)
			alerts := makeAlerts(t, "limits", 5)

			require.NoError(t, s.Send(t.Context(), alerts))

			assert.Len(t, srv.Requests(), tt.requests)
			assert.Len(t, srv.Documents(), 5)
		})
	}
}

func TestFailoverToNextNode(t *testing.T) {
	first := startFake(t, bulk.Options{})
	second := startFake(t, bulk.Options{})
	s, logs := newSink(t, first.URL()+","+second.URL(), nil)
	alerts := makeAlerts(t, "failover", 3)
	first.Down()

	require.NoError(t, s.Send(t.Context(), alerts[:1]))
	assert.Equal(t, 1, second.Writes(DefaultIndex, alerts[0].ID))
	assert.Contains(t, logs.String(), "trying the next one")

	require.NoError(t, first.Up())
	require.NoError(t, s.Send(t.Context(), alerts[1:2]))
	assert.Zero(t, first.Stats().Requests, "the sink stays on the node that worked")
	assert.Equal(t, 1, second.Writes(DefaultIndex, alerts[1].ID))

	second.Down()
	require.NoError(t, s.Send(t.Context(), alerts[2:]))
	assert.Equal(t, 1, first.Writes(DefaultIndex, alerts[2].ID))
}

func TestFailoverOnServerError(t *testing.T) {
	first := startFake(t, bulk.Options{})
	second := startFake(t, bulk.Options{})
	s, _ := newSink(t, first.URL()+","+second.URL(), nil)
	first.FailRequests(1, http.StatusServiceUnavailable)
	alert := testkit.GoldenAlerts(t, "pan-os.extended")[0]

	require.NoError(t, s.Send(t.Context(), []detect.Alert{alert}))

	assert.Equal(t, 1, second.Writes(DefaultIndex, alert.ID))
	assert.Zero(t, first.Writes(DefaultIndex, alert.ID))
}

func TestAllNodesDown(t *testing.T) {
	first := startFake(t, bulk.Options{})
	second := startFake(t, bulk.Options{})
	s, logs := newSink(t, first.URL()+","+second.URL(), nil)
	first.Down()
	second.Down()

	err := s.Send(t.Context(), testkit.GoldenAlerts(t, "pan-os.extended"))

	require.Error(t, err)
	assert.Nil(t, sink.AsBatchError(err))
	assert.Contains(t, err.Error(), "connection refused")
	assert.Contains(t, logs.String(), "no Elasticsearch node could be reached")
}

func TestServerDownThenUp(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, _ := newSink(t, srv.URL(), nil)
	alerts := testkit.GoldenAlerts(t, "pan-os.extended")
	require.NoError(t, s.Send(t.Context(), alerts[:1]), "opens a kept-alive connection")

	srv.Down()
	require.Error(t, s.Send(t.Context(), alerts))
	require.NoError(t, srv.Up())
	require.NoError(t, s.Send(t.Context(), alerts))

	for _, a := range alerts {
		assert.Equal(t, 1, srv.Writes(DefaultIndex, a.ID))
	}
}

func TestCredentials(t *testing.T) {
	const password = "pw-Zq81-never-logged"
	const apiKey = "a2V5aWQ6bmV2ZXItbG9nZ2VkLWtleQ=="
	tests := []struct {
		name    string
		flavor  bulk.Flavor
		keys    config.Map
		wantErr string
	}{
		{"basic", bulk.Elasticsearch8, config.Map{"ES_Username": "alerts_writer", "ES_Password": password}, ""},
		{"API key", bulk.Elasticsearch8, config.Map{"ES_API_Key": apiKey}, ""},
		{"API key as id:key", bulk.Elasticsearch8, config.Map{"ES_API_Key": "keyid:never-logged-key"}, ""},
		{"wrong password", bulk.Elasticsearch8, config.Map{"ES_Username": "alerts_writer", "ES_Password": password + "x"}, "unable to authenticate user [alerts_writer]"},
		{"wrong API key", bulk.Elasticsearch8, config.Map{"ES_API_Key": "x" + apiKey}, "unable to authenticate with provided credentials"},
		{"no credentials", bulk.Elasticsearch8, nil, "missing authentication credentials"},
		{"OpenSearch wrong password", bulk.OpenSearch2, config.Map{"ES_Username": "alerts_writer", "ES_Password": password + "x"}, "HTTP 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startFake(t, bulk.Options{Flavor: tt.flavor, Username: "alerts_writer", Password: password, APIKey: apiKey})
			s, logs := newSink(t, srv.URL(), tt.keys)
			alerts := testkit.GoldenAlerts(t, "pan-os.extended")

			err := s.Send(t.Context(), alerts)

			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Len(t, srv.Documents(), len(alerts))
			} else {
				require.Error(t, err)
				assert.Nil(t, sink.AsBatchError(err), "an auth failure is transient for the whole batch")
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Contains(t, logs.String(), "rejected the credentials")
			}
			for _, secret := range []string{password, apiKey, "never-logged"} {
				assert.NotContains(t, logs.String(), secret, "log output")
				if err != nil {
					assert.NotContains(t, err.Error(), secret, "error")
				}
			}
		})
	}
}

func TestFlavors(t *testing.T) {
	tests := []struct {
		flavor       bulk.Flavor
		mappingError string
	}{
		{bulk.Elasticsearch7, "mapper_parsing_exception"},
		{bulk.Elasticsearch8, "document_parsing_exception"},
		{bulk.Elasticsearch9, "document_parsing_exception"},
		{bulk.OpenSearch2, "mapper_parsing_exception"},
	}
	for _, tt := range tests {
		t.Run(tt.flavor.String(), func(t *testing.T) {
			srv := startFake(t, bulk.Options{Flavor: tt.flavor})
			s, _ := newSink(t, srv.URL(), nil)
			alerts := makeAlerts(t, "flavor", 4)
			require.NoError(t, s.Send(t.Context(), alerts[:1]))
			srv.FailItem(alerts[1].ID, bulk.ItemRejected, 1)
			srv.FailItem(alerts[2].ID, bulk.ItemMappingError, 1)

			err := s.Send(t.Context(), alerts)

			transient, permanent := failedIndexes(t, err)
			assert.Equal(t, []int{1}, transient)
			assert.Equal(t, []int{2}, permanent)
			assert.Contains(t, sink.AsBatchError(err).Items[1].Reason, tt.mappingError)
			assert.Equal(t, 1, srv.Writes(DefaultIndex, alerts[0].ID))
			assert.Equal(t, 1, srv.Conflicts(DefaultIndex, alerts[0].ID))
			assert.Equal(t, 1, srv.Writes(DefaultIndex, alerts[3].ID))
		})
	}
}

func TestTLSWithCAFile(t *testing.T) {
	srv := startFake(t, bulk.Options{TLS: true})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, srv.WriteCAFile(caFile))
	alerts := testkit.GoldenAlerts(t, "pan-os.extended")

	t.Run("trusted", func(t *testing.T) {
		s, _ := newSink(t, srv.URL(), config.Map{"Sink_TLS_CA_File": caFile})
		require.NoError(t, s.Send(t.Context(), alerts))
		assert.Len(t, srv.Documents(), len(alerts))
	})
	t.Run("unknown CA", func(t *testing.T) {
		s, _ := newSink(t, srv.URL(), nil)
		err := s.Send(t.Context(), alerts)
		require.Error(t, err)
		assert.Nil(t, sink.AsBatchError(err))
		assert.Contains(t, err.Error(), "certificate")
	})
}

func TestSlowServerTimesOut(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, _ := newSink(t, srv.URL(), config.Map{"Sink_Timeout": "200ms"})
	srv.SetDelay(time.Minute)
	alerts := testkit.GoldenAlerts(t, "pan-os.extended")

	err := s.Send(t.Context(), alerts)

	require.Error(t, err)
	assert.Nil(t, sink.AsBatchError(err))
	assert.Contains(t, err.Error(), "timed out: no response within Sink_Timeout 200ms")
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "err: %v", err)

	srv.SetDelay(0)
	require.NoError(t, s.Send(t.Context(), alerts))
	assert.Len(t, srv.Documents(), len(alerts))
}

func TestSendHonoursContext(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, _ := newSink(t, srv.URL(), config.Map{"Sink_Timeout": "1m"})
	srv.SetDelay(time.Minute)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for range 500 {
			if srv.Stats().Requests > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()

	err := s.Send(ctx, testkit.GoldenAlerts(t, "pan-os.extended"))

	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestAutoCreateOffIsTransient(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, logs := newSink(t, srv.URL(), config.Map{"ES_Index": "runningrat-alerts"})
	srv.SetAutoCreate(false)
	alerts := testkit.GoldenAlerts(t, "pan-os.extended")

	err := s.Send(t.Context(), alerts)

	require.Error(t, err)
	assert.Nil(t, sink.AsBatchError(err), "no alert was stored, and all may be sent again")
	assert.Contains(t, err.Error(), "index_not_found_exception")
	assert.Contains(t, logs.String(), "the index does not exist")

	srv.CreateIndex("runningrat-alerts")
	require.NoError(t, s.Send(t.Context(), alerts))
}

func TestPipeline(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, _ := newSink(t, srv.URL(), config.Map{"ES_Pipeline": "runningrat enrich"})
	alert := testkit.GoldenAlerts(t, "pan-os.extended")[0]

	require.NoError(t, s.Send(t.Context(), []detect.Alert{alert}))

	stored, ok := srv.Document(DefaultIndex, alert.ID)
	require.True(t, ok)
	assert.Equal(t, "runningrat enrich", stored.Pipeline)
	assert.Equal(t, "pipeline=runningrat+enrich", srv.Requests()[0].Query)
}

func TestURLPathPrefix(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	// A path before _bulk is what a reverse proxy under a prefix expects.
	// The fake reads /es/_bulk as the bulk API of index "es", which shows
	// the prefix reached the server.
	s, _ := newSink(t, srv.URL()+"/es/", nil)
	alert := testkit.GoldenAlerts(t, "pan-os.extended")[0]

	require.NoError(t, s.Send(t.Context(), []detect.Alert{alert}))

	assert.Equal(t, "/es/_bulk", srv.Requests()[0].Path)
}

func TestAlertsThatCannotBeSent(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, _ := newSink(t, srv.URL(), nil)
	alerts := makeAlerts(t, "ids", 3)
	alerts[0].ID = ""
	alerts[2].ID = strings.Repeat("a", 513)

	err := s.Send(t.Context(), alerts)

	transient, permanent := failedIndexes(t, err)
	assert.Empty(t, transient)
	assert.Equal(t, []int{0, 2}, permanent)
	assert.Equal(t, 1, srv.Writes(DefaultIndex, alerts[1].ID))
}

func TestConcurrentSends(t *testing.T) {
	srv := startFake(t, bulk.Options{})
	s, _ := newSink(t, srv.URL(), config.Map{"ES_Batch_Size": "3"})
	srv.SetRandomItemFaults(0.2, 1, bulk.ItemRejected, bulk.ItemUnavailable)

	var wg sync.WaitGroup
	for w := range 8 {
		alerts := makeAlerts(t, fmt.Sprintf("worker%d", w), 10)
		wg.Go(func() {
			// Transient faults only: resend what failed, as the delivery
			// loop does, a bounded number of times.
			pending := alerts
			for range 50 {
				err := s.Send(context.Background(), pending)
				if err == nil {
					return
				}
				be := sink.AsBatchError(err)
				if be == nil {
					continue
				}
				var again = pending[:0:0]
				for _, it := range be.Items {
					assert.False(t, it.Permanent, it.Reason)
					again = append(again, pending[it.Index])
				}
				pending = again
			}
			t.Errorf("worker %d: alerts still pending after 50 attempts", w)
		})
	}
	wg.Wait()

	counts := srv.WriteCounts(DefaultIndex)
	assert.Len(t, counts, 80)
	for id, n := range counts {
		assert.Equal(t, 1, n, id)
	}
}
