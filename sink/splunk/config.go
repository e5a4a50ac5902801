package splunk

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/sink"
)

// Defaults of the Splunk_* keys.
const (
	DefaultSource     = "runningrat"
	DefaultSourcetype = "runningrat:alert"
	DefaultBatchSize  = 100
	DefaultAckTimeout = 60 * time.Second
)

// eventPath is HEC's JSON event endpoint, and ackPath its indexer
// acknowledgement endpoint.
const (
	eventPath = "/services/collector/event"
	ackPath   = "/services/collector/ack"
)

// settings are the parsed Splunk_* and Sink_* keys.
type settings struct {
	eventURL string
	ackURL   string
	// shownURL is the event URL without user information or query, the
	// only form that goes into logs and errors.
	shownURL string
	token    string

	index      string
	source     string
	sourcetype string
	host       string
	batchSize  int

	ack        bool
	channel    string
	ackTimeout time.Duration

	timeout time.Duration
	tls     *tls.Config
}

// guidPattern matches a channel as HEC accepts it: a GUID in its
// 8-4-4-4-12 hexadecimal form.
var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// loadSettings reads and checks the configuration. Its errors never
// contain the token.
func loadSettings(g config.Getter, log *slog.Logger) (settings, error) {
	var s settings

	u, err := parseURL(config.String(g, "Splunk_URL", ""))
	if err != nil {
		return s, err
	}
	s.eventURL = u.String()
	s.shownURL = u.String()
	ack := *u
	ack.Path = strings.TrimSuffix(u.Path, eventPath) + ackPath
	s.ackURL = ack.String()

	if s.token, err = loadToken(g); err != nil {
		return s, err
	}

	s.index = config.String(g, "Splunk_Index", "")
	s.source = config.String(g, "Splunk_Source", DefaultSource)
	s.sourcetype = config.String(g, "Splunk_Sourcetype", DefaultSourcetype)
	s.host = config.String(g, "Splunk_Host", "")

	s.batchSize = DefaultBatchSize
	if v := config.String(g, "Splunk_Batch_Size", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s, fmt.Errorf("invalid Splunk_Batch_Size %q: use a whole number of events, 1 or more", v)
		}
		s.batchSize = n
	}

	if s.ack, err = config.Bool(g, "Splunk_Ack", false); err != nil {
		return s, err
	}
	if s.ackTimeout, err = config.Duration(g, "Splunk_Ack_Timeout", DefaultAckTimeout); err != nil {
		return s, err
	}
	if s.ackTimeout <= 0 {
		return s, fmt.Errorf("invalid Splunk_Ack_Timeout %s: use a positive duration such as 60s", s.ackTimeout)
	}
	s.channel = config.String(g, "Splunk_Channel", "")
	switch {
	case s.channel != "" && !guidPattern.MatchString(s.channel):
		return s, fmt.Errorf("invalid Splunk_Channel %q: use a GUID such as 0b2a5c36-6f4e-4d1a-9c3e-2f1d7a8b9c0d", s.channel)
	case s.channel == "" && s.ack:
		s.channel = newGUID()
	}

	if s.timeout, err = sink.Timeout(g); err != nil {
		return s, err
	}
	https := u.Scheme == "https"
	if s.tls, err = sink.LoadTLS(g, https, log); err != nil {
		return s, err
	}
	switch {
	case https && s.tls == nil:
		return s, errors.New("Sink_TLS is off but Splunk_URL starts with https: turn Sink_TLS on or use an http URL")
	case !https && s.tls != nil:
		return s, errors.New("Sink_TLS is on but Splunk_URL starts with http: use an https URL")
	}
	return s, nil
}

// parseURL checks Splunk_URL and returns the URL of the event endpoint.
// A URL without a path gets /services/collector/event, and one that ends
// with /services/collector gets /event. Any other path that does not end
// with /services/collector/event is the prefix under which a reverse proxy
// serves HEC.
func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("Sink splunk needs Splunk_URL, the HEC address such as https://splunk.example.com:8088")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, which may hold credentials.
		return nil, errors.New("invalid Splunk_URL: it does not parse as a URL; use a form such as https://splunk.example.com:8088")
	}
	if u.User != nil {
		return nil, errors.New("invalid Splunk_URL: it contains a user name or password; remove them and put the HEC token in Splunk_Token or Splunk_Token_Env")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		// A query may carry a token (HEC's query-string authentication),
		// and the URL is logged.
		return nil, errors.New("invalid Splunk_URL: remove the query string; the token goes in Splunk_Token or Splunk_Token_Env")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invalid Splunk_URL %q: use an http or https URL", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("invalid Splunk_URL %q: it names no host", u.Redacted())
	}

	path := strings.TrimSuffix(u.Path, "/")
	switch {
	case strings.HasSuffix(path, eventPath):
	case strings.HasSuffix(path, "/services/collector/event/1.0"):
		path = strings.TrimSuffix(path, "/1.0")
	case strings.HasSuffix(path, "/services/collector/raw"), strings.HasSuffix(path, "/services/collector/raw/1.0"):
		return nil, fmt.Errorf("invalid Splunk_URL %q: it names HEC's raw endpoint, but the sink sends JSON events; end it with %s or leave the path out", u.Redacted(), eventPath)
	case strings.HasSuffix(path, "/services/collector"):
		path += "/event"
	default:
		path += eventPath
	}
	u.Path = path
	u.RawPath = ""
	return u, nil
}

// loadToken reads the HEC token from Splunk_Token, or from the environment
// variable that Splunk_Token_Env names.
func loadToken(g config.Getter) (string, error) {
	token := config.String(g, "Splunk_Token", "")
	env := config.String(g, "Splunk_Token_Env", "")
	switch {
	case token != "" && env != "":
		return "", errors.New("Splunk_Token and Splunk_Token_Env are both set: keep only one")
	case env != "":
		token = strings.TrimSpace(os.Getenv(env))
		if token == "" {
			return "", fmt.Errorf("the environment variable %s named by Splunk_Token_Env is unset or empty: export the HEC token in it", env)
		}
	case token == "":
		return "", errors.New("missing HEC token for Sink splunk: set Splunk_Token, or set Splunk_Token_Env to the name of an environment variable that contains it")
	}
	if strings.ContainsAny(token, "\r\n\x00") {
		return "", errors.New("invalid HEC token: it contains a line break or NUL byte")
	}
	return token, nil
}

// newGUID returns a random (version 4) GUID for a data channel.
func newGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
