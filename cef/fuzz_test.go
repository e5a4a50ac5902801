package cef

import (
	"testing"
	"unicode/utf8"

	"github.com/edgehunt/runningrat/internal/casefile"
)

// FuzzParseLine checks that any line parses without panicking, that
// CheckHeader agrees with ParseLine, and that every value is valid UTF-8.
func FuzzParseLine(f *testing.F) {
	cases, err := casefile.Load()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		if c.Kind == "cef" {
			f.Add(c.Line)
		}
	}
	f.Add([]byte(`CEF:0|a\|b|c\\|d|e|f|g|k=v\=w\\x\ny k2=`))

	f.Fuzz(func(t *testing.T, line []byte) {
		var r Record
		err := r.ParseLine(line)
		if check := CheckHeader(line); check != err {
			t.Fatalf("CheckHeader = %v, ParseLine = %v", check, err)
		}
		if err != nil {
			if len(r.Pairs()) != 0 {
				t.Fatal("a failed parse left pairs behind")
			}
			return
		}
		for _, p := range r.Pairs() {
			if len(p.Key) == 0 {
				t.Fatal("empty key")
			}
			if !utf8.Valid(p.Value) {
				t.Fatalf("value %q of %q is not valid UTF-8", p.Value, p.Key)
			}
		}
		for _, c := range Columns() {
			r.Value(c)
		}
		r.AdditionalExtensions()
	})
}
