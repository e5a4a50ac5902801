package forward_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	forwardpeer "github.com/edgehunt/runningrat/internal/fake/forward"
	"github.com/edgehunt/runningrat/internal/testkit"
	"github.com/edgehunt/runningrat/sink"
	"github.com/edgehunt/runningrat/sink/forward"
)

// baseTime is the @timestamp of the first test alert; each next alert is
// one second and one nanosecond later.
var baseTime = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)

func testAlerts(ids ...string) []detect.Alert {
	out := make([]detect.Alert, len(ids))
	for i, id := range ids {
		ts := baseTime.Add(time.Duration(i) * (time.Second + time.Nanosecond))
		out[i] = detect.Alert{
			Timestamp: ts.Format(detect.TimeLayout),
			ID:        id,
			Rule:      detect.RuleRef{ID: "rule-1", Name: "RunningRAT beacon", Version: "1.0.0", Severity: "High"},
			Verdict:   "exact",
			Event: detect.Columns{
				{Name: "RequestURL", Value: "http://bad.example/ui/chk"},
				{Name: "SourceIP", Value: "10.0.0.5"},
			},
			Tags:      []string{"POLONIUM"},
			Entities:  []detect.Entity{},
			FluentBit: detect.FluentBitInfo{Tag: "cef.fw"},
		}
	}
	return out
}

func newLogger() (*slog.Logger, *testkit.LogBuffer) {
	buf := &testkit.LogBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func startPeer(t *testing.T, opts forwardpeer.Options) *forwardpeer.Peer {
	t.Helper()
	p, err := forwardpeer.Start(opts)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

// newSink builds a sink aimed at peer with the given extra keys.
func newSink(t *testing.T, peer *forwardpeer.Peer, log *slog.Logger, keys config.Map) *forward.Sink {
	t.Helper()
	cfg := config.Map{"Forward_Address": peer.ForwardAddress(), "Sink_Timeout": "5s"}
	for k, v := range keys {
		cfg[k] = v
	}
	if log == nil {
		log, _ = newLogger()
	}
	s, err := forward.New(sink.Options{Config: cfg, Log: log})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// testContext bounds a test's sends, so that a hang fails the test instead
// of stalling the run.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testCA is a certificate authority and a server certificate for
// 127.0.0.1 that it signed.
type testCA struct {
	caFile string
	server *tls.Config
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "forward test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serverTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, serverTemplate, caCert, &serverKey.PublicKey, caKey)
	require.NoError(t, err)

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	return testCA{
		caFile: caFile,
		server: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}},
			MinVersion:   tls.VersionTLS12,
		},
	}
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("alert-%03d", i)
	}
	return out
}
