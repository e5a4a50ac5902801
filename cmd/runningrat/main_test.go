package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExitStatus(t *testing.T) {
	benign := filepath.Join(t.TempDir(), "benign.log")
	require.NoError(t, os.WriteFile(benign, []byte("CEF:0|V|P|1|2|n|3|requestMethod=GET request=/ok\n"), 0o600))

	tests := []struct {
		name string
		args []string
		want int
	}{
		{"alerts found", []string{"hunt", "-summary", "none", "../../testdata/samples"}, exitAlerts},
		{"no alert", []string{"hunt", "-summary", "none", benign}, exitNoAlerts},
		{"missing path", []string{"hunt", "no/such/path"}, exitError},
		{"no path", []string{"hunt"}, exitError},
		{"bad mode", []string{"hunt", "-mode", "fuzzy", benign}, exitError},
		{"no subcommand", nil, exitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, tt.want, run(tt.args, &stdout, &stderr), stderr.String())
		})
	}
}

func TestSummaryJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitAlerts, run([]string{"hunt", "-summary", "json", "-mode", "exact", "../../testdata/samples"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), `"alerts_by_verdict":{"exact":6}`)
	assert.Contains(t, stderr.String(), `"records":20`)
}

func TestTestRules(t *testing.T) {
	var stdout, stderr bytes.Buffer
	assert.Equal(t, exitNoAlerts, run([]string{"test-rules", "../../rules/builtin/runningrat.yaml"}, &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "10 checks passed, 0 failed")

	broken := filepath.Join(t.TempDir(), "broken.yaml")
	require.NoError(t, os.WriteFile(broken, []byte("id: x\nname: y\nquery: CommonSecurityLog | where RequestMethod == 'GET'\ntests:\n  - name: t\n    fields: {RequestMethod: POST}\n    exact: true\n"), 0o600))
	stdout.Reset()
	assert.Equal(t, exitAlerts, run([]string{"test-rules", broken}, &stdout, &stderr))
	assert.Contains(t, stdout.String(), "FAIL")
}

func TestHelpExitsZero(t *testing.T) {
	tests := [][]string{{"-h"}, {"--help"}, {"hunt", "-h"}, {"test-rules", "-h"}}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			assert.Equal(t, exitNoAlerts, run(args, &stdout, &stderr))
			assert.Contains(t, stdout.String()+stderr.String(), "usage: runningrat")
		})
	}
}

func TestModeFlagLeavesSettingsAlone(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitAlerts, run([]string{"hunt", "-summary", "json", "-p", "detection_mode=exact", "../../testdata/samples"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), `"alerts_by_verdict":{"exact":6}`, "-p applies without -mode")

	stdout.Reset()
	stderr.Reset()
	require.Equal(t, exitAlerts, run([]string{"hunt", "-summary", "json", "-mode", "extended", "-p", "detection_mode=exact", "../../testdata/samples"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), `"exact":6`)
	assert.Contains(t, stderr.String(), `"extended":4`, "-mode wins over -p")

	assert.Equal(t, exitError, run([]string{"hunt", "-p", "detection_mode=bogus", "../../testdata/samples"}, &stdout, &stderr))
}

func TestHuntRejectsUnknownSetting(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"hunt", "-p", "Detecton_Mode=exact", "-p", "Sink=stdout", "../../testdata/samples"}, &stdout, &stderr)

	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr.String(), "unknown setting -p Detecton_Mode (did you mean Detection_Mode?)")
	assert.Empty(t, stdout.String(), "no alert from a run that never started")

}

func TestHuntIgnoresFluentBitKeys(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"hunt", "-summary", "none", "-p", "Workers=4", "-p", "Match=fw.*", "../../testdata/samples"}, &stdout, &stderr)

	assert.Equal(t, exitAlerts, code)
	assert.Contains(t, stderr.String(), "-p Workers is a Fluent Bit output key, which the hunt ignores")
	assert.Contains(t, stderr.String(), "-p Match is a Fluent Bit output key")
}

func TestHuntBadSettingPrintsNoSummary(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"hunt", "-p", "Spool_Sync=always", "../../testdata/samples"}, &stdout, &stderr)

	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr.String(), `invalid Spool_Sync "always"`)
	assert.NotContains(t, stderr.String(), "files read")
}
