package splunk

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
	"github.com/edgehunt/runningrat/internal/fake/hec"
	"github.com/edgehunt/runningrat/sink"
)

func TestSendDeliversInBatches(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, _ := newSink(t, srv, config.Map{"Splunk_Batch_Size": "2"})

	require.NoError(t, s.Send(t.Context(), testAlerts(t, 5)))

	assert.Equal(t, []string{"alert-000", "alert-001", "alert-002", "alert-003", "alert-004"}, storedIDs(srv))
	var sizes []int
	for _, r := range srv.Requests() {
		sizes = append(sizes, r.Stored)
	}
	assert.Equal(t, []int{2, 2, 1}, sizes)
}

func TestEventShape(t *testing.T) {
	srv := hec.New(t, hec.Options{Indexes: []string{"security"}})
	s, _ := newSink(t, srv, config.Map{"Splunk_Index": "security", "Splunk_Host": "fluent-bit-01"})
	alerts := testAlerts(t, 1)

	require.NoError(t, s.Send(t.Context(), alerts))

	events := srv.Events()
	require.Len(t, events, 1)
	ev := events[0]
	at, err := time.Parse(time.RFC3339Nano, alerts[0].Timestamp)
	require.NoError(t, err)
	assert.True(t, ev.HasTime)
	assert.InDelta(t, float64(at.UnixMicro())/1e6, ev.Time, 1e-6)
	assert.Equal(t, "fluent-bit-01", ev.Host)
	assert.Equal(t, DefaultSource, ev.Source)
	assert.Equal(t, DefaultSourcetype, ev.Sourcetype)
	assert.Equal(t, "security", ev.Index)
	assert.Equal(t, map[string]any{"alert_id": "alert-000", "rule_id": alerts[0].Rule.ID, "verdict": alerts[0].Verdict}, ev.Fields)

	var body map[string]any
	require.NoError(t, json.Unmarshal(ev.Event, &body))
	assert.Equal(t, "alert-000", body["alert_id"])
	assert.Equal(t, "192.0.2.25", body["src"])
	assert.Equal(t, "203.0.113.10", body["dest"])
	assert.Equal(t, "cdn.example.com/ui/chk?IlocalP=192.0.2.25", body["url"])
	assert.Equal(t, "get", body["http_method"])
	assert.Equal(t, []any{"T1041", "T1071.001"}, body["annotations.mitre_attack"])
}

func TestEventShapeFollowsFormat(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, err := New(sink.Options{Config: settingsFor(srv, nil), Format: format.Native})
	require.NoError(t, err)
	defer s.Close(t.Context())

	require.NoError(t, s.Send(t.Context(), testAlerts(t, 1)))

	var body map[string]any
	require.NoError(t, json.Unmarshal(srv.Events()[0].Event, &body))
	assert.Contains(t, body, "@timestamp", "the native shape keeps the plugin's own keys")
	assert.NotContains(t, body, "src")
}

func TestEventWithoutParsableTime(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, _ := newSink(t, srv, nil)
	alerts := testAlerts(t, 1)
	alerts[0].Timestamp = "yesterday"

	require.NoError(t, s.Send(t.Context(), alerts))
	assert.False(t, srv.Events()[0].HasTime, "HEC stamps the event with its time of receipt")
}

func TestAppendEpoch(t *testing.T) {
	cases := map[string]string{
		"2025-05-14T10:21:07Z":                "1747218067.000000",
		"2025-05-14T10:21:07.5Z":              "1747218067.500000",
		"2025-05-14T10:21:07.000001999Z":      "1747218067.000001",
		"1969-12-31T23:59:59.25Z":             "-1.250000",
		"2025-05-14T12:21:07.123456789+02:00": "1747218067.123456",
	}
	for in, want := range cases {
		t.Run(in, func(t *testing.T) {
			at, err := time.Parse(time.RFC3339Nano, in)
			require.NoError(t, err)
			assert.Equal(t, want, string(appendEpoch(nil, at)))
		})
	}
}

func TestRetryableStatusFailsWholeBatch(t *testing.T) {
	for _, status := range []int{503, 429, 500, 502, 504} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv := hec.New(t, hec.Options{})
			s, logs := newSink(t, srv, config.Map{"Splunk_Batch_Size": "2"})
			alerts := testAlerts(t, 4)
			srv.FailNext(1, status)

			err := s.Send(t.Context(), alerts)
			require.Error(t, err)
			assert.Nil(t, sink.AsBatchError(err), "nothing was delivered, so the whole batch is retried")
			assert.Contains(t, err.Error(), "HEC responded")
			assert.Equal(t, []int{status}, requestStatuses(srv), "the rest of the batch is not tried")
			assert.Contains(t, logs.String(), "level=WARN")

			require.NoError(t, s.Send(t.Context(), alerts))
			assert.Len(t, srv.Events(), 4)
		})
	}
}

func TestBusyAnswerNamesHECText(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, _ := newSink(t, srv, nil)
	srv.FailNext(1, http.StatusServiceUnavailable)

	err := s.Send(t.Context(), testAlerts(t, 1))
	assert.ErrorContains(t, err, "HEC responded 503 Service Unavailable: Server is busy (code 9)")
}

func TestRejectedEventInMiddle(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, logs := newSink(t, srv, nil)
	srv.RejectEventAt(2)

	err := s.Send(t.Context(), testAlerts(t, 5))

	be := sink.AsBatchError(err)
	require.NotNil(t, be, "got %v", err)
	transient, permanent := itemSets(be)
	assert.Equal(t, []int{2}, permanent)
	assert.Equal(t, []int{3, 4}, transient)
	assert.Equal(t, []string{"alert-000", "alert-001"}, storedIDs(srv))
	assert.Contains(t, reasonOf(be, 2), "Invalid data format (code 6)")
	assert.Contains(t, reasonOf(be, 3), "not processed")
	assert.Contains(t, logs.String(), "alert_id=alert-002")
}

func TestBusyInMiddleKeepsHead(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, _ := newSink(t, srv, nil)
	srv.BusyAfter(2)

	err := s.Send(t.Context(), testAlerts(t, 5))

	be := sink.AsBatchError(err)
	require.NotNil(t, be, "got %v", err)
	transient, permanent := itemSets(be)
	assert.Empty(t, permanent)
	assert.Equal(t, []int{2, 3, 4}, transient)
	assert.Equal(t, []string{"alert-000", "alert-001"}, storedIDs(srv))
}

func TestPoisonAlertSkipsOnlyItself(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, _ := newSink(t, srv, config.Map{"Splunk_Batch_Size": "2"})
	srv.RejectAlert("alert-000")

	err := s.Send(t.Context(), testAlerts(t, 4))

	be := sink.AsBatchError(err)
	require.NotNil(t, be, "got %v", err)
	transient, permanent := itemSets(be)
	assert.Equal(t, []int{0}, permanent)
	assert.Equal(t, []int{1}, transient, "HEC did not process the event after the bad one")
	assert.Equal(t, []string{"alert-002", "alert-003"}, storedIDs(srv), "the next request still goes")
}

func TestDataErrorWithoutEventNumberIsBisected(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, _ := newSink(t, srv, nil)
	srv.FailNext(1, http.StatusBadRequest)

	require.NoError(t, s.Send(t.Context(), testAlerts(t, 4)))
	assert.Equal(t, []int{400, 200, 200}, requestStatuses(srv))

	srv.FailNext(1, http.StatusBadRequest)
	err := s.Send(t.Context(), testAlerts(t, 1))
	be := sink.AsBatchError(err)
	require.NotNil(t, be, "a lone event that HEC blames is rejected for good; got %v", err)
	_, permanent := itemSets(be)
	assert.Equal(t, []int{0}, permanent)
}

func TestTokenRefusedIsTransientAndSecret(t *testing.T) {
	cases := []struct {
		name   string
		token  func(srv *hec.Server) string
		setup  func(srv *hec.Server)
		answer string
	}{
		{
			name:   "wrong token",
			token:  func(srv *hec.Server) string { return "wrong-" + srv.Token() },
			answer: "403 Forbidden: Invalid token (code 4)",
		},
		{
			name:   "disabled token",
			token:  func(srv *hec.Server) string { return srv.Token() },
			setup:  func(srv *hec.Server) { srv.DisableToken(true) },
			answer: "403 Forbidden: Token disabled (code 1)",
		},
		{
			name:   "401 from HEC",
			token:  func(srv *hec.Server) string { return srv.Token() },
			setup:  func(srv *hec.Server) { srv.FailNext(1, http.StatusUnauthorized) },
			answer: "401 Unauthorized",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := hec.New(t, hec.Options{})
			token := tc.token(srv)
			s, logs := newSink(t, srv, config.Map{"Splunk_Token": token})
			if tc.setup != nil {
				tc.setup(srv)
			}

			err := s.Send(t.Context(), testAlerts(t, 3))

			require.Error(t, err)
			assert.Nil(t, sink.AsBatchError(err), "a token problem must not reject alerts for good")
			assert.Contains(t, err.Error(), tc.answer)
			assert.Contains(t, logs.String(), "level=ERROR")
			assert.Contains(t, logs.String(), "rejected the token")
			assert.NotContains(t, err.Error(), token, "the error must not contain the token")
			assert.NotContains(t, logs.String(), token, "the log must not contain the token")
			assert.NotContains(t, logs.String(), srv.Token(), "the log must not contain the valid token")
		})
	}
}

func TestTokenFromEnvironment(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	t.Setenv("RUNNINGRAT_TEST_HEC_TOKEN", srv.Token())
	s, logs := newSink(t, srv, config.Map{"Splunk_Token": "", "Splunk_Token_Env": "RUNNINGRAT_TEST_HEC_TOKEN"})

	require.NoError(t, s.Send(t.Context(), testAlerts(t, 1)))
	assert.Len(t, srv.Events(), 1)
	assert.NotContains(t, logs.String(), srv.Token())
}

func TestTooLargeRequestIsSplit(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, logs := newSink(t, srv, nil)
	alerts := testAlerts(t, 4)
	oneEvent, err := s.enc.appendEvent(nil, &alerts[0])
	require.NoError(t, err)
	srv.SetMaxBody(int64(2*len(oneEvent) + len(oneEvent)/2))

	require.NoError(t, s.Send(t.Context(), alerts))

	assert.Equal(t, []string{"alert-000", "alert-001", "alert-002", "alert-003"}, storedIDs(srv))
	assert.Equal(t, []int{413, 200, 200}, requestStatuses(srv))
	assert.Contains(t, logs.String(), "splitting the request")
}

func TestTooLargeSingleEventIsRejected(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, _ := newSink(t, srv, nil)
	alerts := testAlerts(t, 4)
	huge := append(detect.Columns(nil), alerts[1].Event...)
	for i := range huge {
		if huge[i].Name == "RequestURL" {
			huge[i].Value = "cdn.example.com/ui/chk?IlocalP=" + strings.Repeat("A", 64<<10)
		}
	}
	alerts[1].Event = huge
	srv.SetMaxBody(16 << 10)

	err := s.Send(t.Context(), alerts)

	be := sink.AsBatchError(err)
	require.NotNil(t, be, "got %v", err)
	transient, permanent := itemSets(be)
	assert.Empty(t, transient)
	assert.Equal(t, []int{1}, permanent)
	assert.Contains(t, reasonOf(be, 1), "larger than HEC accepts")
	assert.ElementsMatch(t, []string{"alert-000", "alert-002", "alert-003"}, storedIDs(srv))
}

func TestSlowHECOutlastsTimeout(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, _ := newSink(t, srv, config.Map{"Sink_Timeout": "200ms"})
	alerts := testAlerts(t, 2)
	srv.SetDelay(time.Second)

	err := s.Send(t.Context(), alerts)

	require.Error(t, err)
	assert.Nil(t, sink.AsBatchError(err))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "timed out after Sink_Timeout (200ms)")

	// The slow HEC indexes the request after the sink gave up, so the
	// resend makes a second copy. The alert id in fields lets a search
	// drop it.
	srv.SetDelay(0)
	require.NoError(t, s.Send(t.Context(), alerts))
	require.Eventually(t, func() bool { return srv.Count("alert-000") == 2 }, 10*time.Second, 20*time.Millisecond)
}

func TestServerDownThenBack(t *testing.T) {
	for _, mode := range []struct {
		name string
		mode hec.DownMode
		want string
	}{
		{"refusing", hec.Refuse, "send to HEC at"},
		{"hanging", hec.Hang, "timed out after Sink_Timeout"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			srv := hec.New(t, hec.Options{})
			s, logs := newSink(t, srv, config.Map{"Sink_Timeout": "300ms"})
			alerts := testAlerts(t, 3)
			require.NoError(t, s.Send(t.Context(), alerts[:1]))
			require.NoError(t, srv.Down(mode.mode))

			err := s.Send(t.Context(), alerts[1:])

			require.Error(t, err)
			assert.Nil(t, sink.AsBatchError(err))
			assert.Contains(t, err.Error(), mode.want)
			assert.Contains(t, logs.String(), "HEC unreachable")

			require.NoError(t, srv.Up())
			require.NoError(t, s.Send(t.Context(), alerts[1:]))
			assert.Equal(t, map[string]int{"alert-000": 1, "alert-001": 1, "alert-002": 1}, srv.AlertCounts())
		})
	}
}

func TestConnectionCutAfterIndexing(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, _ := newSink(t, srv, nil)
	alerts := testAlerts(t, 2)
	srv.DropNext(1)

	err := s.Send(t.Context(), alerts)
	require.Error(t, err, "without an answer the sink cannot count the alerts as delivered")
	assert.Nil(t, sink.AsBatchError(err))

	require.NoError(t, s.Send(t.Context(), alerts))
	assert.Equal(t, 2, srv.Count("alert-000"), "the resend duplicates, and fields.alert_id identifies the copy")
}

func TestCallerContextEnded(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, _ := newSink(t, srv, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	err := s.Send(ctx, testAlerts(t, 2))

	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, srv.Events())
}

func TestIncorrectIndexIsTransient(t *testing.T) {
	srv := hec.New(t, hec.Options{Indexes: []string{"main"}})
	s, logs := newSink(t, srv, config.Map{"Splunk_Index": "alerts"})

	err := s.Send(t.Context(), testAlerts(t, 3))

	require.Error(t, err)
	assert.Nil(t, sink.AsBatchError(err), "a wrong index is a configuration error; fixing it must not lose alerts")
	assert.Contains(t, err.Error(), "Incorrect index (code 7)")
	assert.Contains(t, logs.String(), "rejected the index")
}

func TestEndpointNotFoundIsTransient(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, logs := newSink(t, srv, config.Map{"Splunk_URL": srv.URL() + "/missing-proxy-prefix"})

	err := s.Send(t.Context(), testAlerts(t, 1))

	require.Error(t, err)
	assert.Nil(t, sink.AsBatchError(err))
	assert.Contains(t, err.Error(), "404 Not Found")
	assert.Contains(t, logs.String(), "endpoint not found")
}

func TestChannelRequiredByAckToken(t *testing.T) {
	srv := hec.New(t, hec.Options{Ack: true})
	s, logs := newSink(t, srv, nil)

	err := s.Send(t.Context(), testAlerts(t, 1))

	require.Error(t, err)
	assert.Contains(t, err.Error(), "Data channel is missing (code 10)")
	assert.Contains(t, logs.String(), "set Splunk_Ack on")
}

func TestTLS(t *testing.T) {
	t.Run("CA file", func(t *testing.T) {
		srv := hec.New(t, hec.Options{TLS: true})
		s, _ := newSink(t, srv, nil)
		require.NoError(t, s.Send(t.Context(), testAlerts(t, 1)))
		assert.Len(t, srv.Events(), 1)
	})

	t.Run("unknown CA", func(t *testing.T) {
		srv := hec.New(t, hec.Options{TLS: true})
		s, _ := newSink(t, srv, config.Map{"Sink_TLS_CA_File": ""})
		err := s.Send(t.Context(), testAlerts(t, 1))
		require.Error(t, err)
		assert.Nil(t, sink.AsBatchError(err))
		assert.Contains(t, err.Error(), "certificate")
		assert.Empty(t, srv.Events())
	})

	t.Run("verification off", func(t *testing.T) {
		srv := hec.New(t, hec.Options{TLS: true})
		s, logs := newSink(t, srv, config.Map{"Sink_TLS_CA_File": "", "Sink_TLS_Verify": "off"})
		require.NoError(t, s.Send(t.Context(), testAlerts(t, 1)))
		assert.Contains(t, logs.String(), "level=WARN")
		assert.Contains(t, logs.String(), "Sink_TLS_Verify is off")
	})
}

func TestConcurrentSends(t *testing.T) {
	srv := hec.New(t, hec.Options{Ack: true})
	s, _ := newSink(t, srv, config.Map{"Splunk_Batch_Size": "3", "Splunk_Ack": "on"})
	alerts := testAlerts(t, 40)

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[g] = s.Send(t.Context(), alerts[g*5:(g+1)*5])
		}()
	}
	wg.Wait()

	for _, err := range errs {
		assert.NoError(t, err)
	}
	counts := srv.AlertCounts()
	assert.Len(t, counts, 40)
	for id, n := range counts {
		assert.Equal(t, 1, n, id)
	}
}

func TestRegisteredAsSplunk(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, err := sink.New("splunk", sink.Options{Config: settingsFor(srv, nil)})
	require.NoError(t, err)
	defer s.Close(t.Context())

	require.NoError(t, s.Send(t.Context(), testAlerts(t, 1)))
	assert.Len(t, srv.Events(), 1)
}

func TestEmptyBatchSendsNothing(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, _ := newSink(t, srv, nil)
	require.NoError(t, s.Send(t.Context(), nil))
	assert.Zero(t, srv.Counts().EventRequests)
}
