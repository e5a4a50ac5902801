package rules

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/detect"
)

// FuzzParse checks that no rule file makes the YAML reader, the KQL
// compiler or the compiled rule panic: each input either fails with an error
// or compiles and runs the shipped rule's test events.
func FuzzParse(f *testing.F) {
	builtinRule, err := builtin.ReadFile("builtin/runningrat.yaml")
	require.NoError(f, err)
	shaped, err := os.ReadFile("testdata/cloud-drive-c2.yaml")
	require.NoError(f, err)
	f.Add(builtinRule)
	f.Add(shaped)
	for _, query := range []string{
		`let x = dynamic([@'c:\path', @'it''s']); CommonSecurityLog | where RequestURL has_any (x)`,
		"CommonSecurityLog | where not(RequestMethod =~ 'get') or (RequestURL matches regex '^/a+$' and isnotempty(SourceIP))",
		"let a = dynamic(['x']); CommonSecurityLog | where tolower(RequestURL) == tostring(a[0]) | project SourceIP",
		"CommonSecurityLog | where RequestURL !in~ ('a', 'b') and DeviceVendor has_all ('x', 'y')",
	} {
		f.Add([]byte("id: fuzz\nname: fuzz\nquery: |\n  " + query + "\n"))
	}
	tests, err := ParseTests(builtinRule, "runningrat.yaml")
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, data []byte) {
		rule, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		compiled, err := detect.Compile(&rule)
		if err != nil {
			return
		}
		_, err = RunTests(compiled, tests)
		require.NoError(t, err)
	})
}
