package bulk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// bulkAction is one parsed action line with its source line.
type bulkAction struct {
	Action
	line     int    // 1-based number of the action line
	source   []byte // nil for delete
	pipeline string
}

// requestError is a failure of a whole request, sent as Elasticsearch's
// {"error": {...}, "status": N} body.
type requestError struct {
	status int
	typ    string
	reason string
}

func (e *requestError) Error() string { return e.typ + ": " + e.reason }

func badRequest(typ, format string, args ...any) *requestError {
	return &requestError{status: 400, typ: typ, reason: fmt.Sprintf(format, args...)}
}

// maxIDBytes is the longest _id that Elasticsearch and OpenSearch accept.
const maxIDBytes = 512

// metadataKeys are the parameters an action line may hold. Elasticsearch 8
// and 9 reject _type, which 7 and OpenSearch 2 still accept.
var metadataKeys = map[string]bool{
	"_index": true, "_id": true, "routing": true, "op_type": true, "version": true,
	"version_type": true, "if_seq_no": true, "if_primary_term": true,
	"retry_on_conflict": true, "pipeline": true, "_source": true, "require_alias": true,
	"dynamic_templates": true, "require_data_stream": true, "list_executed_pipelines": true,
}

// parseBulk splits an NDJSON bulk body into actions as Elasticsearch's
// BulkRequestParser does: every line ends with \n (a \r before it is
// dropped), each action line is {"<op>": {metadata}}, and create, index and
// update take the next line as their source. An action line without a
// following source line at the end of the body is ignored, as
// Elasticsearch does. pathIndex is the index named in the URL, or "".
func parseBulk(f Flavor, body []byte, pathIndex, pipeline string) ([]bulkAction, *requestError) {
	if len(body) > 0 && body[len(body)-1] != '\n' {
		return nil, badRequest("illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
	}

	lines := bytes.Split(body, []byte("\n"))
	lines = lines[:len(lines)-1] // the part after the final \n
	var actions []bulkAction
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := bytes.TrimSuffix(lines[i], []byte("\r"))
		a, err := parseActionLine(f, line, lineNo)
		if err != nil {
			return nil, err
		}
		if a.Index == "" {
			a.Index = pathIndex
		}
		if a.pipeline == "" {
			a.pipeline = pipeline
		}

		if a.Op != "delete" {
			if i+1 >= len(lines) {
				break
			}
			i++
			a.source = bytes.TrimSuffix(lines[i], []byte("\r"))
		}
		if err := validateAction(&a); err != nil {
			return nil, err
		}
		actions = append(actions, a)
	}

	if len(actions) == 0 {
		return nil, badRequest("action_request_validation_exception", "Validation Failed: 1: no requests added;")
	}
	return actions, nil
}

func parseActionLine(f Flavor, line []byte, lineNo int) (bulkAction, *requestError) {
	if !json.Valid(line) {
		return bulkAction{}, badRequest("x_content_parse_exception",
			"[%d:1] Unexpected character in action/metadata line [%d]", lineNo, lineNo)
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(line, &outer); err != nil || outer == nil {
		return bulkAction{}, badRequest("illegal_argument_exception",
			"Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT but found [%s]",
			lineNo, firstToken(line))
	}
	if len(outer) != 1 {
		return bulkAction{}, badRequest("illegal_argument_exception",
			"Malformed action/metadata line [%d], expected a single action but found %d", lineNo, len(outer))
	}

	a := bulkAction{line: lineNo}
	var meta json.RawMessage
	for op, m := range outer {
		a.Op, meta = op, m
	}
	switch a.Op {
	case "create", "index", "update", "delete":
	default:
		return bulkAction{}, badRequest("illegal_argument_exception",
			"Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]",
			lineNo, a.Op)
	}

	var fields map[string]any
	if err := json.Unmarshal(meta, &fields); err != nil || fields == nil {
		return bulkAction{}, badRequest("illegal_argument_exception",
			"Malformed action/metadata line [%d], expected START_OBJECT but found [%s]", lineNo, firstToken(meta))
	}
	for key, value := range fields {
		known := metadataKeys[key] || (key == "_type" && (f == Elasticsearch7 || f == OpenSearch2))
		if !known {
			return bulkAction{}, badRequest("illegal_argument_exception",
				"Action/metadata line [%d] contains an unknown parameter [%s]", lineNo, key)
		}
		text, isText := scalarText(value)
		switch key {
		case "_index":
			if !isText {
				return bulkAction{}, badRequest("illegal_argument_exception", "Malformed action/metadata line [%d], _index must be a string", lineNo)
			}
			a.Index = text
		case "_id":
			if !isText {
				return bulkAction{}, badRequest("illegal_argument_exception", "Malformed action/metadata line [%d], _id must be a string", lineNo)
			}
			if text == "" {
				return bulkAction{}, badRequest("action_request_validation_exception", "Validation Failed: 1: if _id is specified it must not be empty;")
			}
			a.ID = text
		case "pipeline":
			a.pipeline = text
		}
	}
	return a, nil
}

// validateAction applies the checks Elasticsearch makes before it runs any
// item, each of which fails the whole request.
func validateAction(a *bulkAction) *requestError {
	if a.Index == "" {
		return badRequest("action_request_validation_exception", "Validation Failed: 1: index is missing;")
	}
	if (a.Op == "update" || a.Op == "delete") && a.ID == "" {
		return badRequest("action_request_validation_exception", "Validation Failed: 1: id is missing;")
	}
	if len(a.ID) > maxIDBytes {
		return badRequest("action_request_validation_exception",
			"Validation Failed: 1: id [%s] is too long, must be no longer than 512 bytes but was: %d;", a.ID, len(a.ID))
	}
	return nil
}

// scalarText returns a JSON string or number as text.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		return fmt.Sprint(v), true
	}
	return "", false
}

// firstToken names the first JSON token of b for an error message, as
// Jackson names tokens.
func firstToken(b []byte) string {
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "null"
	}
	switch c := t[0]; {
	case c == '{':
		return "START_OBJECT"
	case c == '[':
		return "START_ARRAY"
	case c == '"':
		return "VALUE_STRING"
	case c == 't' || c == 'f':
		return "VALUE_BOOLEAN"
	case c == 'n':
		return "VALUE_NULL"
	case c == '-' || (c >= '0' && c <= '9'):
		return "VALUE_NUMBER"
	}
	return "an unexpected character"
}
