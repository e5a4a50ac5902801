package detect

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"time"
	"unicode/utf8"

	jsoniter "github.com/json-iterator/go"

	"github.com/edgehunt/runningrat/cef"
)

// TimeLayout formats an alert's @timestamp: RFC 3339 in UTC with all nine
// fractional digits, so that nanoseconds survive and strings sort by time.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Alert is one hit of a rule on one record, in the plugin's native shape.
// Every field is a copy: an Alert outlives the chunk it came from.
type Alert struct {
	Timestamp       string        `json:"@timestamp"`
	ID              string        `json:"alert_id"`
	Rule            RuleRef       `json:"rule"`
	Verdict         string        `json:"verdict"`
	ExtendedReasons []string      `json:"extended_reasons"`
	Indicators      []string      `json:"indicators"`
	Mitre           Mitre         `json:"mitre"`
	Tags            []string      `json:"tags"`
	Event           Columns       `json:"event"`
	Evidence        Columns       `json:"evidence,omitempty"`
	Entities        []Entity      `json:"entities"`
	FluentBit       FluentBitInfo `json:"fluentbit"`
	// Rollup is set on an alert that stands for the repeats of an earlier
	// one within a suppression window.
	Rollup *Rollup `json:"rollup,omitempty"`
	// RawBase64 keeps the record's raw line byte for byte when it is not
	// valid UTF-8: the columns hold U+FFFD where Sentinel would, and JSON
	// cannot carry the original bytes as text. At most MaxValueBytes of the
	// line are kept.
	RawBase64 string `json:"raw_base64,omitempty"`
}

// Rollup counts the hits of one key that a suppression window held back.
type Rollup struct {
	Count       int64    `json:"count"`
	FirstSeen   string   `json:"first_seen"`
	LastSeen    string   `json:"last_seen"`
	WindowStart string   `json:"window_start"`
	WindowEnd   string   `json:"window_end"`
	By          []string `json:"by"`
	AlertIDs    []string `json:"alert_ids,omitempty"`
}

// RuleRef identifies the rule that raised an alert.
type RuleRef struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	Severity  string `json:"severity"`
	Reference string `json:"reference,omitempty"`
}

// Mitre is the rule's MITRE ATT&CK mapping.
type Mitre struct {
	Tactics    []Tactic    `json:"tactics"`
	Techniques []Technique `json:"techniques"`
}

// Entity is a Sentinel entity taken from a column: its type (ip, host,
// url), its identifier as Sentinel names it (Address, HostName, Url), and
// the column it came from.
type Entity struct {
	Type        string            `json:"type"`
	Identifiers map[string]string `json:"identifiers"`
	Column      string            `json:"column"`
}

// FluentBitInfo describes where Fluent Bit got the record.
type FluentBitInfo struct {
	Tag string `json:"tag"`
}

// Column is one named value of an alert's event.
type Column struct {
	Name  string
	Value string
}

// Columns is an ordered set of columns, encoded as one JSON object whose
// keys keep the rule's projection order.
type Columns []Column

// MarshalJSON encodes cs as an object in order.
func (cs Columns) MarshalJSON() ([]byte, error) {
	stream := jsonAPI.BorrowStream(nil)
	defer jsonAPI.ReturnStream(stream)

	stream.WriteObjectStart()
	for i, c := range cs {
		if i > 0 {
			stream.WriteMore()
		}
		stream.WriteObjectField(c.Name)
		stream.WriteString(c.Value)
	}
	stream.WriteObjectEnd()
	if stream.Error != nil {
		return nil, stream.Error
	}
	return append([]byte(nil), stream.Buffer()...), nil
}

// UnmarshalJSON decodes an object into cs, keeping its key order.
func (cs *Columns) UnmarshalJSON(data []byte) error {
	iter := jsonAPI.BorrowIterator(data)
	defer jsonAPI.ReturnIterator(iter)

	*cs = (*cs)[:0]
	iter.ReadMapCB(func(it *jsoniter.Iterator, key string) bool {
		*cs = append(*cs, Column{Name: key, Value: it.ReadString()})
		return true
	})
	return iter.Error
}

// Get returns the value of the named column, or "".
func (cs Columns) Get(name string) string {
	for _, c := range cs {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// jsonAPI encodes alerts. Keys keep struct order and HTML characters are not
// escaped, so that URLs in alerts read as the logs wrote them.
var jsonAPI = jsoniter.Config{EscapeHTML: false}.Froze()

// AppendJSON appends the alert as one line of JSON, without a newline.
func (a *Alert) AppendJSON(dst []byte) ([]byte, error) {
	stream := jsonAPI.BorrowStream(nil)
	defer jsonAPI.ReturnStream(stream)

	stream.WriteVal(a)
	if stream.Error != nil {
		return dst, stream.Error
	}
	return append(dst, stream.Buffer()...), nil
}

// ParseAlert decodes an alert written by AppendJSON.
func ParseAlert(data []byte) (Alert, error) {
	var a Alert
	err := jsonAPI.Unmarshal(data, &a)
	return a, err
}

// Source describes the record of an alert beyond its columns.
type Source struct {
	Time time.Time
	Tag  string
	// Raw is the record's raw line, if it had one; its bytes, with the
	// rule and the time, make the alert id. Without it, the record's
	// key/value pairs do.
	Raw []byte
}

// NewAlert builds the alert for a match of c on rec.
func (c *Compiled) NewAlert(rec *cef.Record, m *Match, src Source) Alert {
	rule := c.Rule
	a := Alert{
		Timestamp: src.Time.UTC().Format(TimeLayout),
		ID:        AlertID(rule.ID, src.Time, rec, src.Raw),
		Rule: RuleRef{
			ID: rule.ID, Name: rule.Name, Version: rule.Version,
			Severity: rule.Severity, Reference: rule.Reference,
		},
		Verdict:         m.Verdict.String(),
		ExtendedReasons: append([]string{}, m.Reasons...),
		Indicators:      append([]string{}, m.Indicators...),
		Mitre:           Mitre{Tactics: rule.Tactics, Techniques: rule.Techniques},
		Tags:            rule.Tags,
		Entities:        []Entity{},
		FluentBit:       FluentBitInfo{Tag: src.Tag},
	}

	if src.Raw != nil && !utf8.Valid(src.Raw) {
		raw := src.Raw[:min(len(src.Raw), MaxValueBytes)]
		a.RawBase64 = base64.StdEncoding.EncodeToString(raw)
	}
	for _, p := range c.project {
		if p.column == 0 {
			a.Event = append(a.Event, Column{Name: p.name, Value: a.Timestamp})
			continue
		}
		a.Event = append(a.Event, Column{Name: p.name, Value: capValue(rec.Value(p.column))})
	}
	if m.Verdict == ExtendedMatch {
		for _, e := range m.Evidence {
			a.Evidence = append(a.Evidence, Column{Name: e.Column, Value: capValue(e.Value)})
		}
	}
	for _, e := range c.entities {
		v := rec.Value(e.column)
		if len(v) == 0 {
			continue
		}
		a.Entities = append(a.Entities, Entity{
			Type:        e.Type,
			Identifiers: map[string]string{e.Identifier: capValue(v)},
			Column:      e.Column,
		})
	}
	return a
}

// MaxValueBytes bounds each column value an alert copies, so that a
// hostile record with a URL of many megabytes cannot make an alert, and the
// memory and the spool write behind it, as large. Sentinel's own per-value
// limits are of the same order (32 KB per field in the HTTP Data Collector
// API). The alert id is still computed from the whole record.
const MaxValueBytes = 64 << 10

// truncatedMark ends a value cut at MaxValueBytes.
const truncatedMark = "...[truncated]"

// capValue copies v, cut at MaxValueBytes on a UTF-8 boundary.
func capValue(v []byte) string {
	if len(v) <= MaxValueBytes {
		return string(v)
	}
	cut := MaxValueBytes
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return string(v[:cut]) + truncatedMark
}

// AlertID derives an alert's id from the rule, the record's time and the
// record's content, so that the same record always yields the same id and a
// sink can drop a redelivered copy. It is 32 hex digits of SHA-256.
func AlertID(ruleID string, t time.Time, rec *cef.Record, raw []byte) string {
	h := sha256.New()
	h.Write([]byte(ruleID))
	h.Write([]byte{0})
	var ts [12]byte
	binary.BigEndian.PutUint64(ts[:8], uint64(t.Unix()))
	binary.BigEndian.PutUint32(ts[8:], uint32(t.Nanosecond()))
	h.Write(ts[:])

	if raw != nil {
		h.Write([]byte{'L'})
		h.Write(raw)
	} else {
		// Length-prefixed pairs, so that no two different records hash
		// the same bytes.
		h.Write([]byte{'F'})
		var n [4]byte
		for _, p := range rec.Pairs() {
			binary.BigEndian.PutUint32(n[:], uint32(len(p.Key)))
			h.Write(n[:])
			h.Write(p.Key)
			binary.BigEndian.PutUint32(n[:], uint32(len(p.Value)))
			h.Write(n[:])
			h.Write(p.Value)
		}
	}
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:16])
}
