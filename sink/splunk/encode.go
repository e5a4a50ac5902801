package splunk

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
)

// encoder writes HEC event envelopes. Its fixed part (host, source,
// sourcetype, index) is encoded once.
type encoder struct {
	shape format.Format
	// metadata is `"host":…,"source":…,"sourcetype":…,"index":…,`, each
	// key with its trailing comma, empty ones left out.
	metadata []byte
}

func newEncoder(s *settings, shape format.Format) encoder {
	var meta []byte
	add := func(key, value string) {
		if value == "" {
			return
		}
		meta = appendString(meta, key)
		meta = append(meta, ':')
		meta = appendString(meta, value)
		meta = append(meta, ',')
	}
	add("host", s.host)
	add("source", s.source)
	add("sourcetype", s.sourcetype)
	add("index", s.index)
	return encoder{shape: shape, metadata: meta}
}

// appendEvent appends the envelope of one alert:
//
//	{"time":…,"host":…,"source":…,"sourcetype":…,"index":…,"event":{…},
//	 "fields":{"alert_id":…,"rule_id":…,"verdict":…}}
//
// The indexed fields let a search drop the copies that a resend after a
// lost response creates. time is left out when @timestamp does not parse, so
// that HEC stamps the event with its time of receipt.
func (e *encoder) appendEvent(dst []byte, a *detect.Alert) ([]byte, error) {
	dst = append(dst, '{')
	if t, err := time.Parse(time.RFC3339Nano, a.Timestamp); err == nil {
		dst = append(dst, `"time":`...)
		dst = appendEpoch(dst, t)
		dst = append(dst, ',')
	}
	dst = append(dst, e.metadata...)

	dst = append(dst, `"event":`...)
	var err error
	dst, err = format.AppendJSON(dst, e.shape, a)
	if err != nil {
		return dst, fmt.Errorf("encode alert %s as %s: %w", a.ID, e.shape, err)
	}

	dst = append(dst, `,"fields":{"alert_id":`...)
	dst = appendString(dst, a.ID)
	if a.Rule.ID != "" {
		dst = append(dst, `,"rule_id":`...)
		dst = appendString(dst, a.Rule.ID)
	}
	if a.Verdict != "" {
		dst = append(dst, `,"verdict":`...)
		dst = appendString(dst, a.Verdict)
	}
	return append(dst, "}}"...), nil
}

// appendEpoch appends t as epoch seconds with microseconds, the form HEC
// reads for sub-second time.
func appendEpoch(dst []byte, t time.Time) []byte {
	micros := t.UnixMicro()
	secs, frac := micros/1e6, micros%1e6
	if frac < 0 {
		secs, frac = secs-1, frac+1e6
	}
	dst = strconv.AppendInt(dst, secs, 10)
	dst = append(dst, '.')
	digits := strconv.AppendInt(nil, frac, 10)
	for range 6 - len(digits) {
		dst = append(dst, '0')
	}
	return append(dst, digits...)
}

func appendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return append(dst, b...)
}
