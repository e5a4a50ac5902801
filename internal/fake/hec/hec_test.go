package hec

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testChannel = "0b2a5c36-6f4e-4d1a-9c3e-2f1d7a8b9c0d"

// call posts body to path with the server's token and returns the status
// and the decoded JSON response.
func call(t *testing.T, client *http.Client, s *Server, path, channel, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Splunk "+s.Token())
	if channel != "" {
		req.Header.Set("X-Splunk-Request-Channel", channel)
	}
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()

	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func event(alertID string) string {
	return `{"time":1747218067.5,"source":"runningrat","event":{"msg":"hit"},"fields":{"alert_id":"` + alertID + `"}}`
}

func TestBatchOfConcatenatedEvents(t *testing.T) {
	s := New(t, Options{})
	status, out := call(t, nil, s, "/services/collector/event", "", event("a")+"\n"+event("b")+event("c"))

	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"text": "Success", "code": float64(0)}, out)
	events := s.Events()
	require.Len(t, events, 3)
	assert.Equal(t, 1747218067.5, events[0].Time)
	assert.Equal(t, "runningrat", events[0].Source)
	assert.JSONEq(t, `{"msg":"hit"}`, string(events[0].Event))
	assert.Equal(t, 1, s.Count("b"))
	assert.Equal(t, map[string]int{"a": 1, "b": 1, "c": 1}, s.AlertCounts())
}

func TestInvalidEventStopsBatch(t *testing.T) {
	cases := []struct {
		name   string
		bad    string
		opts   Options
		code   float64
		status int
	}{
		{name: "broken JSON", bad: `{"event":`, code: 6, status: 400},
		{name: "array instead of object", bad: `["event"]`, code: 6, status: 400},
		{name: "event missing", bad: `{"fields":{"alert_id":"x"}}`, code: 12, status: 400},
		{name: "event blank", bad: `{"event":""}`, code: 13, status: 400},
		{name: "event null", bad: `{"event":null}`, code: 13, status: 400},
		{name: "time not a number", bad: `{"event":"x","time":"noon"}`, code: 6, status: 400},
		{name: "index not allowed", bad: `{"event":"x","index":"secret"}`, opts: Options{Indexes: []string{"main"}}, code: 7, status: 400},
		{name: "nested indexed field", bad: `{"event":"x","fields":{"a":{"b":1}}}`, code: 15, status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, tc.opts)
			status, out := call(t, nil, s, "/services/collector/event", "", event("first")+tc.bad+event("after"))

			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.code, out["code"])
			assert.Equal(t, float64(1), out["invalid-event-number"])
			assert.Equal(t, 1, s.Count("first"), "the event before the bad one is stored")
			assert.Equal(t, 0, s.Count("after"), "the event after the bad one is not processed")
		})
	}
}

func TestEmptyBodyIsNoData(t *testing.T) {
	s := New(t, Options{})
	status, out := call(t, nil, s, "/services/collector/event", "", "  \n")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, float64(5), out["code"])
}

func TestTokenChecks(t *testing.T) {
	s := New(t, Options{})
	client := &http.Client{Timeout: 5 * time.Second}
	send := func(mutate func(*http.Request)) (int, float64) {
		req, err := http.NewRequest(http.MethodPost, s.URL()+"/services/collector/event", strings.NewReader(event("a")))
		require.NoError(t, err)
		mutate(req)
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		code, _ := out["code"].(float64)
		return resp.StatusCode, code
	}

	cases := []struct {
		name   string
		mutate func(*http.Request)
		status int
		code   float64
	}{
		{"missing", func(*http.Request) {}, 401, 2},
		{"not Splunk scheme", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+s.Token()) }, 401, 3},
		{"wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Splunk wrong") }, 403, 4},
		{"basic auth", func(r *http.Request) { r.SetBasicAuth("x", s.Token()) }, 200, 0},
		{"query string", func(r *http.Request) {
			r.URL.RawQuery = "token=" + s.Token()
			r.Header.Set("Authorization", "Splunk "+s.Token())
		}, 400, 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, code := send(tc.mutate)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.code, code)
		})
	}

	s.DisableToken(true)
	status, code := send(func(r *http.Request) { r.Header.Set("Authorization", "Splunk "+s.Token()) })
	assert.Equal(t, 403, status)
	assert.Equal(t, float64(1), code)
}

func TestAckProtocol(t *testing.T) {
	s := New(t, Options{Ack: true})

	status, out := call(t, nil, s, "/services/collector/event", "", event("a"))
	assert.Equal(t, 400, status)
	assert.Equal(t, float64(10), out["code"], "a channel is required with acks on")

	status, out = call(t, nil, s, "/services/collector/event", "not-a-guid", event("a"))
	assert.Equal(t, 400, status)
	assert.Equal(t, float64(11), out["code"])

	_, first := call(t, nil, s, "/services/collector/event", testChannel, event("a"))
	_, second := call(t, nil, s, "/services/collector/event", testChannel, event("b"))
	assert.Equal(t, float64(0), first["ackId"])
	assert.Equal(t, float64(1), second["ackId"])

	status, out = call(t, nil, s, "/services/collector/ack", testChannel, `{"acks":[0,1,7]}`)
	assert.Equal(t, 200, status)
	assert.Equal(t, map[string]any{"0": true, "1": true, "7": false}, out["acks"])

	_, out = call(t, nil, s, "/services/collector/ack", testChannel, `{"acks":[0]}`)
	assert.Equal(t, map[string]any{"0": false}, out["acks"], "true is reported once")
}

func TestAckDelayAndNever(t *testing.T) {
	s := New(t, Options{Ack: true})
	s.SetAckDelay(Never)
	call(t, nil, s, "/services/collector/event", testChannel, event("a"))

	_, out := call(t, nil, s, "/services/collector/ack", testChannel, `{"acks":[0]}`)
	assert.Equal(t, map[string]any{"0": false}, out["acks"])

	s.SetAckDelay(0)
	_, out = call(t, nil, s, "/services/collector/ack", testChannel, `{"acks":[0]}`)
	assert.Equal(t, map[string]any{"0": true}, out["acks"], "a held ack is released when the delay changes")
}

func TestAckDisabled(t *testing.T) {
	s := New(t, Options{})
	status, out := call(t, nil, s, "/services/collector/ack", testChannel, `{"acks":[0]}`)
	assert.Equal(t, 400, status)
	assert.Equal(t, float64(14), out["code"])
}

func TestForcedFailures(t *testing.T) {
	s := New(t, Options{})
	s.FailNext(2, http.StatusServiceUnavailable)
	s.FailNext(1, http.StatusTooManyRequests)

	status, out := call(t, nil, s, "/services/collector/event", "", event("a"))
	assert.Equal(t, 503, status)
	assert.Equal(t, float64(9), out["code"])
	status, _ = call(t, nil, s, "/services/collector/event", "", event("a"))
	assert.Equal(t, 503, status)
	status, _ = call(t, nil, s, "/services/collector/event", "", event("a"))
	assert.Equal(t, 429, status)
	status, _ = call(t, nil, s, "/services/collector/event", "", event("a"))
	assert.Equal(t, 200, status)
	assert.Equal(t, 1, s.Count("a"))
}

func TestBusyAfterStoresHead(t *testing.T) {
	s := New(t, Options{})
	s.BusyAfter(2)
	status, out := call(t, nil, s, "/services/collector/event", "", event("a")+event("b")+event("c"))
	assert.Equal(t, 503, status)
	assert.Equal(t, float64(9), out["code"])
	assert.Equal(t, float64(2), out["invalid-event-number"])
	assert.Equal(t, map[string]int{"a": 1, "b": 1}, s.AlertCounts())
}

func TestRejectEventAtAndAlert(t *testing.T) {
	s := New(t, Options{})
	s.RejectEventAt(1)
	status, out := call(t, nil, s, "/services/collector/event", "", event("a")+event("b")+event("c"))
	assert.Equal(t, 400, status)
	assert.Equal(t, float64(6), out["code"])
	assert.Equal(t, float64(1), out["invalid-event-number"])

	status, _ = call(t, nil, s, "/services/collector/event", "", event("b")+event("c"))
	assert.Equal(t, 200, status, "the rejection applies to one batch")

	s.RejectAlert("poison")
	for range 2 {
		status, out = call(t, nil, s, "/services/collector/event", "", event("poison"))
		assert.Equal(t, 400, status)
		assert.Equal(t, float64(0), out["invalid-event-number"])
	}
	assert.Equal(t, map[string]int{"a": 1, "b": 1, "c": 1}, s.AlertCounts())
}

func TestMaxBodyResponds413(t *testing.T) {
	s := New(t, Options{MaxBodyBytes: int64(len(event("a")))})
	status, _ := call(t, nil, s, "/services/collector/event", "", event("a")+event("b"))
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	status, _ = call(t, nil, s, "/services/collector/event", "", event("a"))
	assert.Equal(t, http.StatusOK, status)
}

func TestDropNextStoresButCuts(t *testing.T) {
	s := New(t, Options{})
	s.DropNext(1)
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/services/collector/event", strings.NewReader(event("a")))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Splunk "+s.Token())
	_, err = (&http.Client{Timeout: 5 * time.Second}).Do(req)
	require.Error(t, err)
	assert.Equal(t, 1, s.Count("a"))
	assert.Equal(t, 1, s.Counts().Dropped)
}

func TestDownAndUpKeepAddress(t *testing.T) {
	s := New(t, Options{})
	url := s.URL()
	client := &http.Client{Timeout: 300 * time.Millisecond}

	require.NoError(t, s.Down(Refuse))
	_, err := client.Post(url+"/services/collector/event", "application/json", strings.NewReader(event("a")))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused")

	require.NoError(t, s.Down(Hang))
	_, err = client.Post(url+"/services/collector/event", "application/json", strings.NewReader(event("a")))
	require.Error(t, err, "a hanging server never responds")

	require.NoError(t, s.Up())
	assert.Equal(t, url, s.URL())
	status, _ := call(t, nil, s, "/services/collector/event", "", event("a"))
	assert.Equal(t, 200, status)
	assert.Equal(t, 1, s.Count("a"))
}

func TestDelayStillStoresAfterClientGaveUp(t *testing.T) {
	s := New(t, Options{})
	s.SetDelay(300 * time.Millisecond)
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/services/collector/event", strings.NewReader(event("slow")))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Splunk "+s.Token())
	_, err = (&http.Client{Timeout: 50 * time.Millisecond}).Do(req)
	require.Error(t, err)

	require.Eventually(t, func() bool { return s.Count("slow") == 1 }, 5*time.Second, 20*time.Millisecond)
}

func TestTLSWithCAFile(t *testing.T) {
	s := New(t, Options{TLS: true})
	require.True(t, strings.HasPrefix(s.URL(), "https://127.0.0.1:"))

	pem, err := os.ReadFile(s.CAFile())
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	status, _ := call(t, client, s, "/services/collector/event", "", event("a"))
	assert.Equal(t, 200, status)

	require.NoError(t, s.Down(Refuse))
	require.NoError(t, s.Up())
	client.CloseIdleConnections()
	status, _ = call(t, client, s, "/services/collector/event", "", event("b"))
	assert.Equal(t, 200, status, "the CA file stays valid after a restart")
}

func TestStartWithoutTesting(t *testing.T) {
	s, err := Start(Options{TLS: true})
	require.NoError(t, err)
	ca := s.CAFile()
	require.FileExists(t, ca)
	s.Close()
	s.Close()
	assert.NoFileExists(t, ca)
}
