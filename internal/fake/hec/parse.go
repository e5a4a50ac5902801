package hec

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
)

// HEC's status codes, from Splunk's "Troubleshoot HTTP Event Collector"
// table, which gives each code with its HTTP status and text.
const (
	codeSuccess         = 0  // 200 Success
	codeTokenDisabled   = 1  // 403 Token disabled
	codeTokenRequired   = 2  // 401 Token is required
	codeInvalidAuth     = 3  // 401 Invalid authorization
	codeInvalidToken    = 4  // 403 Invalid token
	codeNoData          = 5  // 400 No data
	codeInvalidFormat   = 6  // 400 Invalid data format
	codeIncorrectIndex  = 7  // 400 Incorrect index
	codeInternalError   = 8  // 500 Internal server error
	codeServerBusy      = 9  // 503 Server is busy
	codeChannelMissing  = 10 // 400 Data channel is missing
	codeInvalidChannel  = 11 // 400 Invalid data channel
	codeEventRequired   = 12 // 400 Event field is required
	codeEventBlank      = 13 // 400 Event field cannot be blank
	codeAckDisabled     = 14 // 400 ACK is disabled
	codeIndexedFields   = 15 // 400 Error in handling indexed fields
	codeQueryStringAuth = 16 // 400 Query string authorization is not enabled
	codeHealthy         = 17 // 200 HEC is healthy
	codeUnhealthyQueues = 18 // 503 HEC is unhealthy, queues are full
	codeUnhealthyAckSvc = 19 // 503 HEC is unhealthy, ack service unavailable
	codeUnhealthyBoth   = 20 // 503 HEC is unhealthy, queues are full, ack service unavailable
)

// codeText is HEC's text for each code.
var codeText = map[int]string{
	codeSuccess:         "Success",
	codeTokenDisabled:   "Token disabled",
	codeTokenRequired:   "Token is required",
	codeInvalidAuth:     "Invalid authorization",
	codeInvalidToken:    "Invalid token",
	codeNoData:          "No data",
	codeInvalidFormat:   "Invalid data format",
	codeIncorrectIndex:  "Incorrect index",
	codeInternalError:   "Internal server error",
	codeServerBusy:      "Server is busy",
	codeChannelMissing:  "Data channel is missing",
	codeInvalidChannel:  "Invalid data channel",
	codeEventRequired:   "Event field is required",
	codeEventBlank:      "Event field cannot be blank",
	codeAckDisabled:     "ACK is disabled",
	codeIndexedFields:   "Error in handling indexed fields",
	codeQueryStringAuth: "Query string authorization is not enabled",
	codeHealthy:         "HEC is healthy",
	codeUnhealthyQueues: "HEC is unhealthy, queues are full",
	codeUnhealthyAckSvc: "HEC is unhealthy, ack service unavailable",
	codeUnhealthyBoth:   "HEC is unhealthy, queues are full, ack service unavailable",
}

// Event is one event that the server accepted.
type Event struct {
	// Time is the envelope's time in epoch seconds; HasTime is false when
	// the envelope had none and HEC would use the time of receipt.
	Time       float64
	HasTime    bool
	Host       string
	Source     string
	Sourcetype string
	Index      string
	// Event is the raw JSON of the event field.
	Event json.RawMessage
	// Fields are the indexed fields; AlertID is fields.alert_id.
	Fields  map[string]any
	AlertID string
	// Channel is the channel of the request that carried the event.
	Channel string
	// Raw is the whole envelope as sent.
	Raw json.RawMessage
}

// splitEnvelopes yields the JSON values of a batch body one by one, as HEC
// reads them: objects placed one after another, whitespace between them
// optional. It stops at the first value that does not parse, reporting its
// index.
func splitEnvelopes(body []byte, each func(i int, raw json.RawMessage) bool) (bad int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	for i := 0; ; i++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return 0, true
		}
		if err != nil {
			return i, false
		}
		if !each(i, raw) {
			return i, false
		}
	}
}

// parseEnvelope checks one envelope as HEC does and returns the event, or
// the HEC code that rejects it.
func parseEnvelope(raw json.RawMessage, allowed map[string]bool) (Event, int) {
	ev := Event{Raw: append(json.RawMessage(nil), raw...)}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil || env == nil {
		return ev, codeInvalidFormat
	}

	body, ok := env["event"]
	if !ok {
		return ev, codeEventRequired
	}
	if isBlank(body) {
		return ev, codeEventBlank
	}
	ev.Event = append(json.RawMessage(nil), body...)

	if t, ok := env["time"]; ok {
		secs, good := parseTime(t)
		if !good {
			return ev, codeInvalidFormat
		}
		ev.Time, ev.HasTime = secs, true
	}

	for key, dst := range map[string]*string{"host": &ev.Host, "source": &ev.Source, "sourcetype": &ev.Sourcetype, "index": &ev.Index} {
		v, ok := env[key]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return ev, codeInvalidFormat
		}
	}
	if len(allowed) > 0 && ev.Index != "" && !allowed[ev.Index] {
		return ev, codeIncorrectIndex
	}

	if f, ok := env["fields"]; ok {
		fields, good := parseFields(f)
		if !good {
			return ev, codeIndexedFields
		}
		ev.Fields = fields
		ev.AlertID, _ = fields["alert_id"].(string)
	}
	return ev, codeSuccess
}

// isBlank reports an event field that is null or an empty or all-blank
// string.
func isBlank(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	if string(v) == "null" {
		return true
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return len(bytes.TrimSpace([]byte(s))) == 0
	}
	return false
}

// parseTime reads time as a number or a numeric string of epoch seconds.
func parseTime(v json.RawMessage) (float64, bool) {
	var n json.Number
	if json.Unmarshal(v, &n) == nil {
		f, err := n.Float64()
		return f, err == nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	}
	return 0, false
}

// parseFields reads indexed fields: a flat object whose values are strings,
// numbers or arrays of them (multivalue fields). Nested objects are not
// indexed fields.
func parseFields(v json.RawMessage) (map[string]any, bool) {
	var fields map[string]any
	if err := json.Unmarshal(v, &fields); err != nil || fields == nil {
		return nil, false
	}
	for _, value := range fields {
		switch value := value.(type) {
		case string, float64:
		case []any:
			for _, item := range value {
				switch item.(type) {
				case string, float64:
				default:
					return nil, false
				}
			}
		default:
			return nil, false
		}
	}
	return fields, true
}
