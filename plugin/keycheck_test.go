package plugin

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/internal/flblog"
)

// withArgs makes checkKeyNames read args as the process's command line.
func withArgs(t *testing.T, args ...string) {
	t.Helper()
	saved := processArgs
	processArgs = func() []string { return args }
	t.Cleanup(func() { processArgs = saved })
}

// writeConfig writes a classic Fluent Bit file with two runningrat outputs.
func writeConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fluent-bit.conf")
	conf := `[INPUT]
    Name tail
    Path /var/log/cef.log

[OUTPUT]
    Name           runningrat
    Match          *
    Sink           stdout
    Workers        2
    Detecton_Mode  exact

[OUTPUT]
    Name           runningrat
    Match          fw.*
    Sink           file
    Path           /var/lib/alerts.json
    Splunk_Token   ${HEC_TOKEN}
`
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	return path
}

func TestCheckKeyNames(t *testing.T) {
	path := writeConfig(t)
	withArgs(t, "/usr/bin/fluent-bit", "-e", "out_runningrat.so", "-c", path)

	tests := []struct {
		name     string
		index    int
		settings config.Map
		wantErr  string
		wantLog  []string
		noLog    bool
	}{
		{
			name:     "misspelt key is an error",
			index:    0,
			settings: config.Map{"Sink": "stdout", "Detecton_Mode": "exact"},
			wantErr:  "unknown configuration keys",
			wantLog:  []string{"[error]", "unknown configuration key key=Detecton_Mode", "at=" + path + ":10", "did_you_mean=Detection_Mode"},
		},
		{
			name:     "warn starts anyway",
			index:    0,
			settings: config.Map{"Sink": "stdout", "Unknown_Keys": "warn"},
			wantLog:  []string{"[ warn]", "key=Detecton_Mode"},
		},
		{
			name:     "second section is clean",
			index:    1,
			settings: config.Map{"Sink": "file", "Path": "/var/lib/alerts.json", "Splunk_Token": "expanded by Fluent Bit"},
			noLog:    true,
		},
		{
			name:     "values differ so the section is not this instance's",
			index:    0,
			settings: config.Map{"Sink": "file"},
			wantLog:  []string{"key names not checked"},
		},
		{
			name:     "more instances than sections",
			index:    2,
			settings: config.Map{"Sink": "stdout"},
			wantLog:  []string{"key names not checked"},
		},
		{
			name:     "invalid Unknown_Keys",
			index:    1,
			settings: config.Map{"Sink": "file", "Path": "/var/lib/alerts.json", "Unknown_Keys": "ignore"},
			wantErr:  `invalid Unknown_Keys "ignore": use error or warn`,
			noLog:    true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(flblog.New(&buf, "output:runningrat:test", slog.LevelInfo))

			err := checkKeyNames(tt.index, tt.settings, log)

			if tt.wantErr == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tt.wantErr)
			}
			if tt.noLog {
				assert.Empty(t, buf.String())
			}
			for _, want := range tt.wantLog {
				assert.Contains(t, buf.String(), want)
			}
		})
	}
}

func TestCheckKeyNamesCommandLine(t *testing.T) {
	withArgs(t, "fluent-bit", "-e", "out_runningrat.so", "-i", "dummy", "-o", "runningrat", "-m", "*",
		"-p", "sink=stdout", "-p", "Suppress_Windw=5m")
	var buf bytes.Buffer
	log := slog.New(flblog.New(&buf, "output:runningrat:test", slog.LevelInfo))

	err := checkKeyNames(0, config.Map{"sink": "stdout"}, log)

	assert.Error(t, err)
	assert.Contains(t, buf.String(), "key=Suppress_Windw at=\"command line\" did_you_mean=Suppress_Window")
}

func TestCheckKeyNamesOutsideFluentBit(t *testing.T) {
	withArgs(t, "flbhost", "-p", "Sinkk=stdout", "out_runningrat.so", "chunks.bin")
	var buf bytes.Buffer
	log := slog.New(flblog.New(&buf, "output:runningrat:test", slog.LevelInfo))

	assert.NoError(t, checkKeyNames(0, config.Map{}, log))
	assert.Contains(t, buf.String(), "key names not checked")
	assert.NotContains(t, buf.String(), "Sinkk", "flbhost's -p keys are not Fluent Bit's")
}
