package rules

import (
	"fmt"
	"os"
	"sort"

	"go.yaml.in/yaml/v3"

	"github.com/edgehunt/runningrat/cef"
	"github.com/edgehunt/runningrat/detect"
)

// TestEvent is one test of a rule file: a raw line or split fields, and
// whether each detection mode must raise an alert.
type TestEvent struct {
	Name     string            `yaml:"name"`
	Line     string            `yaml:"line"`
	Fields   map[string]string `yaml:"fields"`
	Exact    bool              `yaml:"exact"`
	Extended bool              `yaml:"extended"`
}

// TestFailure is a test event whose outcome differs from its expectation.
type TestFailure struct {
	Rule, Test, Mode string
	Want, Got        bool
}

func (f TestFailure) String() string {
	return fmt.Sprintf("rule %q, test %q, %s mode: expected alert %v, got %v", f.Rule, f.Test, f.Mode, f.Want, f.Got)
}

// ParseTests reads the tests of a rule file.
func ParseTests(data []byte, name string) ([]TestEvent, error) {
	var f struct {
		Tests []TestEvent `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: invalid YAML: %w", name, err)
	}
	for _, t := range f.Tests {
		if (t.Line == "") == (len(t.Fields) == 0) {
			return nil, fmt.Errorf("%s: test %q needs either line or fields", name, t.Name)
		}
	}
	return f.Tests, nil
}

// RunTests evaluates each test event with the compiled rule, the way the
// plugin reads a line or split record, in both modes.
func RunTests(rule *detect.Compiled, tests []TestEvent) ([]TestFailure, error) {
	var failures []TestFailure
	for _, t := range tests {
		var rec cef.Record
		if t.Line != "" {
			if err := rec.ParseLine([]byte(t.Line)); err != nil {
				return nil, fmt.Errorf("rule %q, test %q: %w", rule.Rule.Name, t.Name, err)
			}
		} else {
			rec.ResetFields()
			keys := make([]string, 0, len(t.Fields))
			for k := range t.Fields {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				rec.AddField([]byte(k), []byte(t.Fields[k]))
			}
		}

		for _, mode := range []detect.Mode{detect.Exact, detect.Extended} {
			want := t.Exact
			if mode == detect.Extended {
				want = t.Extended
			}
			var m detect.Match
			got := rule.Evaluate(&rec, mode, &m) != detect.NoMatch
			if got != want {
				failures = append(failures, TestFailure{Rule: rule.Rule.Name, Test: t.Name, Mode: mode.String(), Want: want, Got: got})
			}
		}
	}
	return failures, nil
}

// TestFile compiles the rule file at path and runs its test events. It
// returns the number of checks run (two per event, one per mode).
func TestFile(path string) (checks int, failures []TestFailure, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, err
	}
	rule, err := Parse(data, path)
	if err != nil {
		return 0, nil, err
	}
	tests, err := ParseTests(data, path)
	if err != nil {
		return 0, nil, err
	}
	compiled, err := detect.Compile(&rule)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	failures, err = RunTests(compiled, tests)
	return 2 * len(tests), failures, err
}
