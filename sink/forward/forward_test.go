package forward_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/format"
	forwardpeer "github.com/edgehunt/runningrat/internal/fake/forward"
	"github.com/edgehunt/runningrat/sink"
	"github.com/edgehunt/runningrat/sink/forward"
)

// Secrets of the handshake tests. No log line or error may contain them.
const (
	sharedKey = "shared-key-7f3a9c"
	password  = "password-51d2e8"
)

// assertNoSecret checks that neither text contains a secret.
func assertNoSecret(t *testing.T, err error, logs string) {
	t.Helper()
	for _, secret := range []string{sharedKey, password, "wrong-" + sharedKey, "wrong-" + password} {
		if err != nil {
			assert.NotContains(t, err.Error(), secret, "the error contains a secret")
		}
		assert.NotContains(t, logs, secret, "the log contains a secret")
	}
}

// jsonValue returns v as encoding/json decodes it, so that a record from
// msgpack and a document from JSON compare equal.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

func TestSinkIsRegistered(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s, err := sink.New("forward", sink.Options{Config: config.Map{"Forward_Address": peer.ForwardAddress()}})
	require.NoError(t, err)
	defer s.Close(context.Background())
	assert.IsType(t, &forward.Sink{}, s)
}

func TestSendDeliversBatchWithAck(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s := newSink(t, peer, nil, nil)

	require.NoError(t, s.Send(testContext(t), testAlerts("a1", "a2", "a3")))

	messages := peer.Messages()
	require.Len(t, messages, 1)
	m := messages[0]
	assert.Equal(t, forwardpeer.PackedForwardMode, m.Mode)
	assert.True(t, m.BinaryEntries, "entries go as bin")
	assert.NotEmpty(t, m.Chunk)
	assert.Equal(t, 3, m.Size)
	assert.Equal(t, 3, m.Entries)
	assert.Equal(t, map[string]int{"a1": 1, "a2": 1, "a3": 1}, peer.Counts())
}

func TestSendReusesConnection(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s := newSink(t, peer, nil, nil)
	ctx := testContext(t)

	require.NoError(t, s.Send(ctx, testAlerts("a1")))
	require.NoError(t, s.Send(ctx, testAlerts("a2")))
	require.NoError(t, s.Send(ctx, testAlerts("a3")))

	assert.Equal(t, 1, peer.Connections())
	assert.Len(t, peer.Records(), 3)
}

func TestSendEmptyBatchDoesNotConnect(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s := newSink(t, peer, nil, nil)

	require.NoError(t, s.Send(testContext(t), nil))
	assert.Zero(t, peer.Connections())
}

func TestRecordShapeAndTag(t *testing.T) {
	cases := []struct {
		name    string
		format  format.Format
		tag     string
		wantTag string
	}{
		{"native with default tag", format.Default, "", forward.DefaultTag},
		{"native with own tag", format.Native, "security.alerts", "security.alerts"},
		{"ecs", format.ECS, "", forward.DefaultTag},
		{"splunk", format.Splunk, "", forward.DefaultTag},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			peer := startPeer(t, forwardpeer.Options{})
			keys := config.Map{"Forward_Address": peer.ForwardAddress()}
			if c.tag != "" {
				keys["Forward_Tag"] = c.tag
			}
			s, err := forward.New(sink.Options{Config: keys, Format: c.format})
			require.NoError(t, err)
			defer s.Close(context.Background())

			alerts := testAlerts("a1", "a2")
			require.NoError(t, s.Send(testContext(t), alerts))

			records := peer.Records()
			require.Len(t, records, 2)
			for i, r := range records {
				assert.Equal(t, c.wantTag, r.Tag)
				assert.Equal(t, alerts[i].ID, r.AlertID)
				doc := format.Document(c.format.Or(format.Native), &alerts[i])
				assert.Equal(t, jsonValue(t, doc), jsonValue(t, r.Fields))
			}
		})
	}
}

func TestRecordStringsAreStr(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s := newSink(t, peer, nil, nil)

	require.NoError(t, s.Send(testContext(t), testAlerts("a1")))

	records := peer.Records()
	require.Len(t, records, 1)
	// msgp decodes a str as string and a bin as []byte.
	assert.IsType(t, "", records[0].Fields["alert_id"])
	assert.IsType(t, "", records[0].Fields["@timestamp"])
	event, ok := records[0].Fields["event"].(map[string]any)
	require.True(t, ok)
	assert.IsType(t, "", event["RequestURL"])
}

func TestRecordTimeIsEventTime(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s := newSink(t, peer, nil, nil)

	require.NoError(t, s.Send(testContext(t), testAlerts("a1", "a2", "a3")))

	records := peer.Records()
	require.Len(t, records, 3)
	for i, r := range records {
		assert.True(t, r.EventTime, "record %d time is EventTime", i)
		want := baseTime.Add(time.Duration(i) * (time.Second + time.Nanosecond))
		assert.Equal(t, want, r.Time, "record %d keeps nanoseconds", i)
	}
}

func TestSendGzip(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s := newSink(t, peer, nil, config.Map{"Forward_Compress": "gzip"})

	require.NoError(t, s.Send(testContext(t), testAlerts("a1", "a2")))

	messages := peer.Messages()
	require.Len(t, messages, 1)
	assert.Equal(t, forwardpeer.CompressedPackedForwardMode, messages[0].Mode)
	assert.Equal(t, "gzip", messages[0].Compressed)
	assert.NotEmpty(t, messages[0].Chunk)
	assert.Equal(t, map[string]int{"a1": 1, "a2": 1}, peer.Counts())
}

func TestSendSplitsByBatchSize(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s := newSink(t, peer, nil, config.Map{"Forward_Batch_Size": "2"})

	require.NoError(t, s.Send(testContext(t), testAlerts(ids(5)...)))

	messages := peer.Messages()
	require.Len(t, messages, 3)
	sizes := []int{messages[0].Size, messages[1].Size, messages[2].Size}
	assert.Equal(t, []int{2, 2, 1}, sizes)
	assert.NotEqual(t, messages[0].Chunk, messages[1].Chunk)
	assert.Len(t, peer.Counts(), 5)
}

func TestHandshakeAccepted(t *testing.T) {
	cases := []struct {
		name   string
		flavor forwardpeer.Flavor
		users  bool
	}{
		{"fluent bit", forwardpeer.FluentBit, false},
		{"fluentd", forwardpeer.Fluentd, false},
		{"fluent bit with users", forwardpeer.FluentBit, true},
		{"fluentd with users", forwardpeer.Fluentd, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := forwardpeer.Options{SharedKey: sharedKey, Flavor: c.flavor, Hostname: "aggregator"}
			keys := config.Map{"Forward_Shared_Key": sharedKey, "Forward_Self_Hostname": "edge-1"}
			if c.users {
				opts.Users = map[string]string{"other": "x", "alerts": password}
				keys["Forward_Username"] = "alerts"
				keys["Forward_Password"] = password
			}
			peer := startPeer(t, opts)
			log, logs := newLogger()
			s := newSink(t, peer, log, keys)

			err := s.Send(testContext(t), testAlerts("a1", "a2"))
			require.NoError(t, err)

			ok, rejected := peer.Handshakes()
			assert.Equal(t, 1, ok)
			assert.Zero(t, rejected)
			assert.Equal(t, map[string]int{"a1": 1, "a2": 1}, peer.Counts())
			assertNoSecret(t, err, logs.String())
		})
	}
}

func TestHandshakeRejected(t *testing.T) {
	cases := []struct {
		name      string
		flavor    forwardpeer.Flavor
		users     map[string]string
		keys      config.Map
		rejectKey bool
		badDigest bool
		wantErr   string
		wantLog   string
	}{
		{
			name:    "wrong key, fluentd answers with a reason",
			flavor:  forwardpeer.Fluentd,
			keys:    config.Map{"Forward_Shared_Key": "wrong-" + sharedKey},
			wantErr: forwardpeer.ReasonSharedKey,
			wantLog: `reason="` + forwardpeer.ReasonSharedKey + `"`,
		},
		{
			name:    "wrong key, fluent bit closes without pong",
			flavor:  forwardpeer.FluentBit,
			keys:    config.Map{"Forward_Shared_Key": "wrong-" + sharedKey},
			wantErr: "closed the connection after PING without PONG",
			wantLog: "closed the connection after PING without PONG",
		},
		{
			name:      "peer rejects the right key",
			flavor:    forwardpeer.Fluentd,
			keys:      config.Map{"Forward_Shared_Key": sharedKey},
			rejectKey: true,
			wantErr:   forwardpeer.ReasonSharedKey,
			wantLog:   "rejected the handshake",
		},
		{
			name:      "server digest made with another key",
			flavor:    forwardpeer.FluentBit,
			keys:      config.Map{"Forward_Shared_Key": sharedKey},
			badDigest: true,
			wantErr:   "invalid PONG digest",
			wantLog:   "does not match Forward_Shared_Key",
		},
		{
			name:    "wrong password",
			flavor:  forwardpeer.FluentBit,
			users:   map[string]string{"alerts": password},
			keys:    config.Map{"Forward_Shared_Key": sharedKey, "Forward_Username": "alerts", "Forward_Password": "wrong-" + password},
			wantErr: forwardpeer.ReasonUser,
			wantLog: `reason="` + forwardpeer.ReasonUser + `"`,
		},
		{
			name:    "unknown user",
			flavor:  forwardpeer.Fluentd,
			users:   map[string]string{"alerts": password},
			keys:    config.Map{"Forward_Shared_Key": sharedKey, "Forward_Username": "nobody", "Forward_Password": password},
			wantErr: forwardpeer.ReasonUser,
			wantLog: `reason="` + forwardpeer.ReasonUser + `"`,
		},
		{
			name:    "users required but none configured",
			flavor:  forwardpeer.FluentBit,
			users:   map[string]string{"alerts": password},
			keys:    config.Map{"Forward_Shared_Key": sharedKey},
			wantErr: forwardpeer.ReasonUser,
			wantLog: "rejected the handshake",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			peer := startPeer(t, forwardpeer.Options{SharedKey: sharedKey, Users: c.users, Flavor: c.flavor})
			peer.SetRejectKey(c.rejectKey)
			peer.SetBadDigest(c.badDigest)
			log, logs := newLogger()
			s := newSink(t, peer, log, c.keys)

			err := s.Send(testContext(t), testAlerts("a1"))

			require.Error(t, err)
			assert.Nil(t, sink.AsBatchError(err), "the whole batch is transient")
			assert.Contains(t, err.Error(), c.wantErr)
			assert.Contains(t, logs.String(), "level=ERROR")
			assert.Contains(t, logs.String(), c.wantLog)
			assert.Empty(t, peer.Records(), "no record may pass a failed handshake")
			assertNoSecret(t, err, logs.String())
		})
	}
}

func TestHandshakeDeniedKeepalive(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{SharedKey: sharedKey, DenyKeepalive: true})
	log, logs := newLogger()
	s := newSink(t, peer, log, config.Map{"Forward_Shared_Key": sharedKey, "Forward_Batch_Size": "1"})
	ctx := testContext(t)

	require.NoError(t, s.Send(ctx, testAlerts("a1", "a2")))
	require.NoError(t, s.Send(ctx, testAlerts("a3")))

	assert.Equal(t, 3, peer.Connections(), "one connection per message")
	assert.Len(t, peer.Counts(), 3)
	assert.Contains(t, logs.String(), "keepalive=false")
	assert.NotContains(t, logs.String(), "level=WARN")
}

func TestHandshakeRequiredButNoKey(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{SharedKey: sharedKey})
	log, logs := newLogger()
	s := newSink(t, peer, log, nil)

	err := s.Send(testContext(t), testAlerts("a1"))

	require.Error(t, err)
	assert.Contains(t, err.Error(), "Forward_Shared_Key")
	assertNoSecret(t, err, logs.String())
}

func TestHandshakeKeyButPeerHasNone(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s := newSink(t, peer, nil, config.Map{"Forward_Shared_Key": sharedKey, "Sink_Timeout": "300ms"})

	err := s.Send(testContext(t), testAlerts("a1"))

	require.Error(t, err)
	assert.Contains(t, err.Error(), "no HELO")
	assert.NotContains(t, err.Error(), sharedKey)
}

func TestDropBeforeAckResendsSameChunk(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	log, logs := newLogger()
	s := newSink(t, peer, log, nil)
	ctx := testContext(t)
	batch := testAlerts("a1", "a2")
	peer.DropBeforeAck(1)

	err := s.Send(ctx, batch)
	require.Error(t, err)
	assert.Nil(t, sink.AsBatchError(err), "the whole batch is transient")
	assert.Contains(t, err.Error(), "closed the connection before acking")
	assert.Contains(t, logs.String(), "level=WARN")

	require.NoError(t, s.Send(ctx, batch))

	messages := peer.Messages()
	require.Len(t, messages, 2)
	assert.Equal(t, messages[0].Chunk, messages[1].Chunk, "a resend carries the same chunk id")
	assert.Equal(t, map[string]int{"a1": 2, "a2": 2}, peer.Counts(), "at least once: the peer saw both copies")
	assert.Equal(t, 2, peer.Connections())
}

func TestAckPastTimeoutIsTransient(t *testing.T) {
	cases := []struct {
		name  string
		fault func(*forwardpeer.Peer)
		heal  func(*forwardpeer.Peer)
	}{
		{
			"late ack",
			func(p *forwardpeer.Peer) { p.SetAckDelay(10 * time.Second) },
			func(p *forwardpeer.Peer) { p.SetAckDelay(0) },
		},
		{
			"no ack",
			func(p *forwardpeer.Peer) { p.SetNoAck(true) },
			func(p *forwardpeer.Peer) { p.SetNoAck(false) },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			peer := startPeer(t, forwardpeer.Options{})
			s := newSink(t, peer, nil, config.Map{"Sink_Timeout": "300ms"})
			ctx := testContext(t)
			batch := testAlerts("a1")
			c.fault(peer)

			err := s.Send(ctx, batch)
			require.Error(t, err)
			assert.Nil(t, sink.AsBatchError(err))
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
			assert.Contains(t, err.Error(), "Sink_Timeout")

			c.heal(peer)
			require.NoError(t, s.Send(ctx, batch))
			messages := peer.Messages()
			require.Len(t, messages, 2)
			assert.Equal(t, messages[0].Chunk, messages[1].Chunk)
			assert.Equal(t, 2, peer.Count("a1"))
		})
	}
}

func TestPeerDownThenBack(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s := newSink(t, peer, nil, nil)
	ctx := testContext(t)
	require.NoError(t, s.Send(ctx, testAlerts("a1")))

	peer.Down()
	err := s.Send(ctx, testAlerts("b1"))
	require.Error(t, err)
	assert.Nil(t, sink.AsBatchError(err))
	assert.Contains(t, err.Error(), "connect to forward input")

	require.NoError(t, peer.Up())
	require.NoError(t, s.Send(ctx, testAlerts("b1")))
	assert.Equal(t, map[string]int{"a1": 1, "b1": 1}, peer.Counts())
}

func TestPeerRestartBetweenSends(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	log, logs := newLogger()
	s := newSink(t, peer, log, nil)
	ctx := testContext(t)
	require.NoError(t, s.Send(ctx, testAlerts("a1")))

	peer.Down()
	require.NoError(t, peer.Up())

	// The idle connection is dead; the sink notices before writing to it.
	require.NoError(t, s.Send(ctx, testAlerts("b1")))
	assert.Equal(t, map[string]int{"a1": 1, "b1": 1}, peer.Counts())
	assert.Equal(t, 2, peer.Connections())
	assert.Contains(t, logs.String(), "closed while idle")
}

func TestSendOverTLS(t *testing.T) {
	ca := newTestCA(t)
	cases := []struct {
		name      string
		sharedKey string
	}{
		{"tls only", ""},
		{"tls and handshake", sharedKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			peer := startPeer(t, forwardpeer.Options{TLS: ca.server, SharedKey: c.sharedKey})
			keys := config.Map{"Sink_TLS": "on", "Sink_TLS_CA_File": ca.caFile}
			if c.sharedKey != "" {
				keys["Forward_Shared_Key"] = c.sharedKey
			}
			s := newSink(t, peer, nil, keys)

			ctx := testContext(t)
			require.NoError(t, s.Send(ctx, testAlerts("a1")))
			require.NoError(t, s.Send(ctx, testAlerts("a2")))
			assert.Equal(t, map[string]int{"a1": 1, "a2": 1}, peer.Counts())
			assert.Equal(t, 1, peer.Connections(), "the TLS connection is reused")
		})
	}
}

func TestSendOverTLSRejectsUnknownCA(t *testing.T) {
	ca := newTestCA(t)
	other := newTestCA(t)
	peer := startPeer(t, forwardpeer.Options{TLS: ca.server})
	s := newSink(t, peer, nil, config.Map{"Sink_TLS": "on", "Sink_TLS_CA_File": other.caFile})

	err := s.Send(testContext(t), testAlerts("a1"))

	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate")
	assert.Empty(t, peer.Records())
}

func TestSendOverUnixSocket(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{UnixSocket: filepath.Join(t.TempDir(), "forward.sock")})
	s := newSink(t, peer, nil, nil)

	require.NoError(t, s.Send(testContext(t), testAlerts("a1")))
	assert.Equal(t, 1, peer.Count("a1"))
}

func TestSendWithoutAck(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	log, logs := newLogger()
	s := newSink(t, peer, log, config.Map{"Forward_Require_Ack": "off"})

	require.NoError(t, s.Send(testContext(t), testAlerts("a1", "a2")))

	require.True(t, peer.WaitRecords(2, 10*time.Second))
	messages := peer.Messages()
	require.Len(t, messages, 1)
	assert.Empty(t, messages[0].Chunk)
	assert.Contains(t, logs.String(), "Forward_Require_Ack is off")
}

func TestPartialFailureListsOnlyUnackedAlerts(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s := newSink(t, peer, nil, config.Map{"Forward_Batch_Size": "2"})
	ctx := testContext(t)
	seen := 0
	peer.SetReplyFunc(func(forwardpeer.Message) forwardpeer.Reply {
		seen++
		return forwardpeer.Reply{Drop: seen > 1}
	})
	batch := testAlerts("a0", "a1", "a2", "a3")

	err := s.Send(ctx, batch)

	be := sink.AsBatchError(err)
	require.NotNil(t, be, "the first message was acked, so the error lists alerts")
	require.Len(t, be.Items, 2)
	for i, item := range be.Items {
		assert.Equal(t, i+2, item.Index)
		assert.False(t, item.Permanent)
	}

	peer.SetReplyFunc(nil)
	require.NoError(t, s.Send(ctx, batch[2:]))
	assert.Equal(t, map[string]int{"a0": 1, "a1": 1, "a2": 2, "a3": 2}, peer.Counts())
}

func TestUnencodableAlertIsPermanent(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s := newSink(t, peer, nil, nil)
	batch := testAlerts("a0", "a1", "a2")
	batch[1].Timestamp = "not a time"

	err := s.Send(testContext(t), batch)

	be := sink.AsBatchError(err)
	require.NotNil(t, be)
	require.Len(t, be.Items, 1)
	assert.Equal(t, 1, be.Items[0].Index)
	assert.True(t, be.Items[0].Permanent)
	assert.Contains(t, be.Items[0].Reason, "@timestamp")
	assert.Equal(t, map[string]int{"a0": 1, "a2": 1}, peer.Counts())
}

func TestUnencodableAlertWithPeerDown(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	peer.Down()
	s := newSink(t, peer, nil, nil)
	batch := testAlerts("a0", "a1")
	batch[1].Timestamp = ""

	err := s.Send(testContext(t), batch)

	be := sink.AsBatchError(err)
	require.NotNil(t, be)
	require.Len(t, be.Items, 2)
	assert.Equal(t, sink.ItemError{Index: 0, Permanent: false, Reason: be.Items[0].Reason}, be.Items[0])
	assert.Contains(t, be.Items[0].Reason, "connect to forward input")
	assert.Equal(t, 1, be.Items[1].Index)
	assert.True(t, be.Items[1].Permanent)
}

func TestSendHonoursContext(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	peer.SetNoAck(true)
	s := newSink(t, peer, nil, config.Map{"Sink_Timeout": "1m"})
	ctx, cancel := context.WithCancel(testContext(t))
	time.AfterFunc(200*time.Millisecond, cancel)

	err := s.Send(ctx, testAlerts("a1"))

	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)

	peer.SetNoAck(false)
	require.NoError(t, s.Send(testContext(t), testAlerts("a1")), "the sink reconnects after a cancelled send")
}

func TestConcurrentSends(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s := newSink(t, peer, nil, nil)
	ctx := testContext(t)

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				errs <- s.Send(ctx, testAlerts(fmt.Sprintf("g%d-%d", g, i)))
			}
		}()
	}
	wg.Wait()
	close(errs)

	for err := range errs {
		assert.NoError(t, err)
	}
	counts := peer.Counts()
	assert.Len(t, counts, 40)
	for id, n := range counts {
		assert.Equal(t, 1, n, id)
	}
	assert.Equal(t, 1, peer.Connections())
}

func TestSendAfterClose(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	s := newSink(t, peer, nil, nil)
	ctx := testContext(t)
	require.NoError(t, s.Send(ctx, testAlerts("a1")))
	require.NoError(t, s.Close(ctx))

	err := s.Send(ctx, testAlerts("a2"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "closed")
}

func TestConfigValidation(t *testing.T) {
	long := string(make([]byte, 300))
	cases := []struct {
		name    string
		keys    config.Map
		wantErr string
	}{
		{"missing address", config.Map{}, "needs Forward_Address"},
		{"no port", config.Map{"Forward_Address": "127.0.0.1"}, "use host:port"},
		{"no host", config.Map{"Forward_Address": ":24224"}, "use host:port"},
		{"port out of range", config.Map{"Forward_Address": "127.0.0.1:70000"}, "1 to 65535"},
		{"port not a number", config.Map{"Forward_Address": "127.0.0.1:forward"}, "1 to 65535"},
		{"scheme", config.Map{"Forward_Address": "tcp://127.0.0.1:24224"}, "without a scheme"},
		{"relative unix path", config.Map{"Forward_Address": "unix://fluent.sock"}, "absolute path"},
		{"compression", config.Map{"Forward_Address": "127.0.0.1:24224", "Forward_Compress": "zstd"}, "Forward_Compress"},
		{"batch size zero", config.Map{"Forward_Address": "127.0.0.1:24224", "Forward_Batch_Size": "0"}, "Forward_Batch_Size"},
		{"batch size not a number", config.Map{"Forward_Address": "127.0.0.1:24224", "Forward_Batch_Size": "many"}, "Forward_Batch_Size"},
		{"require ack", config.Map{"Forward_Address": "127.0.0.1:24224", "Forward_Require_Ack": "maybe"}, "Forward_Require_Ack"},
		{"timeout", config.Map{"Forward_Address": "127.0.0.1:24224", "Sink_Timeout": "soon"}, "Sink_Timeout"},
		{"tls ca file", config.Map{"Forward_Address": "127.0.0.1:24224", "Sink_TLS": "on", "Sink_TLS_CA_File": "/nonexistent/ca.pem"}, "Sink_TLS_CA_File"},
		{"hostname too long", config.Map{"Forward_Address": "127.0.0.1:24224", "Forward_Self_Hostname": long}, "Forward_Self_Hostname"},
		{
			"username without password",
			config.Map{"Forward_Address": "127.0.0.1:24224", "Forward_Shared_Key": sharedKey, "Forward_Username": "alerts"},
			"set together",
		},
		{
			"password without username",
			config.Map{"Forward_Address": "127.0.0.1:24224", "Forward_Shared_Key": sharedKey, "Forward_Password": password},
			"set together",
		},
		{
			"user without shared key",
			config.Map{"Forward_Address": "127.0.0.1:24224", "Forward_Username": "alerts", "Forward_Password": password},
			"needs Forward_Shared_Key",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log, logs := newLogger()
			_, err := forward.New(sink.Options{Config: c.keys, Log: log})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.wantErr)
			assertNoSecret(t, err, logs.String())
		})
	}
}

func TestConfigLogHasNoSecret(t *testing.T) {
	log, logs := newLogger()
	s, err := forward.New(sink.Options{Log: log, Config: config.Map{
		"Forward_Address":    "127.0.0.1:24224",
		"Forward_Shared_Key": sharedKey,
		"Forward_Username":   "alerts",
		"Forward_Password":   password,
	}})
	require.NoError(t, err)
	defer s.Close(context.Background())

	assert.Contains(t, logs.String(), "shared_key=true")
	assertNoSecret(t, nil, logs.String())
}

var _ sink.Sink = (*forward.Sink)(nil)

func TestOutageLogsOnce(t *testing.T) {
	peer := startPeer(t, forwardpeer.Options{})
	log, logs := newLogger()
	s := newSink(t, peer, log, nil)
	ctx := testContext(t)
	peer.Down()

	for range 3 {
		require.Error(t, s.Send(ctx, testAlerts("a1")))
	}
	require.NoError(t, peer.Up())
	require.NoError(t, s.Send(ctx, testAlerts("a1")))

	text := logs.String()
	assert.Equal(t, 1, strings.Count(text, `level=WARN msg="cannot connect to the forward input"`))
	assert.Equal(t, 2, strings.Count(text, `level=DEBUG msg="cannot connect to the forward input"`))
	assert.Contains(t, text, `msg="the forward input accepts alerts again" sink=forward address=`+peer.ForwardAddress()+` failed_attempts=3`)
}
