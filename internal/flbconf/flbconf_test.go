package flbconf

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keys returns the keys of a section's properties, in order.
func keys(s Section) []string {
	var out []string
	for _, p := range s.Properties {
		out = append(out, p.Key)
	}
	return out
}

func TestOutputsCommandLine(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want [][]string
	}{
		{
			name: "short options",
			args: []string{"fluent-bit", "-e", "./out_runningrat.so", "-i", "dummy", "-p", "rate=5",
				"-o", "runningrat", "-m", "*", "-p", "sink=stdout", "-p", "Detection_Mod=exact"},
			want: [][]string{{"sink", "Detection_Mod"}},
		},
		{
			name: "long options and attached values",
			args: []string{"fluent-bit", "--output=runningrat", "--prop", "Sink=file", "-pPath=/tmp/a.json"},
			want: [][]string{{"Sink", "Path"}},
		},
		{
			name: "name compared without case",
			args: []string{"fluent-bit", "-o", "RunningRAT", "-p", "sink=stdout"},
			want: [][]string{{"sink"}},
		},
		{
			name: "other plugins' properties ignored",
			args: []string{"fluent-bit", "-o", "stdout", "-p", "format=json", "-F", "grep", "-p", "regex=log x",
				"-o", "runningrat", "-p", "sink=stdout", "-i", "cpu", "-p", "interval_sec=1"},
			want: [][]string{{"sink"}},
		},
		{
			name: "property without equals sign ignored",
			args: []string{"fluent-bit", "-o", "runningrat", "-p", "sink"},
			want: [][]string{{}},
		},
		{
			name: "option value that looks like the plugin",
			args: []string{"fluent-bit", "-t", "runningrat", "-o", "null"},
			want: nil,
		},
		{
			name: "host without Fluent Bit options",
			args: []string{"flbhost", "-p", "sink=stdout", "out_runningrat.so", "chunks.bin"},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sections, err := Outputs(tt.args, "runningrat")
			require.NoError(t, err)
			require.Len(t, sections, len(tt.want))
			for i, want := range tt.want {
				assert.Equal(t, "command line", sections[i].Source)
				if len(want) == 0 {
					assert.Empty(t, sections[i].Properties)
					continue
				}
				assert.Equal(t, want, keys(sections[i]))
			}
		})
	}
}

func TestOutputsClassicFile(t *testing.T) {
	path := filepath.Join("testdata", "classic.conf")

	sections, err := Outputs([]string{"fluent-bit", "-c", path}, "runningrat")
	require.NoError(t, err)
	require.Len(t, sections, 2)

	assert.Equal(t, path+":12", sections[0].Source)
	assert.Equal(t, []string{"Match", "Sink", "Path", "Detecton_Mode"}, keys(sections[0]))
	assert.Equal(t, path+":16", sections[0].Properties[3].Source)
	assert.Equal(t, "/var/lib/alerts.json", sections[0].Properties[2].Value)

	included := filepath.Join("testdata", "conf.d", "splunk.conf")
	assert.Equal(t, included+":1", sections[1].Source)
	assert.Equal(t, []string{"Match", "Sink", "Splunk_URL", "Splunk_Tokn", "net.keepalive", "tls.verify"}, keys(sections[1]))
	assert.Equal(t, "${SPLUNK_TOKEN}", sections[1].Properties[3].Value)
}

func TestOutputsCommandLineBeforeFile(t *testing.T) {
	args := []string{"fluent-bit", "--config", filepath.Join("testdata", "classic.conf"), "-o", "runningrat", "-p", "sink=stdout"}

	sections, err := Outputs(args, "runningrat")
	require.NoError(t, err)
	require.Len(t, sections, 3)
	assert.Equal(t, "command line", sections[0].Source)
	assert.Equal(t, []string{"sink"}, keys(sections[0]))
}

func TestOutputsYAMLFile(t *testing.T) {
	path := filepath.Join("testdata", "pipeline.yaml")

	sections, err := Outputs([]string{"fluent-bit", "-c", path}, "runningrat")
	require.NoError(t, err)
	require.Len(t, sections, 2)

	included := filepath.Join("testdata", "conf.d", "outputs.yaml")
	assert.Equal(t, included+":3", sections[0].Source, "the included file's outputs come first")
	assert.Equal(t, []string{"match", "sink", "path"}, keys(sections[0]))

	assert.Equal(t, path+":9", sections[1].Source)
	assert.Equal(t, []string{"match", "sink", "workers", "suppress_windw"}, keys(sections[1]), "processors is Fluent Bit's own")
	assert.Equal(t, path+":13", sections[1].Properties[3].Source)
}

func TestOutputsErrors(t *testing.T) {
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop.conf")
	require.NoError(t, os.WriteFile(loop, []byte("@INCLUDE loop.conf\n"), 0o600))
	badYAML := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(badYAML, []byte("pipeline: [\n"), 0o600))

	tests := []struct {
		name string
		path string
	}{
		{"missing file", filepath.Join(dir, "missing.conf")},
		{"include loop", loop},
		{"invalid YAML", badYAML},
		{"not a regular file", os.DevNull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sections, err := Outputs([]string{"fluent-bit", "-c", tt.path, "-o", "runningrat", "-p", "sink=stdout"}, "runningrat")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.path)
			assert.Len(t, sections, 1, "the command line's sections are still returned")
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	known := []string{"Sink", "Path", "Detection_Mode", "Splunk_Token", "Suppress_Window", "Spool_Dir", "Spool_Name"}
	section := Section{Properties: []Property{
		{Key: "sink"}, {Key: "Match"}, {Key: "MATCH_REGEX"}, {Key: "Workers"}, {Key: "storage.total_limit_size"},
		{Key: "tls.verify"}, {Key: "net.keepalive"}, {Key: "oauth2.token_url"},
		{Key: "Detecton_Mode"}, {Key: "SplunkToken"}, {Key: "splunk-token"}, {Key: "Mach"},
		{Key: "Spool_Nam"}, {Key: "Colour"},
	}}

	unknown := section.UnknownKeys(known)

	got := map[string]string{}
	for _, u := range unknown {
		got[u.Key] = u.Suggestion
	}
	assert.Equal(t, map[string]string{
		"Detecton_Mode": "Detection_Mode",
		"SplunkToken":   "Splunk_Token",
		"splunk-token":  "Splunk_Token",
		"Mach":          "Match",
		"Spool_Nam":     "Spool_Name",
		"Colour":        "",
	}, got)
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"sink", "sink", 0},
		{"sink", "", 4},
		{"detectonmode", "detectionmode", 1},
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		t.Run(tt.a+"_"+tt.b, func(t *testing.T) {
			assert.Equal(t, tt.want, editDistance(tt.a, tt.b))
			assert.Equal(t, tt.want, editDistance(tt.b, tt.a))
		})
	}
}

// FuzzReadFile checks that no file content makes the readers fail other than
// with an error.
func FuzzReadFile(f *testing.F) {
	for _, name := range []string{"classic.conf", "pipeline.yaml", "conf.d/splunk.conf", "conf.d/outputs.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(data, filepath.Ext(name) == ".yaml")
	}

	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, yaml bool) {
		if bytes.Contains(bytes.ToLower(data), []byte("include")) {
			t.Skip("an include could name any file of this machine, such as a FIFO")
		}
		path := filepath.Join(dir, "fuzz.conf")
		if yaml {
			path = filepath.Join(dir, "fuzz.yaml")
		}
		require.NoError(t, os.WriteFile(path, data, 0o600))

		sections, err := Outputs([]string{"fluent-bit", "-c", path}, "runningrat")
		if err != nil {
			return
		}
		for _, s := range sections {
			s.UnknownKeys([]string{"Sink"})
		}
	})
}

func TestClassicIncludeKeepsSectionPerFile(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "main.conf")
	require.NoError(t, os.WriteFile(main, []byte("[OUTPUT]\n    Name runningrat\n@INCLUDE more.conf\n    Sink stdout\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "more.conf"), []byte("    Orphan x\n[OUTPUT]\n    Name null\n"), 0o600))

	sections, err := Outputs([]string{"fluent-bit", "-c", main}, "runningrat")

	require.NoError(t, err)
	require.Len(t, sections, 1)
	assert.Equal(t, []string{"Sink"}, keys(sections[0]), "the key after @INCLUDE stays in main.conf's section")
}
