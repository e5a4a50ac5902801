package detect

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/cef"
	"github.com/edgehunt/runningrat/internal/casefile"
)

func compileRunningRAT(t testing.TB) *Compiled {
	t.Helper()
	c, err := Compile(&RunningRAT)
	require.NoError(t, err)
	return c
}

// evaluateCase runs one corpus case the way the plugin does. A raw message
// is cut into lines, each line that parses is evaluated, and the case alerts
// if any line does. It returns the strongest verdict and its match.
func evaluateCase(t *testing.T, rule *Compiled, c casefile.Case, mode Mode) (Verdict, Match) {
	t.Helper()
	var rec cef.Record
	var m Match

	if c.Kind == "fields" {
		rec.ResetFields()
		for _, k := range c.FieldKeys() {
			rec.AddField([]byte(k), []byte(c.Fields[k]))
		}
		return rule.Evaluate(&rec, mode, &m), m
	}

	best, bestMatch := NoMatch, Match{}
	for msg := c.Line; len(msg) > 0; {
		var line []byte
		line, msg = cef.CutLine(msg)
		if !rule.MayMatch(line, mode) {
			continue
		}
		if rec.ParseLine(line) != nil {
			continue
		}
		if v := rule.Evaluate(&rec, mode, &m); v != NoMatch && (best == NoMatch || v < best) {
			best = v
			bestMatch = Match{Verdict: v, Reasons: append([]string{}, m.Reasons...), Indicators: append([]string{}, m.Indicators...)}
		}
	}
	return best, bestMatch
}

func TestCorpusExact(t *testing.T) {
	rule := compileRunningRAT(t)
	cases, err := casefile.Load()
	require.NoError(t, err)

	for _, c := range cases {
		t.Run(c.ID, func(t *testing.T) {
			verdict, _ := evaluateCase(t, rule, c, Exact)
			if c.Exact {
				assert.Equal(t, ExactMatch, verdict, c.Why)
			} else {
				assert.Equal(t, NoMatch, verdict, c.Why)
			}
		})
	}
}

func TestCorpusExtended(t *testing.T) {
	rule := compileRunningRAT(t)
	cases, err := casefile.Load()
	require.NoError(t, err)

	for _, c := range cases {
		t.Run(c.ID, func(t *testing.T) {
			verdict, m := evaluateCase(t, rule, c, Extended)
			switch {
			case c.Exact:
				assert.Equal(t, ExactMatch, verdict, c.Why)
				assert.Empty(t, m.Reasons)
			case c.Extended:
				assert.Equal(t, ExtendedMatch, verdict, c.Why)
				assert.Equal(t, c.Reasons, m.Reasons)
				assert.NotEmpty(t, m.Indicators)
			default:
				assert.Equal(t, NoMatch, verdict, c.Why)
			}
		})
	}
}

// TestPrefilterKeepsEveryHit makes sure that the raw-text prefilter never
// drops a line that the full evaluation alerts on.
func TestPrefilterKeepsEveryHit(t *testing.T) {
	rule := compileRunningRAT(t)
	cases, err := casefile.Load()
	require.NoError(t, err)

	for _, c := range cases {
		if c.Kind != "cef" {
			continue
		}
		for _, mode := range []Mode{Exact, Extended} {
			want := c.Exact || mode == Extended && c.Extended
			if want {
				assert.True(t, rule.MayMatch(c.Line, mode), "%s in %s mode", c.ID, mode)
			}
		}
	}
}

func TestHasTerm(t *testing.T) {
	tests := []struct {
		needle string
		value  string
		want   bool
	}{
		{"/ui/chk", "/ui/chk", true},
		{"/ui/chk", "/api/ui/chk?x", true},
		{"/ui/chk", "/UI/CHK", true},
		{"/ui/chk", "/ui/chk.php", true},
		{"/ui/chk", "/ui/chk/", true},
		{"/ui/chk", "x/ui/chk", true},
		{"/ui/chk", "/ui/chkfoo", false},
		{"/ui/chk", "/ui/chk2", false},
		{"/ui/chk", "/gui/chk", false},
		{"/ui/chk", "/ui//chk", false},
		{"/ui/chk", "/ui%2Fchk", false},
		{"/ui/chk", "/ui/chk_x", true},
		{"mactok=", "?mactok=1", true},
		{"mactok=", "&MACTOK=", true},
		{"mactok=", "mactok==", true},
		{"mactok=", "xmactok=", false},
		{"mactok=", "1mactok=", false},
		{"mactok=", "mactok%3D", false},
		{"mactok=", "mactok =", false},
		{"mactok=", "_mactok=", true},
		{"mactok=", "émactok=", true},
		{"mactok=", "xmactok=1&mactok=2", true},
		{"kMnD=", "\u212aMnD=", false},
		{"IlocalP=", "IlocalP", false},
		{"UsRnMe=", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.needle+" in "+tt.value, func(t *testing.T) {
			m := newTermMatcher([]string{tt.needle})
			assert.Equal(t, tt.want, m.matchAny([]byte(tt.value)))
		})
	}
}

func TestDecodings(t *testing.T) {
	tests := []struct {
		name  string
		flags int
		in    string
		out   string
		ok    bool
	}{
		{"escaped slash", decodeEscapedSlash, `http:\/\/x\/ui\/chk`, "http://x/ui/chk", true},
		{"no escaped slash", decodeEscapedSlash, "/ui/chk", "", false},
		{"percent", decodePercent, "%2Fui%2fchk", "/ui/chk", true},
		{"double percent", decodePercent, "mactok%253D1", "mactok=1", true},
		{"broken percent kept", decodePercent, "a%2x%3D", "a%2x=", true},
		{"percent at end", decodePercent, "a%3", "", false},
		{"kelvin sign", decodeUnicodeFold, "\u212aMnD=", "kMnD=", true},
		{"long s", decodeUnicodeFold, "u\u017frnme=", "usrnme=", true},
		{"other letters untouched", decodeUnicodeFold, "é", "", false},
		{"both needed", decodeEscapedSlash | decodePercent, `\/ui%2Fchk`, "/ui/chk", true},
		{"combination with an idle step", decodeEscapedSlash | decodePercent, "%2Fui", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := applyDecodings([]byte(tt.in), tt.flags)
			assert.Equal(t, tt.ok, ok)
			if tt.ok {
				assert.Equal(t, tt.out, string(out))
			}
		})
	}
}

func TestEvaluateRejectsExplicitOtherMethod(t *testing.T) {
	rule := compileRunningRAT(t)
	var rec cef.Record
	require.NoError(t, rec.ParseLine([]byte("CEF:0|V|P|1|2|n|3|requestMethod=POST request=/ui/chk")))

	var m Match
	assert.Equal(t, NoMatch, rule.Evaluate(&rec, Extended, &m))
	assert.Empty(t, m.Reasons)
}

func TestCompileRejectsUnknownColumn(t *testing.T) {
	rule := RunningRAT
	rule.Where = []Condition{{Column: "NoSuchColumn", Op: Equals, Values: []string{"x"}}}
	_, err := Compile(&rule)
	assert.ErrorContains(t, err, `unknown column "NoSuchColumn"`)
}

func TestNewAlert(t *testing.T) {
	rule := compileRunningRAT(t)
	line := []byte("<134>1 2025-05-14T10:21:07Z gw01.example.com CheckPoint 7712 - - CEF:0|Check Point|URL Filtering|Check Point|Log|http|Unknown|act=Accept src=192.0.2.25 dst=203.0.113.10 shost=ws-042.example.com request=http://cdn.example.com/ui/chk?kMnD\\=ping requestMethod=GET requestClientApplication=Mozilla/5.0 (X11; Linux x86_64)")
	var rec cef.Record
	require.NoError(t, rec.ParseLine(line))
	var m Match
	require.Equal(t, ExactMatch, rule.Evaluate(&rec, Extended, &m))

	when := time.Date(2025, 5, 14, 10, 21, 7, 120000000, time.UTC)
	a := rule.NewAlert(&rec, &m, Source{Time: when, Tag: "fw.checkpoint", Raw: line})

	assert.Equal(t, "2025-05-14T10:21:07.120000000Z", a.Timestamp)
	assert.Len(t, a.ID, 32)
	assert.Equal(t, a.ID, AlertID(RunningRAT.ID, when, &rec, line), "id is deterministic")
	assert.NotEqual(t, a.ID, AlertID(RunningRAT.ID, when.Add(time.Nanosecond), &rec, line), "id depends on time")
	assert.Equal(t, "exact", a.Verdict)
	assert.Equal(t, []string{}, a.ExtendedReasons)
	assert.Equal(t, []string{"/ui/chk", "kMnD="}, a.Indicators)
	assert.Equal(t, []string{"POLONIUM"}, a.Tags)
	assert.Equal(t, "Check Point", a.Event.Get("DeviceVendor"))
	assert.Equal(t, "http://cdn.example.com/ui/chk?kMnD=ping", a.Event.Get("RequestURL"))
	assert.Equal(t, a.Timestamp, a.Event.Get("TimeGenerated"))
	assert.Equal(t, []Entity{
		{Type: "ip", Identifiers: map[string]string{"Address": "192.0.2.25"}, Column: "SourceIP"},
		{Type: "ip", Identifiers: map[string]string{"Address": "203.0.113.10"}, Column: "DestinationIP"},
		{Type: "host", Identifiers: map[string]string{"HostName": "ws-042.example.com"}, Column: "SourceHostName"},
		{Type: "url", Identifiers: map[string]string{"Url": "http://cdn.example.com/ui/chk?kMnD=ping"}, Column: "RequestURL"},
	}, a.Entities)
	assert.Empty(t, a.Evidence)
}

func TestAlertJSONRoundTrip(t *testing.T) {
	rule := compileRunningRAT(t)
	var rec cef.Record
	require.NoError(t, rec.ParseLine([]byte("CEF:0|Palo Alto Networks|PAN-OS|10.2|url|THREAT|1|requestMethod=get request=cdn.example.com/ui/chk?IlocalP=1&a=<b>")))
	var m Match
	require.Equal(t, ExtendedMatch, rule.Evaluate(&rec, Extended, &m))
	a := rule.NewAlert(&rec, &m, Source{Time: time.Unix(1747218067, 5).UTC(), Tag: "fw.pan"})

	line, err := a.AppendJSON(nil)
	require.NoError(t, err)
	assert.Contains(t, string(line), `"RequestURL":"cdn.example.com/ui/chk?IlocalP=1&a=<b>"`, "HTML is not escaped")
	assert.Contains(t, string(line), `"extended_reasons":["RequestMethod.case_or_blank"]`)

	back, err := ParseAlert(line)
	require.NoError(t, err)
	assert.Equal(t, a, back)
}

func TestAlertCapsHugeValues(t *testing.T) {
	rule := compileRunningRAT(t)
	url := "/ui/chk?" + strings.Repeat("é", MaxValueBytes)
	var rec cef.Record
	require.NoError(t, rec.ParseLine([]byte("CEF:0|V|P|1|2|n|3|requestMethod=GET request="+url)))
	var m Match
	require.Equal(t, ExactMatch, rule.Evaluate(&rec, Exact, &m))

	a := rule.NewAlert(&rec, &m, Source{Time: time.Unix(0, 0), Raw: []byte(url)})
	got := a.Event.Get("RequestURL")
	assert.LessOrEqual(t, len(got), MaxValueBytes+len(truncatedMark))
	assert.True(t, strings.HasSuffix(got, truncatedMark))
	assert.True(t, utf8.ValidString(got), "cut on a rune boundary")
}

func TestAlertKeepsInvalidUTF8Raw(t *testing.T) {
	rule := compileRunningRAT(t)
	line := []byte("CEF:0|V|P|1|2|n|3|requestMethod=GET request=/ui/chk?x=\xff\xfe")
	var rec cef.Record
	require.NoError(t, rec.ParseLine(line))
	var m Match
	require.Equal(t, ExactMatch, rule.Evaluate(&rec, Exact, &m))

	a := rule.NewAlert(&rec, &m, Source{Time: time.Unix(0, 0), Raw: line})
	assert.Equal(t, "/ui/chk?x=\ufffd\ufffd", a.Event.Get("RequestURL"), "the column is what Sentinel stores")
	raw, err := base64.StdEncoding.DecodeString(a.RawBase64)
	require.NoError(t, err)
	assert.Equal(t, line, raw, "the raw line is kept byte for byte")

	clean := rule.NewAlert(&rec, &m, Source{Time: time.Unix(0, 0), Raw: []byte("valid")})
	assert.Empty(t, clean.RawBase64)
}
