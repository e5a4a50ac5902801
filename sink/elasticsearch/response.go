package elasticsearch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// verdict is the delivery state that an item's or a request's outcome
// gives its alerts.
type verdict int

const (
	delivered verdict = iota
	transient         // send again later
	permanent         // the destination will never accept it
)

// retryableStatus are the statuses, of a whole response or of one item,
// after which the same request may succeed later. They are a timeout,
// back-pressure, and the server errors that Elasticsearch, OpenSearch and
// their proxies use for a node or shard that is busy or down. Other 5xx
// statuses, such as 501 Not Implemented, do not clear by waiting.
var retryableStatus = map[int]bool{
	http.StatusRequestTimeout:      true,
	http.StatusTooManyRequests:     true,
	http.StatusInternalServerError: true,
	http.StatusBadGateway:          true,
	http.StatusServiceUnavailable:  true,
	http.StatusGatewayTimeout:      true,
}

// statusOfType gives the status of an item error that came without one, as
// with filter_path or a proxy that rewrote the response.
var statusOfType = map[string]int{
	"version_conflict_engine_exception": http.StatusConflict,
	"es_rejected_execution_exception":   http.StatusTooManyRequests,
	"rejected_execution_exception":      http.StatusTooManyRequests, // OpenSearch's name
	"circuit_breaking_exception":        http.StatusTooManyRequests,
	"unavailable_shards_exception":      http.StatusServiceUnavailable,
	"index_not_found_exception":         http.StatusNotFound,
}

// bulkResponse is the part of a _bulk response the sink reads. Elasticsearch
// 7 adds _type to each item and 8 moves errors before took; neither
// matters here.
type bulkResponse struct {
	Errors bool                  `json:"errors"`
	Items  []map[string]bulkItem `json:"items"`
}

// bulkItem is one entry of items, under its action name.
type bulkItem struct {
	ID     *string         `json:"_id"`
	Status int             `json:"status"`
	Error  json.RawMessage `json:"error"`
}

// errorCause is Elasticsearch's error object. Before 5.0 an error was a
// plain string, which parseCause puts in Reason.
type errorCause struct {
	Type     string      `json:"type"`
	Reason   string      `json:"reason"`
	CausedBy *errorCause `json:"caused_by"`
}

func parseCause(raw json.RawMessage) errorCause {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return errorCause{}
	}
	var c errorCause
	if raw[0] == '{' && json.Unmarshal(raw, &c) == nil {
		return c
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return errorCause{Reason: text}
	}
	return errorCause{Reason: string(raw)}
}

// String gives "type: reason (caused by type: reason)".
func (c errorCause) String() string {
	var b strings.Builder
	b.WriteString(c.Type)
	if c.Type != "" && c.Reason != "" {
		b.WriteString(": ")
	}
	b.WriteString(c.Reason)
	if c.CausedBy != nil && (c.CausedBy.Type != "" || c.CausedBy.Reason != "") {
		b.WriteString(" (caused by " + c.CausedBy.String() + ")")
	}
	return b.String()
}

// outcome is the result of one item.
type outcome struct {
	verdict verdict
	status  int
	cause   errorCause
}

// reason describes a failed item for the BatchError and the log.
func (o outcome) reason() string {
	return shorten(fmt.Sprintf("status %d %s", o.status, o.cause))
}

// classify decides what an item's status and error mean.
func classify(item bulkItem) outcome {
	o := outcome{status: item.Status, cause: parseCause(item.Error)}
	if o.status == 0 {
		if len(item.Error) == 0 {
			return o // no status and no error: only a success looks like that
		}
		o.status = statusOfType[o.cause.Type]
	}

	switch {
	case o.status >= 200 && o.status < 300:
		o.verdict = delivered
	case o.status == http.StatusConflict:
		// create found the _id already there: an earlier attempt stored it.
		o.verdict = delivered
	case retryableStatus[o.status]:
		o.verdict = transient
	case o.status == http.StatusUnauthorized || o.status == http.StatusForbidden:
		// Missing privileges or a write block: an operator can fix either.
		o.verdict = transient
	case o.status == http.StatusNotFound && o.cause.Type == "index_not_found_exception":
		// Automatic index creation is off and the index does not exist yet.
		o.verdict = transient
	default:
		o.verdict = permanent
	}
	return o
}

// parseBulk decodes a _bulk response and checks that it has one item per
// document, in order. It returns an error for a response it cannot trust.
func parseBulk(data []byte, docs []document) ([]outcome, error) {
	var resp bulkResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("invalid bulk response (%v): %s", err, snippet(data))
	}
	if len(resp.Items) != len(docs) {
		return nil, fmt.Errorf("bulk response has %d items for %d documents", len(resp.Items), len(docs))
	}

	outcomes := make([]outcome, len(docs))
	for i, entry := range resp.Items {
		if len(entry) != 1 {
			return nil, fmt.Errorf("bulk response item %d has %d actions instead of 1", i, len(entry))
		}
		for _, item := range entry {
			if item.ID != nil && *item.ID != docs[i].id {
				return nil, fmt.Errorf("bulk response item %d is for _id %q, not %q: the items are out of order", i, *item.ID, docs[i].id)
			}
			outcomes[i] = classify(item)
		}
	}
	return outcomes, nil
}

// describeResponse summarises a failed response as "HTTP 429 from <node>:
// type: reason". The reason comes from Elasticsearch's {"error": ...,
// "status": N} body, the {"message": ...} of some proxies and cloud
// gateways, or the start of a text body.
func describeResponse(res response) string {
	return fmt.Sprintf("HTTP %d from %s: %s", res.status, res.node, errorText(res.body))
}

func errorText(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		AWS     string          `json:"Message"`
	}
	if json.Unmarshal(body, &v) == nil {
		if c := parseCause(v.Error); c.Type != "" || c.Reason != "" {
			return shorten(c.String())
		}
		if v.Message != "" {
			return shorten(v.Message)
		}
		if v.AWS != "" {
			return shorten(v.AWS)
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return "empty body"
	}
	return snippet(body)
}

// maxReason bounds the reasons kept in errors and logs: a mapping error
// quotes part of the document, and a proxy may send a whole HTML page.
const maxReason = 500

// snippet returns the start of a body as one printable line.
func snippet(body []byte) string {
	s := strings.ToValidUTF8(string(body[:min(len(body), 4*maxReason)]), "?")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }), " ")
	return shorten(s)
}

func shorten(s string) string {
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
