package cef

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/internal/casefile"
)

const prefix = "<134>May 14 10:21:07 proxy01.example.com "

func parse(t *testing.T, line string) *Record {
	t.Helper()
	var r Record
	require.NoError(t, r.ParseLine([]byte(line)))
	return &r
}

func column(t *testing.T, name string) Column {
	t.Helper()
	c, ok := ColumnByName(name)
	require.True(t, ok, "column %s", name)
	return c
}

func TestParseLineHeader(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		version int
		header  map[string]string
	}{
		{"no syslog framing", "CEF:0|V|P|1.0|100|n|3|a=b", 0,
			map[string]string{"DeviceVendor": "V", "DeviceProduct": "P", "DeviceVersion": "1.0", "DeviceEventClassID": "100", "Activity": "n", "LogSeverity": "3"}},
		{"RFC 3164 with space-padded day", "<14>May  4 01:02:03 host CEF:0|V|P|1|2|n|Low|", 0,
			map[string]string{"DeviceVendor": "V", "LogSeverity": "Low"}},
		{"RFC 5424 with BOM", "<134>1 2025-05-14T10:21:07Z h app 1 - - \ufeffCEF:1|V|P|1|2|n|5|", 1,
			map[string]string{"DeviceVendor": "V", "LogSeverity": "5"}},
		{"octet count", "98 <134>1 2025-05-14T10:21:07Z h app - - - CEF:0|V|P|1|2|n|5|", 0,
			map[string]string{"DeviceProduct": "P"}},
		{"blank after CEF colon", "CEF: 0|Fortinet|Fortigate|v7|13312|x|3|", 0,
			map[string]string{"DeviceVendor": "Fortinet"}},
		{"escaped pipe in header", `CEF:0|V|P|1|2|a\|b|3|`, 0,
			map[string]string{"Activity": "a|b"}},
		{"escaped backslash then pipe", `CEF:0|V|P|1|2|a\\|3|`, 0,
			map[string]string{"Activity": `a\`, "LogSeverity": "3"}},
		{"other backslash kept in header", `CEF:0|V|P|1|2|a\=b|3|`, 0,
			map[string]string{"Activity": `a\=b`}},
		{"CEF word inside a hostname is skipped", "<1>May 14 10:21:07 myCEF:0 CEF:0|V|P|1|2|n|3|", 0,
			map[string]string{"DeviceVendor": "V"}},
		{"empty header fields", "CEF:0||||||||", 0,
			map[string]string{"DeviceVendor": "", "LogSeverity": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parse(t, tt.line)
			assert.Equal(t, tt.version, r.Version)
			for name, want := range tt.header {
				assert.Equal(t, want, string(r.Value(column(t, name))), name)
			}
		})
	}
}

func TestParseLineRejects(t *testing.T) {
	tests := []struct {
		name string
		line string
		err  error
	}{
		{"empty line", "", ErrNoHeader},
		{"plain syslog", "<13>May 14 10:21:07 host sshd[1]: Accepted publickey", ErrNoHeader},
		{"CEF without version", "CEF:|V|P|1|2|n|3|", ErrNoHeader},
		{"CEF without pipe", "CEF:0 V P", ErrNoHeader},
		{"header cut after product", "CEF:0|V|P", ErrShortHeader},
		{"header cut before severity pipe", "CEF:0|V|P|1|2|n|3", ErrShortHeader},
		{"version 2", "CEF:2|V|P|1|2|n|3|a=b", ErrVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			assert.ErrorIs(t, r.ParseLine([]byte(tt.line)), tt.err)
			assert.Empty(t, r.Pairs())
		})
	}
}

func TestParseLineExtension(t *testing.T) {
	tests := []struct {
		name  string
		ext   string
		pairs []string // key, value, key, value...
	}{
		{"values with blanks", "msg=hello big world src=192.0.2.1",
			[]string{"msg", "hello big world", "src", "192.0.2.1"}},
		{"unescaped equals in URL", "request=http://x/a?b=1&c=2 src=1",
			[]string{"request", "http://x/a?b=1&c=2", "src", "1"}},
		{"escaped equals", `request=/a?b\=1`, []string{"request", "/a?b=1"}},
		{"escaped backslash", `filePath=C:\\Windows\\System32\\reg.exe`,
			[]string{"filePath", `C:\Windows\System32\reg.exe`}},
		{"single pass keeps backslash-n literal", `msg=a\\nb`, []string{"msg", `a\nb`}},
		{"newline and carriage return escapes", `msg=a\nb\rc`, []string{"msg", "a\nb\rc"}},
		{"escaped pipe", `msg=a\|b`, []string{"msg", "a|b"}},
		{"unknown escape kept", `request=http:\/\/x\/ui`, []string{"request", `http:\/\/x\/ui`}},
		{"trailing backslash kept", `msg=abc\`, []string{"msg", `abc\`}},
		{"escaped equals does not start a key", `cs1=a b\=c d=e`, []string{"cs1", `a b=c`, "d", "e"}},
		{"empty values", "duser= app=web PanOSReferer= dvchost=fw",
			[]string{"duser", "", "app", "web", "PanOSReferer", "", "dvchost", "fw"}},
		{"two blanks keep one in the value", "requestMethod=GET  request=/x",
			[]string{"requestMethod", "GET ", "request", "/x"}},
		{"blank then word equals starts a key", "request=/a?q=x mactok=1",
			[]string{"request", "/a?q=x", "mactok", "1"}},
		{"vendor keys", "FTNTFGTlogid=0316 layer_name=Std ad.X-Client=1",
			[]string{"FTNTFGTlogid", "0316", "layer_name", "Std", "ad.X-Client", "1"}},
		{"base64 value with padding", "key=aGVsbG8= spt=1", []string{"key", "aGVsbG8=", "spt", "1"}},
		{"duplicate keys kept in order", "request=/a request=/b", []string{"request", "/a", "request", "/b"}},
		{"leading text before first key dropped", "garbage text act=allow", []string{"act", "allow"}},
		{"trailing blanks kept", "act=allow  ", []string{"act", "allow  "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parse(t, "CEF:0|V|P|1|2|n|3|"+tt.ext)
			var got []string
			for _, p := range r.Pairs() {
				got = append(got, string(p.Key), string(p.Value))
			}
			assert.Equal(t, tt.pairs, got)
		})
	}
}

func TestValueLastKeyWins(t *testing.T) {
	r := parse(t, "CEF:0|V|P|1|2|n|3|requestMethod=POST requestMethod=GET")
	assert.Equal(t, "GET", string(r.Value(column(t, "RequestMethod"))))
}

func TestValueKeysAreCaseSensitive(t *testing.T) {
	r := parse(t, "CEF:0|V|P|1|2|n|3|REQUESTMETHOD=GET")
	assert.Empty(t, r.Value(column(t, "RequestMethod")))
	assert.False(t, r.Has(column(t, "RequestMethod")))
	assert.Equal(t, "REQUESTMETHOD=GET", r.AdditionalExtensions())
}

func TestAppendCandidates(t *testing.T) {
	r := parse(t, "CEF:0|V|P|1|2|n|3|request=/a REQUEST=/b request=/c")
	got := r.AppendCandidates(nil, column(t, "RequestURL"))
	want := []Candidate{
		{Value: []byte("/a"), Superseded: true},
		{Value: []byte("/b"), KeyCaseDiffers: true},
		{Value: []byte("/c")},
	}
	assert.Equal(t, want, got)
}

func TestAdditionalExtensions(t *testing.T) {
	r := parse(t, `CEF:0|Check Point|URL Filtering|Check Point|Log|http|Unknown|act=Accept layer_name=Standard originsicname=CN\=gw01,O\=mgmt cs5=x`)
	assert.Equal(t, "layer_name=Standard;originsicname=CN=gw01,O=mgmt", r.AdditionalExtensions())
}

func TestInvalidUTF8Replaced(t *testing.T) {
	r := parse(t, "CEF:0|V|P|1|2|n|3|request=/ui/chk?x=\xff\xfe")
	assert.Equal(t, "/ui/chk?x=\ufffd\ufffd", string(r.Value(column(t, "RequestURL"))))
}

func TestFieldsRecord(t *testing.T) {
	var r Record
	r.ResetFields()
	r.AddField([]byte("RequestMethod"), []byte("GET"))
	r.AddField([]byte("request"), []byte("/ui/chk"))
	r.AddField([]byte("deviceVendor"), []byte("Zscaler"))
	r.AddField([]byte("custom"), []byte("x"))

	assert.Equal(t, -1, r.Version)
	assert.Equal(t, "GET", string(r.Value(column(t, "RequestMethod"))))
	assert.Equal(t, "/ui/chk", string(r.Value(column(t, "RequestURL"))))
	assert.Equal(t, "Zscaler", string(r.Value(column(t, "DeviceVendor"))))
	assert.Equal(t, "custom=x", r.AdditionalExtensions())
}

func TestCutLine(t *testing.T) {
	line, rest := CutLine([]byte("a\nb\nc"))
	assert.Equal(t, "a", string(line))
	assert.Equal(t, "b\nc", string(rest))
	line, rest = CutLine([]byte("c"))
	assert.Equal(t, "c", string(line))
	assert.Nil(t, rest)
}

// TestCorpusColumns checks the parsed columns that corpus cases list. A
// line with a raw line feed is cut as line framing would cut it, and only
// its first line is checked.
func TestCorpusColumns(t *testing.T) {
	cases, err := casefile.Load()
	require.NoError(t, err)

	for _, c := range cases {
		if c.Kind != "cef" || len(c.Columns) == 0 {
			continue
		}
		t.Run(c.ID, func(t *testing.T) {
			line, _ := CutLine(c.Line)
			var r Record
			err := r.ParseLine(line)
			if c.NoRecord() {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			for name, want := range c.Columns {
				assert.Equal(t, fmt.Sprint(want), string(r.Value(column(t, name))), name)
			}
		})
	}
}

func TestCheckHeaderAgreesWithParseLine(t *testing.T) {
	lines := []string{
		"", "CEF:0|V|P|1|2|n|3|a=b", "CEF:0|V|P", `CEF:0|V|P|1|2|n\|x|3`, `CEF:0|V|P|1|2|n\\|3|`,
		"CEF:3|V|P|1|2|n|3|", "no header", prefix + "CEF: 1|V|P|1|2|n|3|", `CEF:0|V|P|1|2|n|3\`,
	}
	for _, line := range lines {
		t.Run(line, func(t *testing.T) {
			var r Record
			assert.Equal(t, r.ParseLine([]byte(line)), CheckHeader([]byte(line)))
		})
	}
}

func TestRawValues(t *testing.T) {
	tests := []struct {
		name string
		line string
		fold bool
		want []string
	}{
		{"one value", "CEF:0|V|P|1|2|n|3|act=a request=/ui/chk?x=1 src=1", false, []string{"/ui/chk?x=1"}},
		{"first key after the header", "CEF:0|V|P|1|2|n|3|request=/a b=c", false, []string{"/a"}},
		{"escaped equals kept raw", `CEF:0|V|P|1|2|n|3|request=/a?m\=1 b=c`, false, []string{`/a?m\=1`}},
		{"duplicates", "CEF:0|V|P|1|2|n|3|request=/a request=/b", false, []string{"/a", "/b"}},
		{"other keys starting alike", "CEF:0|V|P|1|2|n|3|requestMethod=GET requestContext=x", false, nil},
		{"inside another value", "CEF:0|V|P|1|2|n|3|msg=xrequest=/a", false, nil},
		{"case differs, exact", "CEF:0|V|P|1|2|n|3|REQUEST=/a", false, nil},
		{"case differs, folded", "CEF:0|V|P|1|2|n|3|REQUEST=/a request=/b", true, []string{"/b", "/a"}},
		{"empty value", "CEF:0|V|P|1|2|n|3|request= src=1", false, []string{""}},
		{"at the end", "CEF:0|V|P|1|2|n|3|request=", false, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRawValues([]byte(tt.line), "request", tt.fold)
			var got []string
			for v, ok := r.Next(); ok; v, ok = r.Next() {
				got = append(got, string(v))
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// FuzzRawValues checks that every request value ParseLine keeps, in any
// letter case of the key, is inside one of the raw values RawValues finds.
func FuzzRawValues(f *testing.F) {
	f.Add([]byte("CEF:0|V|P|1|2|n|3|request=/a Request=/b x=request=/c"))
	f.Add([]byte(`<1>h CEF:1|V|P|1|2|n\|request=x|3| request=/a\ b=c`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var r Record
		if r.ParseLine(line) != nil {
			return
		}
		var raws []string
		rv := NewRawValues(line, "request", true)
		for v, ok := rv.Next(); ok; v, ok = rv.Next() {
			raws = append(raws, string(v))
		}
		for _, p := range r.Pairs() {
			if !equalFoldASCII(p.Key, "request") {
				continue
			}
			found := false
			for _, raw := range raws {
				// The parser drops the CR of a CRLF line end, and only there.
				for _, candidate := range []string{raw, strings.TrimSuffix(raw, "\r")} {
					var probe Record
					if string(probe.decode([]byte(candidate), true)) == string(p.Value) || utf8Sanitized(candidate) == string(p.Value) {
						found = true
					}
				}
			}
			if !found {
				t.Fatalf("value %q of %q not among raw values %q", p.Value, p.Key, raws)
			}
		}
	})
}

func utf8Sanitized(raw string) string {
	var probe Record
	b := appendValidUTF8(nil, []byte(raw))
	return string(probe.decode(b, true))
}

// TestAfterPipesMatchesNextHeaderPipe checks the word-at-a-time pipe count
// against n calls of the byte loop that ParseLine uses.
func TestAfterPipesMatchesNextHeaderPipe(t *testing.T) {
	lines := []string{
		"CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|act=Allowed",
		`CEF:0|a\|b|c\\|d|e|f|g|k=v`,
		`CEF:0|Fortinet|FortiGate\|VM|7.2|13|traffic:forward|5|x`,
		`CEF:0|a|b|c|d|e\`,
		`CEF:0|a|b|c|d|e`,
		"CEF:0|||||||",
		`CEF:0|\\\\\\\\|\||b|c|d|e|f`,
		"CEF:0|" + strings.Repeat("x", 40) + "|" + strings.Repeat(`y\|`, 9) + "|c|d|e|f|ext",
	}
	for _, line := range lines {
		for n := 1; n <= 8; n++ {
			want := len("CEF:0|")
			for range n {
				if want >= 0 {
					want = nextHeaderPipe([]byte(line), want)
				}
			}
			assert.Equalf(t, want, afterPipes([]byte(line), len("CEF:0|"), n), "%q, n=%d", line, n)
		}
	}
}
