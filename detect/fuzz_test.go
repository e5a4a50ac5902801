package detect

import (
	"regexp"
	"strings"
	"testing"

	"github.com/edgehunt/runningrat/cef"
	"github.com/edgehunt/runningrat/internal/casefile"
)

// termRegexp is a second, independent formulation of the term match: the
// needle with each ASCII letter as a two-case class (so no Unicode folding
// sneaks in) and, at each alphanumeric edge, a non-alphanumeric neighbour or
// the end of the text.
func termRegexp(needle string) *regexp.Regexp {
	var b strings.Builder
	if isTermChar(needle[0]) {
		b.WriteString(`(?:^|[^A-Za-z0-9])`)
	}
	for i := range len(needle) {
		c := needle[i]
		if 'a' <= lowerASCII(c) && lowerASCII(c) <= 'z' {
			b.WriteString("[" + string(lowerASCII(c)) + string(lowerASCII(c)-'a'+'A') + "]")
		} else {
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	if isTermChar(needle[len(needle)-1]) {
		b.WriteString(`(?:$|[^A-Za-z0-9])`)
	}
	return regexp.MustCompile(b.String())
}

// FuzzTermMatch compares the matcher with termRegexp on arbitrary values.
func FuzzTermMatch(f *testing.F) {
	for _, s := range []string{"/ui/chk", "x/UI/CHK2", "?mactok=1", "xmactok=", "_kMnD=", "ilocalp", "usrnme=usrnme="} {
		f.Add(s)
	}
	needles := RunningRAT.Where[1].Values
	var patterns []*regexp.Regexp
	for _, n := range needles {
		patterns = append(patterns, termRegexp(n))
	}
	m := newTermMatcher(needles)

	f.Fuzz(func(t *testing.T, value string) {
		for i, n := range needles {
			single := newTermMatcher([]string{n})
			if got, want := single.matchAny([]byte(value)), patterns[i].MatchString(value); got != want {
				t.Fatalf("%q has %q: matcher %v, regexp %v", value, n, got, want)
			}
		}
		if m.matchAny([]byte(value)) && !compileRunningRATOnce().conditions[1].exactScan.mayMatch([]byte(value)) {
			t.Fatalf("prefilter rejects %q, which matches", value)
		}
	})
}

var compiledForFuzz *Compiled

func compileRunningRATOnce() *Compiled {
	if compiledForFuzz == nil {
		c, err := Compile(&RunningRAT)
		if err != nil {
			panic(err)
		}
		compiledForFuzz = c
	}
	return compiledForFuzz
}

// FuzzPrefilter checks the promise of MayMatch on whole lines: whenever
// parsing and evaluating a line raises an alert, in either mode, MayMatch
// lets the line through. The seeds are the corpus lines; the fuzzer mutates
// their escapes, encodings, keys and framing.
func FuzzPrefilter(f *testing.F) {
	cases, err := casefile.Load()
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		if c.Kind == "cef" {
			f.Add(c.Line)
		}
	}
	rule := compileRunningRATOnce()

	f.Fuzz(func(t *testing.T, line []byte) {
		var rec cef.Record
		if rec.ParseLine(line) != nil {
			return
		}
		var m Match
		for _, mode := range []Mode{Exact, Extended} {
			if rule.Evaluate(&rec, mode, &m) != NoMatch && !rule.MayMatch(line, mode) {
				t.Fatalf("MayMatch rejects %q in %s mode, which alerts", line, mode)
			}
		}
	})
}
