package elasticsearch

import (
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/internal/testkit"
)

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(config.Map{"ES_URL": "http://127.0.0.1:9200/"}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	require.Len(t, c.URLs, 1)
	assert.Equal(t, "http://127.0.0.1:9200", c.URLs[0].String())
	assert.Equal(t, "logs-runningrat.alert-default", c.Index)
	assert.Equal(t, 500, c.BatchSize)
	assert.Equal(t, int64(5<<20), c.MaxRequestSize)
	assert.Equal(t, 10*time.Second, c.Timeout)
	assert.Nil(t, c.TLS)
	assert.Empty(t, c.Pipeline)
	assert.Equal(t, "none", c.authKind())
}

func TestLoadConfigValues(t *testing.T) {
	c, err := LoadConfig(config.Map{
		"ES_URL":              " https://127.0.0.1:9200 , https://127.0.0.1:9201/es ",
		"ES_Index":            "runningrat-alerts",
		"ES_Pipeline":         "enrich",
		"ES_API_Key":          "keyid:secret",
		"ES_Batch_Size":       "100",
		"ES_Max_Request_Size": "1M",
		"Sink_Timeout":        "3s",
	}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	require.Len(t, c.URLs, 2)
	assert.Equal(t, "https://127.0.0.1:9201/es", c.URLs[1].String())
	assert.Equal(t, "runningrat-alerts", c.Index)
	assert.Equal(t, "enrich", c.Pipeline)
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("keyid:secret")), c.APIKey, "id:key is encoded")
	assert.Equal(t, 100, c.BatchSize)
	assert.Equal(t, int64(1<<20), c.MaxRequestSize)
	assert.Equal(t, 3*time.Second, c.Timeout)
	assert.NotNil(t, c.TLS, "https turns Sink_TLS on")
}

func TestLoadConfigErrors(t *testing.T) {
	const secret = "Sup3r-secret"
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	tests := []struct {
		name string
		keys config.Map
		want string
	}{
		{"no URL", config.Map{}, "Sink elasticsearch needs ES_URL"},
		{"only commas", config.Map{"ES_URL": " , "}, "it names no URL"},
		{"no scheme", config.Map{"ES_URL": "127.0.0.1:9200"}, "use an http:// or https:// URL"},
		{"other scheme", config.Map{"ES_URL": "ftp://127.0.0.1"}, "invalid ES_URL ftp://127.0.0.1: use an http:// or https:// URL"},
		{"no host", config.Map{"ES_URL": "http:///x"}, "the host is missing"},
		{"query", config.Map{"ES_URL": "http://127.0.0.1:9200/?pipeline=x"}, "remove the query or fragment"},
		{"credentials in URL", config.Map{"ES_URL": "https://elastic:" + secret + "@127.0.0.1:9200"}, "ES_URL https://127.0.0.1:9200 contains a user name or password"},
		{"mixed schemes", config.Map{"ES_URL": "http://127.0.0.1:9200,https://127.0.0.1:9201"}, "mixes http and https"},
		{"uppercase index", config.Map{"ES_URL": "http://127.0.0.1", "ES_Index": "Alerts"}, `invalid ES_Index "Alerts": it must be lowercase`},
		{"index with space", config.Map{"ES_URL": "http://127.0.0.1", "ES_Index": "my alerts"}, "must not contain"},
		{"index with underscore", config.Map{"ES_URL": "http://127.0.0.1", "ES_Index": "_alerts"}, "must not start with"},
		{"basic and API key", config.Map{"ES_URL": "http://127.0.0.1", "ES_Username": "u", "ES_Password": secret, "ES_API_Key": secret}, "both ES_Username/ES_Password and ES_API_Key are set"},
		{"password alone", config.Map{"ES_URL": "http://127.0.0.1", "ES_Password": secret}, "ES_Password is set without ES_Username"},
		{"user alone", config.Map{"ES_URL": "http://127.0.0.1", "ES_Username": "u"}, "ES_Username is set without ES_Password"},
		{"batch size zero", config.Map{"ES_URL": "http://127.0.0.1", "ES_Batch_Size": "0"}, `invalid ES_Batch_Size "0": use a whole number above zero`},
		{"batch size text", config.Map{"ES_URL": "http://127.0.0.1", "ES_Batch_Size": "many"}, `invalid ES_Batch_Size "many"`},
		{"request size zero", config.Map{"ES_URL": "http://127.0.0.1", "ES_Max_Request_Size": "0"}, "invalid ES_Max_Request_Size"},
		{"request size text", config.Map{"ES_URL": "http://127.0.0.1", "ES_Max_Request_Size": "big"}, "invalid ES_Max_Request_Size"},
		{"timeout", config.Map{"ES_URL": "http://127.0.0.1", "Sink_Timeout": "-1s"}, "invalid Sink_Timeout"},
		{"TLS on http", config.Map{"ES_URL": "http://127.0.0.1", "Sink_TLS": "on"}, "Sink_TLS is on but ES_URL http://127.0.0.1 uses http"},
		{"TLS off on https", config.Map{"ES_URL": "https://127.0.0.1", "Sink_TLS": "off"}, "Sink_TLS is off but ES_URL https://127.0.0.1 uses https"},
		{"bad CA file", config.Map{"ES_URL": "https://127.0.0.1", "Sink_TLS_CA_File": notPEM}, "contains no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig(tt.keys, slog.New(slog.DiscardHandler))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

func TestLoadConfigWarnsWhenVerifyOff(t *testing.T) {
	logs := &testkit.LogBuffer{}
	_, err := LoadConfig(config.Map{"ES_URL": "https://127.0.0.1", "Sink_TLS_Verify": "off"}, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "Sink_TLS_Verify is off")
}

func TestStartupLogHidesSecrets(t *testing.T) {
	_, logs, err := buildSink("http://127.0.0.1:9", config.Map{"ES_Username": "writer", "ES_Password": "hunter2-secret"}, "")
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "Elasticsearch sink ready")
	assert.Contains(t, logs.String(), "basic (user writer)")
	assert.NotContains(t, logs.String(), "hunter2-secret")
}
