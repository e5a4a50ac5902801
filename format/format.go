// Package format shapes an alert for its destination: the plugin's native
// JSON, Elastic Common Schema documents, or Splunk events with CIM and
// risk fields.
package format

import (
	"fmt"
	"strings"

	jsoniter "github.com/json-iterator/go"

	"github.com/edgehunt/runningrat/detect"
)

// Format names the shape of an alert.
type Format string

const (
	// Default lets each sink choose its own shape: ecs for Elasticsearch,
	// splunk for Splunk, native for the others.
	Default Format = ""
	Native  Format = "native"
	ECS     Format = "ecs"
	Splunk  Format = "splunk"
)

// Parse parses an Alert_Format value; "" means Default.
func Parse(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case Default, Native, ECS, Splunk:
		return f, nil
	}
	return "", fmt.Errorf("invalid Alert_Format %q: use native, ecs or splunk", s)
}

// Or returns f, or def when f is Default.
func (f Format) Or(def Format) Format {
	if f == Default {
		return def
	}
	return f
}

// documentJSON encodes documents: keys of maps sorted so that output is stable,
// HTML characters left as they are so that URLs read as logged.
var documentJSON = jsoniter.Config{EscapeHTML: false, SortMapKeys: true}.Froze()

// Document returns the alert in shape f as a JSON-ready value: the
// *detect.Alert itself for native, a map for the others.
func Document(f Format, a *detect.Alert) any {
	switch f {
	case ECS:
		return ECSDocument(a)
	case Splunk:
		return SplunkEvent(a)
	}
	return a
}

// AppendJSON appends the alert in shape f as one JSON object.
func AppendJSON(dst []byte, f Format, a *detect.Alert) ([]byte, error) {
	if f == Native || f == Default {
		return a.AppendJSON(dst)
	}
	b, err := documentJSON.Marshal(Document(f, a))
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}
