package elasticsearch

import (
	"encoding/json"
	"fmt"

	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
	"github.com/edgehunt/runningrat/sink"
)

// maxIDBytes is the longest _id that Elasticsearch and OpenSearch accept.
// A longer one fails validation of the whole request, not just its item.
const maxIDBytes = 512

// document is one alert as the two NDJSON lines of a bulk request.
type document struct {
	index int    // position of the alert in the batch passed to Send
	id    string // the alert id, sent as _id
	lines []byte // action line and source line, each ending in \n
}

// encode turns alerts into documents. An alert that cannot be sent at all
// is returned as a permanent failure instead, since sending it again would
// fail the same way.
func (s *Sink) encode(alerts []detect.Alert) ([]document, []sink.ItemError) {
	docs := make([]document, 0, len(alerts))
	var failures []sink.ItemError
	for i := range alerts {
		a := &alerts[i]
		if reason := checkID(a.ID); reason != "" {
			failures = append(failures, sink.ItemError{Index: i, Permanent: true, Reason: reason})
			continue
		}

		lines := append([]byte(nil), s.actionPrefix...)
		lines = appendJSONString(lines, a.ID)
		lines = append(lines, "}}\n"...)
		lines, err := format.AppendJSON(lines, s.format, a)
		if err != nil {
			failures = append(failures, sink.ItemError{Index: i, Permanent: true, Reason: fmt.Sprintf("encode alert %s: %v", a.ID, err)})
			continue
		}
		lines = append(lines, '\n')
		docs = append(docs, document{index: i, id: a.ID, lines: lines})
	}
	return docs, failures
}

// checkID returns why id cannot be a document _id, or "".
func checkID(id string) string {
	switch {
	case id == "":
		// Without an _id, Elasticsearch would store every resend as a new
		// document.
		return "alert has no id, so Elasticsearch could not drop a resent copy"
	case len(id) > maxIDBytes:
		return fmt.Sprintf("alert id is %d bytes; Elasticsearch accepts at most %d", len(id), maxIDBytes)
	}
	return ""
}

// actionPrefix returns the start of every action line, up to the _id
// value: {"create":{"_index":"<index>","_id":
func actionPrefix(index string) []byte {
	b := []byte(`{"create":{"_index":`)
	b = appendJSONString(b, index)
	return append(b, `,"_id":`...)
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return append(dst, b...)
}

// split cuts docs into requests of at most BatchSize documents and
// MaxRequestSize bytes. A document larger than MaxRequestSize goes alone,
// and the server decides whether it fits.
func (s *Sink) split(docs []document) [][]document {
	var chunks [][]document
	start, size := 0, int64(0)
	for i, d := range docs {
		n := int64(len(d.lines))
		full := i-start == s.cfg.BatchSize || size+n > s.cfg.MaxRequestSize
		if i > start && full {
			chunks = append(chunks, docs[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(docs) {
		chunks = append(chunks, docs[start:])
	}
	return chunks
}

// body joins the documents into one request body.
func body(docs []document) []byte {
	n := 0
	for _, d := range docs {
		n += len(d.lines)
	}
	b := make([]byte, 0, n)
	for _, d := range docs {
		b = append(b, d.lines...)
	}
	return b
}
