package pipeline

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/edgehunt/runningrat/cef"
	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/delivery"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
)

// Config is an output instance's validated settings. Keys are looked up
// without regard to case, as Fluent Bit does.
type Config struct {
	// Sink names where alerts go (Sink): stdout or file.
	Sink string
	// MessageKey is the record key holding a raw line (Message_Key). Empty
	// means the first of log, message and msg that a record has.
	MessageKey string
	// Mode is exact or extended (Detection_Mode).
	Mode detect.Mode
	// AlertFormat is the shape of alerts (Alert_Format): native, ecs or
	// splunk, or empty for the sink's own shape.
	AlertFormat format.Format
	// LogLevel filters the plugin's own log lines (Plugin_Log_Level), because
	// Fluent Bit keeps Log_Level for itself.
	LogLevel slog.Level
	// SkipLogInterval is the minimum time between two log lines about
	// skipped records of the same reason (Skip_Log_Interval). The lines in
	// between are counted, and the count is logged with the next line.
	SkipLogInterval time.Duration

	// SpoolDir is the folder of the spool and dead-letter files (Spool_Dir).
	SpoolDir string
	// SpoolName names this instance's spool (Spool_Name); by default the
	// sink and a hash of its destination.
	SpoolName string
	// spoolNameDefault is set when SpoolName was not configured, which lets
	// a second instance with the same destination take a numbered name.
	spoolNameDefault bool
	// SpoolMaxSize bounds the alerts waiting in the spool, in bytes of
	// their JSON (Spool_Max_Size). A flush that would pass it is retried.
	SpoolMaxSize int64
	// SpoolSync syncs each spool transaction to the disk (Spool_Sync full),
	// so that spooled alerts survive a power loss. Otherwise (normal, the
	// default, as Fluent Bit's storage.sync) they survive a crash of the
	// process and are written back by the kernel.
	SpoolSync bool
	// ShutdownTimeout is how long delivery may go on when Fluent Bit stops
	// the plugin (Shutdown_Timeout); what is left is sent after a restart.
	ShutdownTimeout time.Duration
	// DeliveryBatchSize is the most alerts per delivery attempt
	// (Delivery_Batch_Size).
	DeliveryBatchSize int
	// RetryMaxWait is the longest wait between two delivery attempts
	// (Delivery_Retry_Max_Wait).
	RetryMaxWait time.Duration
	// DeliveryLinger is how long a partial batch waits for more alerts
	// before it is sent (Delivery_Linger).
	DeliveryLinger time.Duration

	// SuppressWindow turns on the roll-up of repeats (Suppress_Window):
	// zero means every alert is sent.
	SuppressWindow time.Duration
	// SuppressBy are the columns whose values, with the rule, make the
	// roll-up key (Suppress_By).
	SuppressBy []string
	// RulesWatchInterval is how often Rules_Path is checked for changed
	// files (Rules_Watch_Interval); zero turns watching off.
	RulesWatchInterval time.Duration
}

// Defaults.
const (
	DefaultSink            = "stdout"
	DefaultMode            = detect.Extended
	DefaultSkipLogInterval = time.Minute
	DefaultSpoolMaxSize    = 256 << 20
	DefaultShutdownTimeout = 5 * time.Second
)

// defaultMessageKeys are the keys that in_tail (log), in_syslog (message)
// and common parsers (msg) put a raw line under, in the order tried.
var defaultMessageKeys = []string{"log", "message", "msg"}

// LoadConfig reads and validates the settings.
func LoadConfig(g config.Getter) (Config, error) {
	c := Config{
		Sink:       strings.ToLower(config.String(g, "Sink", DefaultSink)),
		MessageKey: config.String(g, "Message_Key", ""),
	}

	var err error
	if c.AlertFormat, err = format.Parse(g.Get("Alert_Format")); err != nil {
		return c, err
	}
	if c.Mode, err = detect.ParseMode(strings.ToLower(config.String(g, "Detection_Mode", DefaultMode.String()))); err != nil {
		return c, fmt.Errorf("Detection_Mode: %w", err)
	}
	level := config.String(g, "Plugin_Log_Level", "info")
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return c, fmt.Errorf("invalid Plugin_Log_Level %q: use debug, info, warn or error", level)
	}
	if c.SkipLogInterval, err = config.Duration(g, "Skip_Log_Interval", DefaultSkipLogInterval); err != nil {
		return c, err
	}

	c.SpoolDir = config.String(g, "Spool_Dir", DefaultSpoolDir())
	c.SpoolName = config.String(g, "Spool_Name", "")
	if c.SpoolName == "" {
		c.SpoolName = defaultSpoolName(c.Sink, g)
		c.spoolNameDefault = true
	}
	if c.SpoolMaxSize, err = config.Size(g, "Spool_Max_Size", DefaultSpoolMaxSize); err != nil {
		return c, err
	}
	switch syncMode := strings.ToLower(config.String(g, "Spool_Sync", "normal")); syncMode {
	case "normal":
	case "full":
		c.SpoolSync = true
	default:
		return c, fmt.Errorf("invalid Spool_Sync %q: use normal (survives a crash of Fluent Bit) or full (also a power loss: syncs each flush with alerts to the disk)", g.Get("Spool_Sync"))
	}
	if c.ShutdownTimeout, err = config.Duration(g, "Shutdown_Timeout", DefaultShutdownTimeout); err != nil {
		return c, err
	}
	batch, err := config.Size(g, "Delivery_Batch_Size", delivery.DefaultBatchSize)
	if err != nil {
		return c, err
	}
	c.DeliveryBatchSize = int(batch)
	if c.DeliveryLinger, err = config.Duration(g, "Delivery_Linger", delivery.DefaultLinger); err != nil {
		return c, err
	}
	if c.RetryMaxWait, err = config.Duration(g, "Delivery_Retry_Max_Wait", delivery.DefaultRetryMax); err != nil {
		return c, err
	}
	if c.SuppressWindow, err = config.Duration(g, "Suppress_Window", 0); err != nil {
		return c, err
	}
	if c.RulesWatchInterval, err = config.Duration(g, "Rules_Watch_Interval", DefaultRulesWatchInterval); err != nil {
		return c, err
	}
	for _, col := range strings.Split(config.String(g, "Suppress_By", "SourceIP,RequestURL"), ",") {
		if col = strings.TrimSpace(col); col != "" {
			c.SuppressBy = append(c.SuppressBy, col)
		}
	}
	return c, c.Validate()
}

// Validate checks the settings that do not depend on the sink.
func (c Config) Validate() error {
	if _, err := format.Parse(string(c.AlertFormat)); err != nil {
		return err
	}
	if c.Mode != detect.Exact && c.Mode != detect.Extended {
		return fmt.Errorf("invalid detection mode %d", c.Mode)
	}
	if c.SkipLogInterval < 0 {
		return fmt.Errorf("invalid Skip_Log_Interval %s: use zero or more", c.SkipLogInterval)
	}
	if !validSpoolName.MatchString(c.SpoolName) {
		return fmt.Errorf("invalid Spool_Name %q: use letters, digits, '.', '_' and '-'", c.SpoolName)
	}
	if c.SpoolMaxSize <= 0 {
		return fmt.Errorf("invalid Spool_Max_Size %d: use a positive size such as 256M", c.SpoolMaxSize)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("invalid Shutdown_Timeout %s: use zero or more", c.ShutdownTimeout)
	}
	if c.DeliveryBatchSize < 1 || c.DeliveryBatchSize > 10000 {
		return fmt.Errorf("invalid Delivery_Batch_Size %d: use 1 to 10000", c.DeliveryBatchSize)
	}
	if c.RulesWatchInterval < 0 {
		return fmt.Errorf("invalid Rules_Watch_Interval %s: use 0 (off) or a positive duration", c.RulesWatchInterval)
	}
	if c.SuppressWindow < 0 {
		return fmt.Errorf("invalid Suppress_Window %s: use 0 (off) or a positive duration", c.SuppressWindow)
	}
	for _, col := range c.SuppressBy {
		if _, ok := cef.ColumnByName(col); !ok {
			return fmt.Errorf("invalid Suppress_By column %q: use CommonSecurityLog column names such as SourceIP, RequestURL, DestinationIP", col)
		}
	}
	if c.DeliveryLinger < 0 || c.DeliveryLinger > time.Minute {
		return fmt.Errorf("invalid Delivery_Linger %s: use a duration from 0 (send at once) to 1m, such as 200ms", c.DeliveryLinger)
	}
	if c.RetryMaxWait < time.Second {
		return fmt.Errorf("invalid Delivery_Retry_Max_Wait %s: use 1s or more", c.RetryMaxWait)
	}
	return nil
}

// messageKeys returns the keys tried for a raw line, in order.
func (c Config) messageKeys() []string {
	if c.MessageKey != "" {
		return []string{c.MessageKey}
	}
	return defaultMessageKeys
}
