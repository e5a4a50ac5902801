package elasticsearch

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The items below copy the shapes Elasticsearch 7, 8 and 9 and OpenSearch 2
// write, including the trimmed items of filter_path and pre-5.0 string
// errors.
func TestClassifyItem(t *testing.T) {
	tests := []struct {
		name    string
		item    string
		verdict verdict
		reason  string
	}{
		{"created", `{"_index":"a","_id":"1","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}`, delivered, ""},
		{"Elasticsearch 7 created", `{"_index":"a","_type":"_doc","_id":"1","_version":1,"result":"created","status":201}`, delivered, ""},
		{"updated", `{"_index":"a","_id":"1","result":"updated","status":200}`, delivered, ""},
		{"conflict", `{"_index":"a","_id":"1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[1]: version conflict, document already exists (current version [1])","index_uuid":"x","shard":"0","index":"a"}}`, delivered, ""},
		{"conflict without status", `{"error":{"type":"version_conflict_engine_exception","reason":"[1]: version conflict"}}`, delivered, ""},
		{"success without status", `{"_id":"1"}`, delivered, ""},
		{"rejected", `{"_index":"a","_id":"1","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of primary operation"}}`, transient, "status 429 es_rejected_execution_exception: rejected execution of primary operation"},
		{"OpenSearch rejected without status", `{"error":{"type":"rejected_execution_exception","reason":"rejected execution"}}`, transient, "status 429 rejected_execution_exception"},
		{"circuit breaker", `{"status":429,"error":{"type":"circuit_breaking_exception","reason":"[parent] Data too large"}}`, transient, "circuit_breaking_exception"},
		{"shard unavailable", `{"status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}`, transient, "status 503"},
		{"internal", `{"status":500,"error":{"type":"illegal_state_exception","reason":"boom"}}`, transient, "status 500"},
		{"write block", `{"status":403,"error":{"type":"cluster_block_exception","reason":"index [a] blocked by: [FORBIDDEN/8/index write (api)];"}}`, transient, "cluster_block_exception"},
		{"index missing", `{"status":404,"error":{"type":"index_not_found_exception","reason":"no such index [a]","index":"a"}}`, transient, "index_not_found_exception"},
		{"mapping", `{"_index":"a","_id":"1","status":400,"error":{"type":"document_parsing_exception","reason":"[1:15] failed to parse field [n] of type [long]","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"x\""}}}`, permanent, `status 400 document_parsing_exception: [1:15] failed to parse field [n] of type [long] (caused by illegal_argument_exception: For input string: "x")`},
		{"mapping in 7", `{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse"}}`, permanent, "mapper_parsing_exception"},
		{"missing pipeline", `{"status":400,"error":{"type":"illegal_argument_exception","reason":"pipeline with id [x] does not exist"}}`, permanent, "pipeline with id [x] does not exist"},
		{"other 404", `{"status":404,"error":{"type":"document_missing_exception","reason":"[1]: document missing"}}`, permanent, "document_missing_exception"},
		{"string error", `{"status":400,"error":"MapperParsingException[failed to parse]"}`, permanent, "status 400 MapperParsingException[failed to parse]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var item bulkItem
			require.NoError(t, json.Unmarshal([]byte(tt.item), &item))

			o := classify(item)

			assert.Equal(t, tt.verdict, o.verdict)
			if tt.reason != "" {
				assert.Contains(t, o.reason(), tt.reason)
			}
		})
	}
}

func TestParseBulkRejectsUntrustedResponses(t *testing.T) {
	docs := []document{{id: "1"}, {id: "2"}}
	tests := []struct {
		name, body, want string
	}{
		{"not JSON", "<html>ok</html>", "invalid bulk response"},
		{"too few items", `{"errors":false,"items":[{"create":{"_id":"1","status":201}}]}`, "1 items for 2 documents"},
		{"out of order", `{"errors":false,"items":[{"create":{"_id":"2","status":201}},{"create":{"_id":"1","status":201}}]}`, "out of order"},
		{"two actions in one item", `{"errors":false,"items":[{"create":{"_id":"1","status":201},"index":{}},{"create":{"_id":"2","status":201}}]}`, "has 2 actions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseBulk([]byte(tt.body), docs)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"Elasticsearch", `{"error":{"root_cause":[],"type":"security_exception","reason":"missing authentication credentials"},"status":401}`, "security_exception: missing authentication credentials"},
		{"old string error", `{"error":"Content-Type header [text/plain] is not supported","status":406}`, "Content-Type header [text/plain] is not supported"},
		{"gateway message", `{"message":"Request size exceeded 10485760 bytes"}`, "Request size exceeded 10485760 bytes"},
		{"AWS message", `{"Message":"User: anonymous is not authorized"}`, "User: anonymous is not authorized"},
		{"HTML", "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n</html>", "<html> <head><title>502 Bad Gateway</title></head> </html>"},
		{"plain text", "Unauthorized", "Unauthorized"},
		{"empty", "", "empty body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, errorText([]byte(tt.body)))
		})
	}
}

func TestShortenKeepsWholeRunes(t *testing.T) {
	long := strings.Repeat("é", maxReason)

	got := shorten(long)

	assert.True(t, utf8.ValidString(got))
	assert.True(t, strings.HasSuffix(got, "…"))
	assert.LessOrEqual(t, len(got), maxReason+len("…"))
	assert.Equal(t, "short", shorten("short"))
}
