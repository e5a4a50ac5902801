// Package casefile loads testdata/cases.jsonl, the corpus of RunningRAT
// cases that the cef, detect and plugin tests share. Each line holds one
// case: a raw CEF line or a split record, and the verdict expected in each
// detection mode.
package casefile

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
)

// Case is one corpus entry.
type Case struct {
	ID   string `json:"id"`
	Kind string `json:"kind"` // "cef" (a raw line) or "fields" (a split record)
	// Line is the raw input of a "cef" case, decoded from base64 when the
	// file holds bytes that are not UTF-8.
	Line   []byte            `json:"-"`
	Fields map[string]string `json:"-"`
	// Exact and Extended are whether an alert is expected in each mode.
	Exact    bool `json:"exact"`
	Extended bool `json:"extended"`
	// Reasons are the extended reasons expected when only Extended holds.
	Reasons []string `json:"reasons"`
	// Columns are parsed columns to check; the key "_no_record" means the
	// line must not parse as CEF.
	Columns map[string]any `json:"fields"`
	Why     string         `json:"why"`

	RawInput    json.RawMessage `json:"input"`
	InputBase64 string          `json:"input_base64"`
}

// NoRecord reports whether the case expects the line to be rejected.
func (c *Case) NoRecord() bool {
	v, ok := c.Columns["_no_record"].(bool)
	return ok && v
}

// FieldKeys returns the keys of a "fields" case in a stable order.
func (c *Case) FieldKeys() []string {
	keys := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Path returns the corpus path, found from this source file so that tests
// in any package can load it.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "cases.jsonl")
}

// Load reads the corpus.
func Load() ([]Case, error) {
	f, err := os.Open(Path())
	if err != nil {
		return nil, err
	}
	defer f.Close()

	var cases []Case
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; scanner.Scan(); line++ {
		var c Case
		if err := json.Unmarshal(scanner.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", Path(), line, err)
		}
		if err := c.decodeInput(); err != nil {
			return nil, fmt.Errorf("%s line %d (%s): %w", Path(), line, c.ID, err)
		}
		cases = append(cases, c)
	}
	return cases, scanner.Err()
}

func (c *Case) decodeInput() error {
	switch {
	case c.InputBase64 != "":
		b, err := base64.StdEncoding.DecodeString(c.InputBase64)
		if err != nil {
			return err
		}
		c.Line = b
	case c.Kind == "fields":
		return json.Unmarshal(c.RawInput, &c.Fields)
	default:
		var s string
		if err := json.Unmarshal(c.RawInput, &s); err != nil {
			return err
		}
		c.Line = []byte(s)
	}
	return nil
}
