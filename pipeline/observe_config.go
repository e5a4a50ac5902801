package pipeline

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/edgehunt/runningrat/config"
)

// ObserveConfig contains the settings that make an instance's state visible.
// The plugin layer acts on them; an Output does not read them.
type ObserveConfig struct {
	// StatsInterval is how often the counters are logged (Stats_Interval).
	// Zero logs them only when the instance stops.
	StatsInterval time.Duration
	// MetricsListen is the host:port that serves the counters for
	// Prometheus (Metrics_Listen), bound as written. Empty serves nothing.
	MetricsListen string
	// MetricsLoopback is set when MetricsListen is a loopback IP address or
	// "localhost", so that only this machine can read it.
	MetricsLoopback bool
}

// LoadObserveConfig reads Stats_Interval and Metrics_Listen.
func LoadObserveConfig(g config.Getter) (ObserveConfig, error) {
	var c ObserveConfig
	var err error
	if c.StatsInterval, err = config.Duration(g, "Stats_Interval", 0); err != nil {
		return c, err
	}
	if c.StatsInterval < 0 {
		return c, fmt.Errorf("invalid Stats_Interval %s: use 0 (off) or a positive duration such as 60s", c.StatsInterval)
	}

	c.MetricsListen = config.String(g, "Metrics_Listen", "")
	if c.MetricsListen != "" {
		if c.MetricsLoopback, err = checkListenAddress(c.MetricsListen); err != nil {
			return c, err
		}
	}
	return c, nil
}

// checkListenAddress checks a Metrics_Listen value and reports whether it
// is a loopback address. A missing host is rejected because it would
// listen on every interface: exposing the metrics to the network must be
// written out, as 0.0.0.0:2021 or a host name.
func checkListenAddress(address string) (loopback bool, err error) {
	allowed := "use host:port with an explicit host, such as 127.0.0.1:2021 or [::1]:2021 (0.0.0.0:2021 listens on every interface)"
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return false, fmt.Errorf("invalid Metrics_Listen %q: %s", address, allowed)
	}
	if host == "" {
		return false, fmt.Errorf("invalid Metrics_Listen %q: the host is missing, which would listen on every interface; %s", address, allowed)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return false, fmt.Errorf("invalid Metrics_Listen %q: the port must be a number from 0 to 65535 (0 picks a free port)", address)
	}

	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.IsLoopback(), nil
	}
	return false, nil
}
