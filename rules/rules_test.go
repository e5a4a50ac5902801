package rules

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/cef"
	"github.com/edgehunt/runningrat/detect"
)

// TestBuiltinMatchesTheGoRule checks that compiling the shipped YAML file
// gives the rule that the tests and golden files were written against.
func TestBuiltinMatchesTheGoRule(t *testing.T) {
	rules, err := Builtin()
	require.NoError(t, err)
	require.Len(t, rules, 1)
	got, want := rules[0], detect.RunningRAT

	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.Name, got.Name)
	assert.Equal(t, want.Version, got.Version)
	assert.Equal(t, want.Severity, got.Severity)
	assert.Equal(t, want.Reference, got.Reference)
	assert.Equal(t, want.Tags, got.Tags)
	assert.Equal(t, want.Where, got.Where)
	assert.Equal(t, want.Project, got.Project)
	assert.Equal(t, want.Entities, got.Entities)
	assert.Equal(t, want.Tactics, got.Tactics)
	assert.Equal(t, want.Techniques, got.Techniques)
	assert.NotEmpty(t, got.Description)
}

func TestCompileQuery(t *testing.T) {
	tests := []struct {
		name  string
		query string
		where []detect.Condition
	}{
		{"literal list", `CommonSecurityLog | where RequestURL has_any ('a=', "b")`,
			[]detect.Condition{{Column: "RequestURL", Op: detect.HasAny, Values: []string{"a=", "b"}}}},
		{"verbatim string", `let x = dynamic([@'c:\path', @'it''s']); CommonSecurityLog | where RequestURL has_any (x)`,
			[]detect.Condition{{Column: "RequestURL", Op: detect.HasAny, Values: []string{`c:\path`, "it's"}}}},
		{"and", "CommonSecurityLog\n| where RequestMethod == 'GET' and DeviceAction == \"allow\"",
			[]detect.Condition{{Column: "RequestMethod", Op: detect.Equals, Values: []string{"GET"}},
				{Column: "DeviceAction", Op: detect.Equals, Values: []string{"allow"}}}},
		{"comment", "// a comment\nCommonSecurityLog | where RequestMethod == 'GET'",
			[]detect.Condition{{Column: "RequestMethod", Op: detect.Equals, Values: []string{"GET"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			where, _, _, err := compileQuery(tt.query)
			require.NoError(t, err)
			assert.Equal(t, tt.where, where)
		})
	}
}

func TestCompileQueryRejects(t *testing.T) {
	tests := []struct {
		name  string
		query string
		err   string
	}{
		{"unsupported operator", "CommonSecurityLog\n| where RequestURL hasprefix 'x'", `line 2, column 20: operator "hasprefix" is not supported`},
		{"negated operator", "CommonSecurityLog | where RequestURL !hasprefix 'x'", `operator "!hasprefix" is not supported`},
		{"matches without regex", "CommonSecurityLog | where RequestURL matches 'x'", `expected "regex" after matches`},

		{"unclosed parenthesis", "CommonSecurityLog | where (RequestMethod == 'GET'", `expected ")"`},
		{"index out of range", "let a = dynamic(['x']); CommonSecurityLog | where RequestURL == tostring(a[3])", `index "3" is not within a, which has 1 values`},
		{"other table", "SecurityEvent | where EventID == '4624'", `expected the table CommonSecurityLog, found "SecurityEvent"`},
		{"other tabular operator", "CommonSecurityLog | summarize count() by SourceIP", `tabular operator "summarize" is not supported`},
		{"unknown column", "CommonSecurityLog | where Url == 'x'", `unknown CommonSecurityLog column "Url"`},
		{"projected away", "CommonSecurityLog | project SourceIP | where RequestURL has_any ('x')", `column "RequestURL" was removed by an earlier project`},
		{"undefined let", "CommonSecurityLog | where RequestURL has_any (nope)", `"nope" is not defined by a let statement`},
		{"no where", "CommonSecurityLog | project SourceIP", "the query has no where clause"},
		{"has_any at the end", "CommonSecurityLog | where RequestURL has_any", `expected "(", found ""`},
		{"open string", "CommonSecurityLog | where RequestMethod == 'GET", "line 1, column 44: string not closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := compileQuery(tt.query)
			assert.ErrorContains(t, err, tt.err)
		})
	}
}

func TestParseNamesTheFile(t *testing.T) {
	_, err := Parse([]byte("id: x\nname: y\nquery: CommonSecurityLog | where RequestURL startswith_cs 'a'\n"), "custom.yaml")
	assert.ErrorContains(t, err, `custom.yaml: query: line 1, column 38: operator "startswith_cs" is not supported`)

	_, err = Parse([]byte("id: x\nname: y\ntactics: [Nope]\nquery: CommonSecurityLog | where RequestMethod == 'GET'\n"), "t.yaml")
	assert.ErrorContains(t, err, `t.yaml: unknown tactic "Nope"`)
}

// TestOperatorsEvaluate compiles one query per operator and evaluates it on
// a record, in exact mode, against Kusto's documented results.
func TestOperatorsEvaluate(t *testing.T) {
	line := "CEF:0|V|P|1|2|n|3|requestMethod=GET request=https://Cdn.example.com/ui/chk?MacTok=1 act=Allowed"
	tests := []struct {
		where string
		want  bool
	}{
		{`RequestMethod != "POST"`, true},
		{`RequestMethod != "GET"`, false},
		{`RequestMethod =~ "get"`, true},
		{`RequestMethod !~ "get"`, false},
		{`RequestURL has "chk"`, true},
		{`RequestURL has "ch"`, false},
		{`RequestURL !has "chk"`, false},
		{`RequestURL has_cs "MacTok"`, true},
		{`RequestURL has_cs "mactok"`, false},
		{`RequestURL has_all ("chk", "mactok")`, true},
		{`RequestURL has_all ("chk", "nope")`, false},
		{`RequestURL contains "ample.COM"`, true},
		{`RequestURL !contains "ample"`, false},
		{`RequestURL contains_cs "cdn"`, false},
		{`RequestURL startswith "HTTPS://cdn"`, true},
		{`RequestURL endswith "=1"`, true},
		{`DeviceAction in ("Allowed", "Blocked")`, true},
		{`DeviceAction in ("allowed")`, false},
		{`DeviceAction in~ ("allowed")`, true},
		{`DeviceAction !in ("Allowed")`, false},
		{`RequestURL matches regex "chk\\?[A-Za-z]+=\\d"`, true},
		{`RequestURL matches regex "^/ui"`, false},
		{`isnotempty(RequestURL)`, true},
		{`isempty(SourceIP)`, true},
		{`isempty(RequestURL) and RequestMethod == "GET"`, false},
		{`RequestMethod == "POST" or RequestURL has "chk"`, true},
		{`RequestMethod == "POST" or RequestURL has "nope"`, false},
		{`not(RequestMethod == "POST")`, true},
		{`not(RequestMethod == "GET" and RequestURL has "chk")`, false},
		{`(RequestMethod == "POST" or DeviceAction == "Allowed") and RequestURL has "mactok"`, true},
		{`tolower(RequestURL) contains_cs "cdn.example"`, true},
		{`toupper(RequestMethod) == "GET"`, true},
		{`RequestURL has tostring(needles[1])`, true},
		{`RequestURL has needles[0]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			where, expr, _, err := compileQuery("let needles = dynamic(['nope', 'chk']);\nCommonSecurityLog | where " + tt.where)
			require.NoError(t, err)
			rule := detect.Rule{ID: "t", Name: "t", Where: where, Expr: expr}
			compiled, err := detect.Compile(&rule)
			require.NoError(t, err)

			var rec cef.Record
			require.NoError(t, rec.ParseLine([]byte(line)))
			var m detect.Match
			assert.Equal(t, tt.want, compiled.Evaluate(&rec, detect.Exact, &m) == detect.ExactMatch)
		})
	}
}

// TestBuiltinRuleTests runs the test events of the shipped rule files.
func TestBuiltinRuleTests(t *testing.T) {
	entries, err := builtin.ReadDir("builtin")
	require.NoError(t, err)
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			data, err := builtin.ReadFile("builtin/" + e.Name())
			require.NoError(t, err)
			rule, err := Parse(data, e.Name())
			require.NoError(t, err)
			tests, err := ParseTests(data, e.Name())
			require.NoError(t, err)
			require.NotEmpty(t, tests)

			compiled, err := detect.Compile(&rule)
			require.NoError(t, err)
			failures, err := RunTests(compiled, tests)
			require.NoError(t, err)
			assert.Empty(t, failures)
		})
	}
}

func TestRunTestsReportsAFailure(t *testing.T) {
	rule := detect.RunningRAT
	compiled, err := detect.Compile(&rule)
	require.NoError(t, err)
	failures, err := RunTests(compiled, []TestEvent{{Name: "wrong", Fields: map[string]string{"RequestMethod": "GET", "RequestURL": "/ok"}, Exact: true}})
	require.NoError(t, err)
	require.Len(t, failures, 1)
	assert.Equal(t, `rule "RunningRAT request parameters", test "wrong", exact mode: expected alert true, got false`, failures[0].String())
}

// TestCreepyDriveShapedRule loads a rule written like Sentinel's
// CreepyDrive URLs rule (or, matches regex, tostring of a let-array
// element) and runs its test events.
func TestCreepyDriveShapedRule(t *testing.T) {
	checks, failures, err := TestFile("testdata/cloud-drive-c2.yaml")
	require.NoError(t, err)
	assert.Equal(t, 8, checks)
	assert.Empty(t, failures)

	rules, errs := LoadPath("testdata")
	require.Empty(t, errs)
	require.Len(t, rules, 1)
	assert.NotNil(t, rules[0].Expr, "an or makes an expression")
	assert.Equal(t, "Exfiltration to Cloud Storage", rules[0].Techniques[0].Name)
	assert.Equal(t, "T1567", rules[0].Techniques[0].Parent.ID)
}
