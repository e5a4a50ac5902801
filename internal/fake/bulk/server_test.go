package bulk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func post(t *testing.T, s *Server, path, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-ndjson")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{resp.StatusCode, resp.Header, body}
}

// bulkResponse is the part of a bulk response the tests read.
type bulkResponse struct {
	Errors bool                                `json:"errors"`
	Items  []map[string]map[string]interface{} `json:"items"`
}

func decodeBulk(t *testing.T, a response) bulkResponse {
	t.Helper()
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var out bulkResponse
	require.NoError(t, json.Unmarshal(a.body, &out), string(a.body))
	return out
}

func item(t *testing.T, b bulkResponse, i int) map[string]interface{} {
	t.Helper()
	require.Greater(t, len(b.Items), i)
	for _, v := range b.Items[i] {
		return v
	}
	return nil
}

func TestCreateThenConflict(t *testing.T) {
	s := startServer(t, Options{})
	body := "{\"create\":{\"_index\":\"alerts\",\"_id\":\"a1\"}}\n{\"n\":1}\n"

	first := decodeBulk(t, post(t, s, "/_bulk", body))
	assert.False(t, first.Errors)
	assert.Equal(t, float64(201), item(t, first, 0)["status"])
	assert.Equal(t, "created", item(t, first, 0)["result"])

	second := decodeBulk(t, post(t, s, "/_bulk", body))
	assert.True(t, second.Errors)
	got := item(t, second, 0)
	assert.Equal(t, float64(409), got["status"])
	assert.Equal(t, "version_conflict_engine_exception", got["error"].(map[string]interface{})["type"])

	assert.Equal(t, 1, s.Writes("alerts", "a1"))
	assert.Equal(t, 1, s.Conflicts("alerts", "a1"))
	doc, ok := s.Document("alerts", "a1")
	require.True(t, ok)
	assert.JSONEq(t, `{"n":1}`, string(doc.Source))
}

func TestFlavorShapes(t *testing.T) {
	body := "{\"create\":{\"_index\":\"alerts\",\"_id\":\"a1\"}}\n{\"n\":1}\n"
	tests := []struct {
		flavor       Flavor
		prefix       string
		hasType      bool
		distribution string
		product      string
	}{
		{Elasticsearch8, `{"errors":false,"took":`, false, "", "Elasticsearch"},
		{Elasticsearch9, `{"errors":false,"took":`, false, "", "Elasticsearch"},
		{Elasticsearch7, `{"took":`, true, "", "Elasticsearch"},
		{OpenSearch2, `{"took":`, false, "opensearch", ""},
	}
	for _, tt := range tests {
		t.Run(tt.flavor.String(), func(t *testing.T) {
			s := startServer(t, Options{Flavor: tt.flavor})
			a := post(t, s, "/_bulk", body)
			assert.True(t, bytes.HasPrefix(a.body, []byte(tt.prefix)), string(a.body))
			assert.Equal(t, tt.hasType, bytes.Contains(a.body, []byte(`"_type":"_doc"`)))
			assert.Equal(t, tt.product, a.header.Get("X-Elastic-Product"))

			req, err := http.NewRequest(http.MethodGet, s.URL()+"/", nil)
			require.NoError(t, err)
			var info struct {
				Version struct {
					Distribution string `json:"distribution"`
					Number       string `json:"number"`
				} `json:"version"`
			}
			require.NoError(t, json.Unmarshal(do(t, req).body, &info))
			assert.Equal(t, tt.distribution, info.Version.Distribution)
			assert.NotEmpty(t, info.Version.Number)
		})
	}
}

func TestMalformedBodies(t *testing.T) {
	tests := []struct {
		name, body, reason string
	}{
		{"no final newline", `{"create":{"_index":"a","_id":"1"}}` + "\n{}", "must be terminated by a newline"},
		{"unknown action", "{\"upsert\":{\"_index\":\"a\"}}\n{}\n", "expected field [create], [delete], [index] or [update]"},
		{"unknown parameter", "{\"create\":{\"_index\":\"a\",\"colour\":1}}\n{}\n", "unknown parameter [colour]"},
		{"empty id", "{\"create\":{\"_index\":\"a\",\"_id\":\"\"}}\n{}\n", "must not be empty"},
		{"no index", "{\"create\":{\"_id\":\"1\"}}\n{}\n", "index is missing"},
		{"not JSON", "create a\n{}\n", "Unexpected character"},
		{"empty", "", "no requests added"},
	}
	s := startServer(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, s, "/_bulk", tt.body)
			assert.Equal(t, http.StatusBadRequest, a.status)
			assert.Contains(t, string(a.body), tt.reason)
		})
	}
}

func TestIndexFromPathAndPipeline(t *testing.T) {
	s := startServer(t, Options{})
	b := decodeBulk(t, post(t, s, "/alerts/_bulk?pipeline=enrich", "{\"create\":{\"_id\":\"a1\"}}\r\n{\"n\":1}\r\n"))
	assert.False(t, b.Errors)
	doc, ok := s.Document("alerts", "a1")
	require.True(t, ok)
	assert.Equal(t, "enrich", doc.Pipeline)

	reqs := s.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, []Action{{Op: "create", Index: "alerts", ID: "a1"}}, reqs[0].Actions)
	assert.Equal(t, "pipeline=enrich", reqs[0].Query)
}

func TestActionWithoutSourceAtEndIsIgnored(t *testing.T) {
	s := startServer(t, Options{})
	b := decodeBulk(t, post(t, s, "/_bulk", "{\"create\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{}\n{\"create\":{\"_index\":\"a\",\"_id\":\"2\"}}\n"))
	assert.Len(t, b.Items, 1)
}

func TestItemFaults(t *testing.T) {
	tests := []struct {
		flavor Flavor
		fault  ItemFault
		status float64
		typ    string
	}{
		{Elasticsearch8, ItemRejected, 429, "es_rejected_execution_exception"},
		{OpenSearch2, ItemRejected, 429, "rejected_execution_exception"},
		{Elasticsearch8, ItemMappingError, 400, "document_parsing_exception"},
		{Elasticsearch7, ItemMappingError, 400, "mapper_parsing_exception"},
		{Elasticsearch9, ItemInternalError, 500, "illegal_state_exception"},
		{Elasticsearch8, ItemUnavailable, 503, "unavailable_shards_exception"},
	}
	for _, tt := range tests {
		t.Run(tt.flavor.String()+" "+tt.fault.String(), func(t *testing.T) {
			s := startServer(t, Options{Flavor: tt.flavor})
			s.FailItem("bad", tt.fault, 1)
			body := "{\"create\":{\"_index\":\"a\",\"_id\":\"ok\"}}\n{}\n{\"create\":{\"_index\":\"a\",\"_id\":\"bad\"}}\n{}\n"

			b := decodeBulk(t, post(t, s, "/_bulk", body))
			assert.True(t, b.Errors)
			assert.Equal(t, float64(201), item(t, b, 0)["status"])
			bad := item(t, b, 1)
			assert.Equal(t, tt.status, bad["status"])
			assert.Equal(t, tt.typ, bad["error"].(map[string]interface{})["type"])

			again := decodeBulk(t, post(t, s, "/_bulk", body))
			assert.Equal(t, float64(201), item(t, again, 1)["status"], "the fault was for one time")
			assert.Equal(t, 1, s.Writes("a", "bad"))
		})
	}
}

func TestRandomItemFaultsRepeat(t *testing.T) {
	run := func() []float64 {
		s := startServer(t, Options{})
		s.SetRandomItemFaults(0.5, 7, ItemRejected)
		var body strings.Builder
		for i := range 40 {
			fmt.Fprintf(&body, "{\"create\":{\"_index\":\"a\",\"_id\":\"id%d\"}}\n{}\n", i)
		}
		b := decodeBulk(t, post(t, s, "/_bulk", body.String()))
		var statuses []float64
		for i := range b.Items {
			statuses = append(statuses, item(t, b, i)["status"].(float64))
		}
		return statuses
	}
	first := run()
	assert.Equal(t, first, run(), "the same seed gives the same faults")
	assert.Contains(t, first, float64(429))
	assert.Contains(t, first, float64(201))
}

func TestFailRequests(t *testing.T) {
	tests := []struct {
		status      int
		contentType string
		text        string
	}{
		{429, "application/json", "es_rejected_execution_exception"},
		{503, "application/json", "cluster_block_exception"},
		{502, "text/html", "502 Bad Gateway"},
		{403, "application/json", "security_exception"},
		{404, "application/json", "index_not_found_exception"},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			s := startServer(t, Options{})
			s.FailRequests(1, tt.status)
			body := "{\"create\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{}\n"

			a := post(t, s, "/_bulk", body)
			assert.Equal(t, tt.status, a.status)
			assert.Equal(t, tt.contentType, a.header.Get("Content-Type"))
			assert.Contains(t, string(a.body), tt.text)
			assert.Zero(t, s.Writes("a", "1"))

			decodeBulk(t, post(t, s, "/_bulk", body))
			assert.Equal(t, 1, s.Writes("a", "1"))
			assert.Equal(t, 1, s.Stats().Failed)
		})
	}
}

func TestTooLarge(t *testing.T) {
	s := startServer(t, Options{})
	s.SetMaxContentLength(64)
	a := post(t, s, "/_bulk", "{\"create\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"padding\":\"0123456789012345678901234567890123456789\"}\n")
	assert.Equal(t, http.StatusRequestEntityTooLarge, a.status)
	assert.Empty(t, a.body)
	assert.Equal(t, 1, s.Stats().TooLarge)
}

func TestAuthentication(t *testing.T) {
	basic := func(r *http.Request) { r.SetBasicAuth("writer", "s3cret-pass") }
	wrong := func(r *http.Request) { r.SetBasicAuth("writer", "nope") }
	apiKey := func(r *http.Request) { r.Header.Set("Authorization", "ApiKey a2V5OnZhbHVl") }
	none := func(*http.Request) {}
	tests := []struct {
		name   string
		flavor Flavor
		auth   func(*http.Request)
		status int
		text   string
	}{
		{"basic", Elasticsearch8, basic, 200, ""},
		{"API key", Elasticsearch8, apiKey, 200, ""},
		{"missing", Elasticsearch8, none, 401, "missing authentication credentials"},
		{"wrong password", Elasticsearch8, wrong, 401, "unable to authenticate user [writer]"},
		{"OpenSearch wrong password", OpenSearch2, wrong, 401, "Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, Options{Flavor: tt.flavor, Username: "writer", Password: "s3cret-pass", APIKey: "a2V5OnZhbHVl"})
			req, err := http.NewRequest(http.MethodPost, s.URL()+"/_bulk", strings.NewReader("{\"create\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{}\n"))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			tt.auth(req)

			a := do(t, req)
			assert.Equal(t, tt.status, a.status)
			assert.Contains(t, string(a.body), tt.text)
			assert.NotContains(t, string(a.body), "s3cret-pass")
		})
	}
}

func TestAutoCreateOff(t *testing.T) {
	s := startServer(t, Options{})
	s.SetAutoCreate(false)
	s.CreateIndex("known")
	body := "{\"create\":{\"_index\":\"known\",\"_id\":\"1\"}}\n{}\n{\"create\":{\"_index\":\"unknown\",\"_id\":\"1\"}}\n{}\n"

	b := decodeBulk(t, post(t, s, "/_bulk", body))
	assert.Equal(t, float64(201), item(t, b, 0)["status"])
	missing := item(t, b, 1)
	assert.Equal(t, float64(404), missing["status"])
	assert.Equal(t, "index_not_found_exception", missing["error"].(map[string]interface{})["type"])
}

func TestDataStream(t *testing.T) {
	s := startServer(t, Options{})
	name := "logs-runningrat.alert-default"
	body := "{\"create\":{\"_index\":\"" + name + "\",\"_id\":\"1\"}}\n{\"@timestamp\":\"2024-05-01T00:00:00Z\"}\n"

	b := decodeBulk(t, post(t, s, "/_bulk", body))
	assert.True(t, strings.HasPrefix(item(t, b, 0)["_index"].(string), ".ds-"+name+"-"))

	noTimestamp := decodeBulk(t, post(t, s, "/_bulk", "{\"create\":{\"_index\":\""+name+"\",\"_id\":\"2\"}}\n{}\n"))
	assert.Contains(t, item(t, noTimestamp, 0)["error"].(map[string]interface{})["reason"], "@timestamp")
	indexOp := decodeBulk(t, post(t, s, "/_bulk", "{\"index\":{\"_index\":\""+name+"\",\"_id\":\"3\"}}\n{\"@timestamp\":\"2024-05-01T00:00:00Z\"}\n"))
	assert.Equal(t, float64(400), item(t, indexOp, 0)["status"])

	require.NoError(t, s.Rollover(name))
	decodeBulk(t, post(t, s, "/_bulk", body))
	assert.Equal(t, 2, s.Writes(name, "1"), "after a rollover the same _id is stored again")
}

func TestDownAndUpKeepAddress(t *testing.T) {
	s := startServer(t, Options{})
	body := "{\"create\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{}\n"
	decodeBulk(t, post(t, s, "/_bulk", body))
	url := s.URL()

	s.Down()
	assert.False(t, s.IsUp())
	client := &http.Client{Timeout: 5 * time.Second}
	_, err := client.Post(url+"/_bulk", "application/x-ndjson", strings.NewReader(body))
	require.Error(t, err)

	require.NoError(t, s.Up())
	assert.Equal(t, url, s.URL())
	b := decodeBulk(t, post(t, s, "/_bulk", body))
	assert.Equal(t, float64(409), item(t, b, 0)["status"], "documents survive a restart")
}

func TestDownCutsDelayedRequest(t *testing.T) {
	s := startServer(t, Options{})
	s.SetDelay(time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+"/_bulk", strings.NewReader("{\"create\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{}\n"))
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errs <- err
	}()

	// Wait until the request is being held, then take the server down.
	for range 500 {
		if s.Stats().Requests > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Down()
	select {
	case err := <-errs:
		assert.Error(t, err)
		assert.NoError(t, ctx.Err(), "Down ended the request, not the test's deadline")
	case <-ctx.Done():
		t.Fatal("the request outlived Down")
	}
}

func TestTLS(t *testing.T) {
	s := startServer(t, Options{TLS: true})
	assert.True(t, strings.HasPrefix(s.URL(), "https://127.0.0.1:"))
	assert.Contains(t, string(s.CertificatePEM()), "BEGIN CERTIFICATE")

	s.Down()
	require.NoError(t, s.Up())
	assert.Contains(t, string(s.CertificatePEM()), "BEGIN CERTIFICATE")
}

func TestFailRequestsAfter(t *testing.T) {
	s := startServer(t, Options{})
	s.FailRequestsAfter(1, 2, http.StatusServiceUnavailable)
	body := "{\"create\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{}\n"

	var statuses []int
	for range 4 {
		statuses = append(statuses, post(t, s, "/_bulk", body).status)
	}

	assert.Equal(t, []int{200, 503, 503, 200}, statuses)
}

func TestFaultsChangeWhileServing(t *testing.T) {
	s := startServer(t, Options{})
	client := &http.Client{Timeout: 5 * time.Second}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; i < 200; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf("{\"create\":{\"_index\":\"a\",\"_id\":\"w%d-%d\"}}\n{}\n", w, i%20)
				resp, err := client.Post(s.URL()+"/_bulk", "application/x-ndjson", strings.NewReader(body))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}

	for i := range 20 {
		s.FailRequests(2, http.StatusServiceUnavailable)
		s.FailItem(fmt.Sprintf("w0-%d", i), ItemRejected, 1)
		s.SetRandomItemFaults(0.1, uint64(i), ItemInternalError)
		s.SetDelay(time.Millisecond)
		if i%5 == 0 {
			s.Down()
			require.NoError(t, s.Up())
		}
		_ = s.Stats()
		_ = s.Documents()
		_ = s.Requests()
		s.ClearFaults()
	}
	close(stop)
	wg.Wait()

	for id, n := range s.WriteCounts("a") {
		assert.Equal(t, 1, n, id)
	}
}
