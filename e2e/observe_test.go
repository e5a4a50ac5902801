package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runtimeSecret returns a value made at run time, so that no secret, not
// even a fake one, sits in a fixture.
func runtimeSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "s3cr3t" + hex.EncodeToString(b)
}

// TestEndToEndNoSecretInLog starts each network sink with its secrets set,
// pointed at a loopback port where nothing listens, and checks that no
// secret reaches the log while the started line lists them masked.
func TestEndToEndNoSecretInLog(t *testing.T) {
	input := writeChunkFile(t, "fw.z", hitEntry(time.Unix(1747218067, 0)))
	secret, urlPassword := runtimeSecret(t), runtimeSecret(t)
	tests := []struct {
		name       string
		properties []string
		exitCode   int
		masked     []string
	}{
		{"splunk", []string{"Sink=splunk", "Splunk_URL=http://127.0.0.1:9/", "Splunk_Token=" + secret},
			0, []string{"splunk_token=***", "splunk_url=http://127.0.0.1:9/"}},
		{"splunk url with password rejected", []string{"Sink=splunk", "Splunk_URL=http://hec:" + urlPassword + "@127.0.0.1:9/", "Splunk_Token=" + secret},
			255, []string{"invalid Splunk_URL"}},
		{"elasticsearch basic", []string{"Sink=elasticsearch", "ES_URL=http://127.0.0.1:9", "ES_Username=elastic", "ES_Password=" + secret},
			0, []string{"es_password=***", "es_username=elastic"}},
		{"elasticsearch url with password", []string{"Sink=elasticsearch", "ES_URL=http://elastic:" + urlPassword + "@127.0.0.1:9", "ES_API_Key=" + secret},
			-1, nil},
		{"elasticsearch api key", []string{"Sink=elasticsearch", "ES_URL=http://127.0.0.1:9", "ES_API_Key=" + secret},
			0, []string{"es_api_key=***"}},
		{"forward", []string{"Sink=forward", "Forward_Address=127.0.0.1:9", "Forward_Shared_Key=" + secret,
			"Forward_Username=relay", "Forward_Password=" + urlPassword},
			0, []string{"forward_shared_key=***", "forward_password=***", "forward_username=relay"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"-p", "Shutdown_Timeout=0", "-p", "Delivery_Retry_Max_Wait=1s"}
			for _, p := range tt.properties {
				args = append(args, "-p", p)
			}
			run := runHost(t, args, input)
			if tt.exitCode >= 0 {
				require.Equal(t, tt.exitCode, run.exitCode, run.stderr)
			}

			assert.NotContains(t, run.stderr, secret)
			assert.NotContains(t, run.stderr, urlPassword)
			assert.NotContains(t, run.stdout, secret)
			for _, want := range tt.masked {
				assert.Contains(t, run.stderr, want)
			}
		})
	}
}

// TestEndToEndObserveConfigErrors checks that a bad Stats_Interval or
// Metrics_Listen stops start-up with a line that names the key and the value.
func TestEndToEndObserveConfigErrors(t *testing.T) {
	input := writeChunkFile(t, "fw.z", hitEntry(time.Unix(1747218067, 0)))
	tests := []struct {
		name, property, message string
	}{
		{"negative interval", "Stats_Interval=-1s", "invalid Stats_Interval -1s"},
		{"listen without host", "Metrics_Listen=:2021", `invalid Metrics_Listen \":2021\": the host is missing`},
		{"listen without port", "Metrics_Listen=127.0.0.1", `invalid Metrics_Listen \"127.0.0.1\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := runHost(t, []string{"-p", tt.property}, input)
			assert.Equal(t, 255, run.exitCode)
			assert.Contains(t, run.stderr, "[error] [output:runningrat:runningrat.0] invalid configuration")
			assert.Contains(t, run.stderr, tt.message)
		})
	}
}
