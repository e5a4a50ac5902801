package pipeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
)

func TestLoadObserveConfigDefaultsOff(t *testing.T) {
	c, err := LoadObserveConfig(config.Map{})
	require.NoError(t, err)
	assert.Equal(t, time.Duration(0), c.StatsInterval)
	assert.Empty(t, c.MetricsListen)
}

func TestLoadObserveConfigValues(t *testing.T) {
	tests := []struct {
		name     string
		settings config.Map
		interval time.Duration
		listen   string
		loopback bool
	}{
		{"interval as duration", config.Map{"Stats_Interval": "60s"}, time.Minute, "", false},
		{"interval in seconds", config.Map{"stats_interval": "30"}, 30 * time.Second, "", false},
		{"ipv4 loopback", config.Map{"Metrics_Listen": "127.0.0.1:2021"}, 0, "127.0.0.1:2021", true},
		{"ipv6 loopback", config.Map{"Metrics_Listen": "[::1]:2021"}, 0, "[::1]:2021", true},
		{"localhost", config.Map{"Metrics_Listen": "localhost:2021"}, 0, "localhost:2021", true},
		{"free port", config.Map{"Metrics_Listen": "127.0.0.1:0"}, 0, "127.0.0.1:0", true},
		{"every interface written out", config.Map{"Metrics_Listen": "0.0.0.0:2021"}, 0, "0.0.0.0:2021", false},
		{"host name", config.Map{"Metrics_Listen": "agent.example.com:2021"}, 0, "agent.example.com:2021", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadObserveConfig(tt.settings)
			require.NoError(t, err)
			assert.Equal(t, tt.interval, c.StatsInterval)
			assert.Equal(t, tt.listen, c.MetricsListen)
			assert.Equal(t, tt.loopback, c.MetricsLoopback)
		})
	}
}

func TestLoadObserveConfigRejects(t *testing.T) {
	tests := []struct {
		name     string
		settings config.Map
		message  string
	}{
		{"negative interval", config.Map{"Stats_Interval": "-5s"}, `invalid Stats_Interval -5s`},
		{"interval not a duration", config.Map{"Stats_Interval": "often"}, `invalid Stats_Interval "often"`},
		{"port only", config.Map{"Metrics_Listen": ":2021"}, `invalid Metrics_Listen ":2021": the host is missing`},
		{"no port", config.Map{"Metrics_Listen": "127.0.0.1"}, `invalid Metrics_Listen "127.0.0.1"`},
		{"bare number", config.Map{"Metrics_Listen": "2021"}, `invalid Metrics_Listen "2021"`},
		{"port too large", config.Map{"Metrics_Listen": "127.0.0.1:70000"}, `the port must be a number from 0 to 65535`},
		{"port not a number", config.Map{"Metrics_Listen": "127.0.0.1:http"}, `the port must be a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadObserveConfig(tt.settings)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.message)
		})
	}
}
