package splunk

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
)

const testToken = "config-test-token"

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  config.Map
		want string
	}{
		{"URL missing", config.Map{"Splunk_Token": testToken}, "Sink splunk needs Splunk_URL"},
		{"URL scheme", config.Map{"Splunk_URL": "ftp://splunk:8088", "Splunk_Token": testToken}, "use an http or https URL"},
		{"URL without host", config.Map{"Splunk_URL": "https:///services", "Splunk_Token": testToken}, "names no host"},
		{"URL with password", config.Map{"Splunk_URL": "https://admin:hunter2@splunk:8088", "Splunk_Token": testToken}, "contains a user name or password"},
		{"URL with query", config.Map{"Splunk_URL": "https://splunk:8088/?token=abc", "Splunk_Token": testToken}, "remove the query string"},
		{"URL of raw endpoint", config.Map{"Splunk_URL": "https://splunk:8088/services/collector/raw", "Splunk_Token": testToken}, "raw endpoint"},
		{"token missing", config.Map{"Splunk_URL": "https://splunk:8088"}, "missing HEC token"},
		{"token and env both set", config.Map{"Splunk_URL": "https://splunk:8088", "Splunk_Token": testToken, "Splunk_Token_Env": "X"}, "keep only one"},
		{"token env unset", config.Map{"Splunk_URL": "https://splunk:8088", "Splunk_Token_Env": "RUNNINGRAT_TEST_UNSET_TOKEN"}, "RUNNINGRAT_TEST_UNSET_TOKEN named by Splunk_Token_Env is unset or empty"},
		{"token with line break", config.Map{"Splunk_URL": "https://splunk:8088", "Splunk_Token": "ab\ncd"}, "line break"},
		{"batch size zero", config.Map{"Splunk_URL": "https://splunk:8088", "Splunk_Token": testToken, "Splunk_Batch_Size": "0"}, `invalid Splunk_Batch_Size "0"`},
		{"batch size not a number", config.Map{"Splunk_URL": "https://splunk:8088", "Splunk_Token": testToken, "Splunk_Batch_Size": "many"}, `invalid Splunk_Batch_Size "many"`},
		{"ack not a switch", config.Map{"Splunk_URL": "https://splunk:8088", "Splunk_Token": testToken, "Splunk_Ack": "maybe"}, `invalid Splunk_Ack "maybe"`},
		{"ack timeout zero", config.Map{"Splunk_URL": "https://splunk:8088", "Splunk_Token": testToken, "Splunk_Ack_Timeout": "0"}, "invalid Splunk_Ack_Timeout"},
		{"channel not a GUID", config.Map{"Splunk_URL": "https://splunk:8088", "Splunk_Token": testToken, "Splunk_Channel": "alerts"}, `invalid Splunk_Channel "alerts"`},
		{"https with TLS off", config.Map{"Splunk_URL": "https://splunk:8088", "Splunk_Token": testToken, "Sink_TLS": "off"}, "Sink_TLS is off but Splunk_URL starts with https"},
		{"http with TLS on", config.Map{"Splunk_URL": "http://splunk:8088", "Splunk_Token": testToken, "Sink_TLS": "on"}, "Sink_TLS is on but Splunk_URL starts with http"},
		{"timeout negative", config.Map{"Splunk_URL": "https://splunk:8088", "Splunk_Token": testToken, "Sink_Timeout": "-1s"}, "invalid Sink_Timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadSettings(tc.cfg, slog.New(slog.DiscardHandler))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), testToken)
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	s, err := loadSettings(config.Map{"Splunk_URL": "https://splunk.example.com:8088", "Splunk_Token": testToken}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	assert.Equal(t, "https://splunk.example.com:8088/services/collector/event", s.eventURL)
	assert.Equal(t, "https://splunk.example.com:8088/services/collector/ack", s.ackURL)
	assert.Equal(t, DefaultSource, s.source)
	assert.Equal(t, DefaultSourcetype, s.sourcetype)
	assert.Equal(t, DefaultBatchSize, s.batchSize)
	assert.False(t, s.ack)
	assert.Empty(t, s.channel, "no channel header without acks unless one is set")
	assert.Equal(t, DefaultAckTimeout, s.ackTimeout)
	assert.Equal(t, 10*time.Second, s.timeout)
	assert.NotNil(t, s.tls, "Sink_TLS is on by default for https")
}

func TestConfigGeneratesChannelForAck(t *testing.T) {
	s, err := loadSettings(config.Map{"Splunk_URL": "http://127.0.0.1:8088", "Splunk_Token": testToken, "Splunk_Ack": "on"}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Regexp(t, guidPattern, s.channel)
	assert.Nil(t, s.tls)
}

func TestConfigURLPaths(t *testing.T) {
	cases := map[string]struct{ event, ack string }{
		"http://h:8088":                              {"http://h:8088/services/collector/event", "http://h:8088/services/collector/ack"},
		"http://h:8088/":                             {"http://h:8088/services/collector/event", "http://h:8088/services/collector/ack"},
		"http://h:8088/services/collector":           {"http://h:8088/services/collector/event", "http://h:8088/services/collector/ack"},
		"http://h:8088/services/collector/event":     {"http://h:8088/services/collector/event", "http://h:8088/services/collector/ack"},
		"http://h:8088/services/collector/event/":    {"http://h:8088/services/collector/event", "http://h:8088/services/collector/ack"},
		"http://h:8088/services/collector/event/1.0": {"http://h:8088/services/collector/event", "http://h:8088/services/collector/ack"},
		"http://gw/splunk":                           {"http://gw/splunk/services/collector/event", "http://gw/splunk/services/collector/ack"},
		"http://gw/splunk/services/collector/event":  {"http://gw/splunk/services/collector/event", "http://gw/splunk/services/collector/ack"},
	}
	for in, want := range cases {
		t.Run(in, func(t *testing.T) {
			s, err := loadSettings(config.Map{"Splunk_URL": in, "Splunk_Token": testToken}, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			assert.Equal(t, want.event, s.eventURL)
			assert.Equal(t, want.ack, s.ackURL)
		})
	}
}
