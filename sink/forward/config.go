package forward

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/sink"
)

// Defaults of the Forward_* keys.
const (
	DefaultTag       = "runningrat.alert"
	DefaultBatchSize = 500
)

// maxNameLength bounds Forward_Self_Hostname and Forward_Username. Fluent
// Bit's in_forward reads the whole PING into a 1,023-byte buffer, and the
// two digests and the salt already take 288 bytes of it.
const maxNameLength = 255

// settings is the parsed configuration of a forward sink.
type settings struct {
	network string // "tcp" or "unix"
	address string // host:port, or the socket path
	tag     string

	sharedKey string
	hostname  string
	username  string
	password  string

	requireAck bool
	gzip       bool
	batchSize  int
	timeout    time.Duration
	tls        *tls.Config
}

// target names the peer in logs and errors.
func (s *settings) target() string {
	if s.network == "unix" {
		return "unix://" + s.address
	}
	return s.address
}

// parseSettings reads the Forward_* keys, Sink_Timeout and the Sink_TLS*
// keys. No error names the value of Forward_Shared_Key or Forward_Password.
func parseSettings(g config.Getter, log *slog.Logger) (settings, error) {
	var s settings
	var err error

	s.network, s.address, err = parseAddress(config.String(g, "Forward_Address", ""))
	if err != nil {
		return s, err
	}
	s.tag = config.String(g, "Forward_Tag", DefaultTag)

	if err := parseAuth(g, &s); err != nil {
		return s, err
	}

	if s.requireAck, err = config.Bool(g, "Forward_Require_Ack", true); err != nil {
		return s, err
	}
	switch v := strings.ToLower(config.String(g, "Forward_Compress", "none")); v {
	case "none":
	case "gzip":
		s.gzip = true
	default:
		return s, fmt.Errorf("invalid Forward_Compress %q: use none or gzip", v)
	}
	if s.batchSize, err = parseBatchSize(g); err != nil {
		return s, err
	}

	if s.timeout, err = sink.Timeout(g); err != nil {
		return s, err
	}
	// A forward input listens in plain TCP unless configured otherwise, so
	// TLS is opt-in here, unlike for an https URL.
	if s.tls, err = sink.LoadTLS(g, false, log); err != nil {
		return s, err
	}
	return s, nil
}

// parseAddress splits Forward_Address into a network and an address.
func parseAddress(v string) (network, address string, err error) {
	if v == "" {
		return "", "", errors.New("Sink forward needs Forward_Address, the host:port or unix:///path of a Fluent Bit or Fluentd forward input")
	}

	if path, ok := strings.CutPrefix(v, "unix://"); ok {
		if !filepath.IsAbs(path) {
			return "", "", fmt.Errorf("invalid Forward_Address %q: a unix socket needs an absolute path, as in unix:///var/run/fluent.sock", v)
		}
		return "unix", path, nil
	}
	if strings.Contains(v, "://") {
		return "", "", fmt.Errorf("invalid Forward_Address %q: use host:port without a scheme, or unix:///path", v)
	}

	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		return "", "", fmt.Errorf("invalid Forward_Address %q: use host:port, as in 127.0.0.1:24224", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("invalid port in Forward_Address %q: use a number from 1 to 65535", v)
	}
	return "tcp", v, nil
}

// parseAuth reads the keys of the HELO/PING/PONG handshake.
func parseAuth(g config.Getter, s *settings) error {
	// The secrets are taken as they are: a space may be part of a key.
	s.sharedKey = g.Get("Forward_Shared_Key")
	s.password = g.Get("Forward_Password")
	s.username = config.String(g, "Forward_Username", "")

	s.hostname = config.String(g, "Forward_Self_Hostname", "")
	if s.hostname == "" {
		name, err := os.Hostname()
		if err != nil || name == "" {
			name = "localhost"
		}
		s.hostname = name
	}
	if len(s.hostname) > maxNameLength {
		return fmt.Errorf("invalid Forward_Self_Hostname: %d bytes long, use at most %d", len(s.hostname), maxNameLength)
	}
	if len(s.username) > maxNameLength {
		return fmt.Errorf("invalid Forward_Username: %d bytes long, use at most %d", len(s.username), maxNameLength)
	}

	if (s.username == "") != (s.password == "") {
		return errors.New("Forward_Username and Forward_Password must be set together")
	}
	if s.username != "" && s.sharedKey == "" {
		return errors.New("Forward_Username needs Forward_Shared_Key: the forward protocol sends users only inside the shared-key handshake")
	}
	return nil
}

func parseBatchSize(g config.Getter) (int, error) {
	v := config.String(g, "Forward_Batch_Size", "")
	if v == "" {
		return DefaultBatchSize, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("invalid Forward_Batch_Size %q: use a whole number of alerts, 1 or more", v)
	}
	return n, nil
}
