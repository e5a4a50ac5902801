package sink

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/edgehunt/runningrat/config"
)

// DefaultTimeout bounds each connection attempt and each request of a
// network sink unless Sink_Timeout sets another value.
const DefaultTimeout = 10 * time.Second

// Timeout reads Sink_Timeout.
func Timeout(g config.Getter) (time.Duration, error) {
	d, err := config.Duration(g, "Sink_Timeout", DefaultTimeout)
	if err == nil && d <= 0 {
		err = fmt.Errorf("invalid Sink_Timeout %s: use a positive duration", d)
	}
	return d, err
}

// LoadTLS reads the Sink_TLS* keys that every network sink shares, because
// Fluent Bit keeps tls.* for itself. It returns nil when TLS is off.
// defaultOn is the default of Sink_TLS: on for an https URL, off for a
// forward peer. Turning Sink_TLS_Verify off logs a warning, since it lets
// anyone on the path read and forge alerts.
func LoadTLS(g config.Getter, defaultOn bool, log *slog.Logger) (*tls.Config, error) {
	on, err := config.Bool(g, "Sink_TLS", defaultOn)
	if err != nil || !on {
		return nil, err
	}

	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch v := config.String(g, "Sink_TLS_Min_Version", "1.2"); strings.TrimPrefix(strings.ToLower(v), "tls") {
	case "1.2":
	case "1.3":
		cfg.MinVersion = tls.VersionTLS13
	default:
		return nil, fmt.Errorf("invalid Sink_TLS_Min_Version %q: use 1.2 or 1.3", v)
	}

	if path := config.String(g, "Sink_TLS_CA_File", ""); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read Sink_TLS_CA_File: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("Sink_TLS_CA_File %s contains no PEM certificate", path)
		}
		cfg.RootCAs = pool
	}

	certFile := config.String(g, "Sink_TLS_Cert_File", "")
	keyFile := config.String(g, "Sink_TLS_Key_File", "")
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("Sink_TLS_Cert_File and Sink_TLS_Key_File must be set together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			// The error text of LoadX509KeyPair names files, never key bytes.
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}

	cfg.ServerName = config.String(g, "Sink_TLS_Server_Name", "")
	verify, err := config.Bool(g, "Sink_TLS_Verify", true)
	if err != nil {
		return nil, err
	}
	if !verify {
		cfg.InsecureSkipVerify = true
		log.Warn("Sink_TLS_Verify is off: the sink's certificate is not checked, so anyone on the network path can read or forge alerts")
	}
	return cfg, nil
}
