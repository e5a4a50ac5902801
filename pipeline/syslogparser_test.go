package pipeline

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/chunk"
	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/internal/casefile"
)

// syslogParsers are regular expressions that split a line as Fluent Bit
// v5.1.1's syslog parsers of the same names do. syslog-rfc3164 drops
// everything up to the first ':' after the ident, which takes the "CEF:" of
// "host CEF:0|..." and the "- - CEF:" of an RFC 5424 line with it.
var syslogParsers = map[string]*regexp.Regexp{
	"syslog-rfc3164":       regexp.MustCompile(`^<(?P<pri>[0-9]+)>(?P<time>[^ ]* {1,2}[^ ]* [^ ]*) (?P<host>[^ ]*) (?P<ident>[a-zA-Z0-9_/.-]*)(?:\[(?P<pid>[0-9]+)\])?(?:[^:]*:)? *(?P<message>.*)$`),
	"syslog-rfc3164-local": regexp.MustCompile(`^<(?P<pri>[0-9]+)>(?P<time>[^ ]* {1,2}[^ ]* [^ ]*) (?P<ident>[a-zA-Z0-9_/.-]*)(?:\[(?P<pid>[0-9]+)\])?(?:[^:]*:)? *(?P<message>.*)$`),
	"syslog-rfc5424":       regexp.MustCompile(`^<(?P<pri>[0-9]{1,5})>1 (?P<time>[^ ]+) (?P<host>[^ ]+) (?P<ident>[^ ]+) (?P<pid>[-0-9]+) (?P<msgid>[^ ]+) (?P<extradata>(\[(.*?)\]|-)) (?P<message>.+)$`),
}

// parseSyslog returns the record that parser makes of line, with the
// groups that took part in the match, or false when it does not match and
// in_syslog would drop the line.
func parseSyslog(parser *regexp.Regexp, line []byte) (keys, values []string, ok bool) {
	match := parser.FindSubmatchIndex(line)
	if match == nil {
		return nil, nil, false
	}
	for i, name := range parser.SubexpNames() {
		if name == "" || match[2*i] < 0 {
			continue
		}
		keys = append(keys, name)
		values = append(values, string(line[match[2*i]:match[2*i+1]]))
	}
	return keys, values, true
}

// TestCorpusThroughSyslogParsers sends each raw line of the corpus through
// the syslog parsers, as in_syslog or a tail input with Parser would, and
// expects the verdict of the raw line for every line that a parser keeps.
func TestCorpusThroughSyslogParsers(t *testing.T) {
	cases, err := casefile.Load()
	require.NoError(t, err)

	for name, parser := range syslogParsers {
		for _, mode := range []string{"exact", "extended"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				out, s, _ := newOutput(t, config.Map{"Detection_Mode": mode})
				want := map[string]bool{}
				for _, c := range cases {
					if c.Kind != "cef" {
						continue
					}
					keys, values, ok := parseSyslog(parser, c.Line)
					if !ok {
						continue
					}
					want[c.ID] = c.Extended
					if mode == "exact" {
						want[c.ID] = c.Exact
					}
					require.Equal(t, OK, out.Flush(chunk.Encoder{}.Append(nil, when, keys, values), c.ID))
				}
				waitDelivered(t, out)

				got := map[string]int{}
				for _, a := range s.sent() {
					got[a.FluentBit.Tag]++
				}
				for id, alert := range want {
					if alert {
						assert.Equal(t, 1, got[id], "case %s", id)
					} else {
						assert.Zero(t, got[id], "case %s", id)
					}
				}
				t.Logf("%d corpus lines parsed", len(want))
			})
		}
	}
}
