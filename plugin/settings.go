package plugin

import (
	"net/url"
	"strings"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/pipeline"
	"github.com/edgehunt/runningrat/sink"
)

// masked replaces the value of a secret in log lines.
const masked = "***"

// secretKeys are the settings whose values never reach a log line.
var secretKeys = map[string]bool{
	"Splunk_Token": true, "ES_Password": true, "ES_API_Key": true,
	"Forward_Shared_Key": true, "Forward_Password": true,
}

// urlKeys are the settings that contain URLs (comma-separated in ES_URL),
// whose user information may carry a password.
var urlKeys = map[string]bool{"Splunk_URL": true, "ES_URL": true}

// settingsAttrs returns the effective settings of an instance as slog
// attributes, keys in lower case, with secrets masked. Pipeline settings
// carry their defaults; sink settings appear only when set.
func settingsAttrs(cfg pipeline.Config, obs pipeline.ObserveConfig, g config.Getter) []any {
	alertFormat := cfg.AlertFormat.Or(sink.DefaultFormat(cfg.Sink))
	messageKey := cfg.MessageKey
	if messageKey == "" {
		messageKey = "log, message or msg"
	}
	statsInterval := "off"
	if obs.StatsInterval > 0 {
		statsInterval = obs.StatsInterval.String()
	}
	suppressWindow := "off"
	if cfg.SuppressWindow > 0 {
		suppressWindow = cfg.SuppressWindow.String()
	}
	spoolSync := "normal"
	if cfg.SpoolSync {
		spoolSync = "full"
	}
	metricsListen := "off"
	if obs.MetricsListen != "" {
		metricsListen = obs.MetricsListen
	}

	attrs := []any{
		"sink", cfg.Sink, "path", g.Get("Path"),
		"detection_mode", cfg.Mode.String(), "alert_format", string(alertFormat), "message_key", messageKey,
		// The spool ready line names the file in use, which has a ".2" suffix
		// when another instance already uses the default name.
		"spool_dir", cfg.SpoolDir, "spool_name", cfg.SpoolName,
		"spool_max_size", cfg.SpoolMaxSize, "spool_sync", spoolSync, "shutdown_timeout", cfg.ShutdownTimeout.String(),
		"delivery_batch_size", cfg.DeliveryBatchSize, "delivery_retry_max_wait", cfg.RetryMaxWait.String(),
		"delivery_linger", cfg.DeliveryLinger.String(),
		"skip_log_interval", cfg.SkipLogInterval.String(), "plugin_log_level", cfg.LogLevel.String(),
		"stats_interval", statsInterval, "metrics_listen", metricsListen,
		"suppress_window", suppressWindow, "suppress_by", strings.Join(cfg.SuppressBy, ","),
		"rules", config.String(g, "Rules", "all"), "rules_path", g.Get("Rules_Path"),
		"rules_watch_interval", cfg.RulesWatchInterval.String(),
		"unknown_keys", strings.ToLower(config.String(g, "Unknown_Keys", "error")),
	}
	for _, key := range pipeline.SinkKeys {
		value := strings.TrimSpace(g.Get(key))
		if value == "" {
			continue
		}
		attrs = append(attrs, strings.ToLower(key), maskValue(key, value))
	}
	return attrs
}

// maskValue returns value as it may be logged: "***" for a secret, and a
// URL with "xxxxx" in place of the password of its user information, as
// net/url's Redacted writes it.
func maskValue(key, value string) string {
	if secretKeys[key] {
		return masked
	}
	if !urlKeys[key] {
		return value
	}
	parts := strings.Split(value, ",")
	for i, part := range parts {
		parts[i] = maskURL(strings.TrimSpace(part))
	}
	return strings.Join(parts, ",")
}

// maskURL masks the password in raw's user information. A value that does
// not parse as a URL is masked whole, because it cannot be told where a
// password would sit.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return masked
	}
	if u.User == nil {
		return raw
	}
	return u.Redacted()
}
