package elasticsearch

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/sink"
)

// Defaults of the ES_* keys.
const (
	// DefaultIndex is a data stream that Elastic Security's prebuilt
	// External Alerts rule reads (it matches logs-*), and that the built-in
	// logs-*-* index template of Elasticsearch creates on first write.
	DefaultIndex          = "logs-runningrat.alert-default"
	DefaultBatchSize      = 500
	DefaultMaxRequestSize = 5 << 20
)

// Config is the sink's validated settings.
type Config struct {
	// URLs are the nodes to try in turn (ES_URL, comma-separated), without
	// user info and without a trailing slash.
	URLs     []*url.URL
	Index    string // ES_Index: index, alias or data stream
	Pipeline string // ES_Pipeline: ingest pipeline, or ""
	// Username and Password are HTTP basic credentials (ES_Username,
	// ES_Password).
	Username string
	Password string
	// APIKey is the encoded API key sent as "Authorization: ApiKey
	// <APIKey>" (ES_API_Key).
	APIKey string
	// BatchSize is the maximum number of documents per request
	// (ES_Batch_Size).
	BatchSize int
	// MaxRequestSize is the body size in bytes above which a batch is sent
	// as several requests (ES_Max_Request_Size). A single larger document
	// still goes alone.
	MaxRequestSize int64
	Timeout        time.Duration // Sink_Timeout: bound of each request
	TLS            *tls.Config   // from the Sink_TLS* keys; nil for http URLs
}

// LoadConfig reads and validates the ES_* keys and the shared Sink_TLS*
// and Sink_Timeout keys. No error it returns contains a password or key.
func LoadConfig(g config.Getter, log *slog.Logger) (Config, error) {
	c := Config{
		Index:    config.String(g, "ES_Index", DefaultIndex),
		Pipeline: config.String(g, "ES_Pipeline", ""),
		Username: config.String(g, "ES_Username", ""),
		Password: g.Get("ES_Password"),
		APIKey:   config.String(g, "ES_API_Key", ""),
	}

	raw := config.String(g, "ES_URL", "")
	if raw == "" {
		return c, errors.New("Sink elasticsearch needs ES_URL, such as https://elastic.example.com:9200 (several nodes separated by commas)")
	}
	var err error
	if c.URLs, err = parseURLs(raw); err != nil {
		return c, err
	}
	if err := checkIndexName(c.Index); err != nil {
		return c, err
	}
	if err := c.loadAuth(); err != nil {
		return c, err
	}
	if c.BatchSize, err = positiveInt(g, "ES_Batch_Size", DefaultBatchSize); err != nil {
		return c, err
	}
	if c.MaxRequestSize, err = config.Size(g, "ES_Max_Request_Size", DefaultMaxRequestSize); err != nil {
		return c, err
	}
	if c.MaxRequestSize <= 0 {
		return c, fmt.Errorf("invalid ES_Max_Request_Size %q: use a positive size such as 5M", g.Get("ES_Max_Request_Size"))
	}
	if c.Timeout, err = sink.Timeout(g); err != nil {
		return c, err
	}
	if err := c.loadTLS(g, log); err != nil {
		return c, err
	}
	return c, nil
}

// parseURLs splits ES_URL into node URLs.
func parseURLs(raw string) ([]*url.URL, error) {
	var urls []*url.URL
	for part := range strings.SplitSeq(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := url.Parse(part)
		if err != nil {
			// url.Parse quotes the input, which may hold a password.
			return nil, fmt.Errorf("invalid ES_URL entry (%v): use an http:// or https:// URL", redactedParseError(err))
		}
		if u.User != nil {
			u.User = nil
			return nil, fmt.Errorf("ES_URL %s contains a user name or password: set ES_Username and ES_Password, or ES_API_Key, instead", u)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("invalid ES_URL %s: use an http:// or https:// URL", u)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("invalid ES_URL %s: the host is missing", u)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("invalid ES_URL %s: remove the query or fragment; set the pipeline with ES_Pipeline", u)
		}
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = ""
		urls = append(urls, u)
	}
	if len(urls) == 0 {
		return nil, errors.New("invalid ES_URL: it names no URL")
	}
	for _, u := range urls[1:] {
		if u.Scheme != urls[0].Scheme {
			return nil, fmt.Errorf("ES_URL mixes http and https (%s and %s): use one scheme for every node", urls[0], u)
		}
	}
	return urls, nil
}

// redactedParseError returns the reason of a url.Parse error without the
// URL, which may contain credentials.
func redactedParseError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// checkIndexName applies Elasticsearch's rules for index and data stream
// names, so that a typo fails at startup instead of every alert being
// rejected with invalid_index_name_exception.
func checkIndexName(name string) error {
	var reason string
	switch {
	case name == "." || name == "..":
		reason = "it must not be . or .."
	case len(name) > 255:
		reason = "it is longer than 255 bytes"
	case strings.ToLower(name) != name:
		reason = "it must be lowercase"
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		reason = `it must not contain \ / * ? " < > | , # : or a space`
	case strings.HasPrefix(name, "_") || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "+"):
		reason = "it must not start with _, - or +"
	default:
		return nil
	}
	return fmt.Errorf("invalid ES_Index %q: %s", name, reason)
}

// loadAuth checks that at most one kind of credential is set, and turns an
// API key given as id:key into the base64 form the header takes.
func (c *Config) loadAuth() error {
	basic := c.Username != "" || c.Password != ""
	switch {
	case basic && c.APIKey != "":
		return errors.New("both ES_Username/ES_Password and ES_API_Key are set: use one of them")
	case c.Username == "" && c.Password != "":
		return errors.New("ES_Password is set without ES_Username: set both")
	case c.Username != "" && c.Password == "":
		return errors.New("ES_Username is set without ES_Password: set both")
	}

	// Kibana shows a key both encoded and as id:api_key; base64 never
	// contains a colon, so a colon means the second form.
	if strings.Contains(c.APIKey, ":") {
		c.APIKey = base64.StdEncoding.EncodeToString([]byte(c.APIKey))
	}
	return nil
}

func (c *Config) loadTLS(g config.Getter, log *slog.Logger) error {
	https := c.URLs[0].Scheme == "https"
	tlsConfig, err := sink.LoadTLS(g, https, log)
	if err != nil {
		return err
	}
	switch {
	case tlsConfig != nil && !https:
		return fmt.Errorf("Sink_TLS is on but ES_URL %s uses http: use https URLs", c.URLs[0])
	case tlsConfig == nil && https:
		return fmt.Errorf("Sink_TLS is off but ES_URL %s uses https: remove Sink_TLS or use http URLs", c.URLs[0])
	}
	c.TLS = tlsConfig
	return nil
}

// positiveInt reads key as a whole number above zero.
func positiveInt(g config.Getter, key string, def int) (int, error) {
	v := config.String(g, key, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid %s %q: use a whole number above zero", key, v)
	}
	return n, nil
}

// authKind names the credential in use, for the startup log line.
func (c *Config) authKind() string {
	switch {
	case c.APIKey != "":
		return "api key"
	case c.Username != "":
		return "basic (user " + c.Username + ")"
	}
	return "none"
}

// nodeList returns the URLs for the startup log line.
func (c *Config) nodeList() string {
	names := make([]string, len(c.URLs))
	for i, u := range c.URLs {
		names[i] = u.String()
	}
	return strings.Join(names, ",")
}
