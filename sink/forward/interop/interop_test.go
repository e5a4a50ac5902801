package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/fluentforwardreceiver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
	"github.com/edgehunt/runningrat/sink"
	"github.com/edgehunt/runningrat/sink/forward"
)

// tagAttribute is where the receiver puts the forward tag of a record.
const tagAttribute = "fluent.tag"

var baseTime = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)

func testAlerts(n int) []detect.Alert {
	out := make([]detect.Alert, n)
	for i := range out {
		ts := baseTime.Add(time.Duration(i) * (time.Second + time.Nanosecond))
		out[i] = detect.Alert{
			Timestamp:       ts.Format(detect.TimeLayout),
			ID:              fmt.Sprintf("alert-%d", i),
			Rule:            detect.RuleRef{ID: "rule-1", Name: "RunningRAT beacon", Version: "1.0.0", Severity: "High"},
			Verdict:         "extended",
			ExtendedReasons: []string{"uri"},
			Event: detect.Columns{
				{Name: "RequestURL", Value: "http://bad.example/ui/chk?a=1&b=2"},
				{Name: "SourceIP", Value: "10.0.0.5"},
			},
			Tags:      []string{"POLONIUM"},
			Entities:  []detect.Entity{},
			FluentBit: detect.FluentBitInfo{Tag: "cef.fw"},
		}
	}
	return out
}

// startReceiver runs the collector's fluentforwardreceiver on endpoint
// and returns the consumer that collects what it receives. The receiver
// acks a chunk only after the consumer took it.
func startReceiver(t *testing.T, endpoint string) *consumertest.LogsSink {
	t.Helper()
	factory := fluentforwardreceiver.NewFactory()
	cfg := factory.CreateDefaultConfig().(*fluentforwardreceiver.Config)
	cfg.ListenAddress = endpoint
	logs := new(consumertest.LogsSink)

	rcv, err := factory.CreateLogs(context.Background(), receivertest.NewNopSettings(factory.Type()), cfg, logs)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { rcv.Shutdown(context.Background()) })
	return logs
}

// freeLoopbackPort returns a port of 127.0.0.1 that was free a moment ago.
// The receiver does not expose its listener, so port 0 would leave the
// test without the port it got.
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func logRecords(logs *consumertest.LogsSink) []plog.LogRecord {
	var out []plog.LogRecord
	for _, l := range logs.AllLogs() {
		for _, rl := range l.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, r := range sl.LogRecords().All() {
					out = append(out, r)
				}
			}
		}
	}
	return out
}

// jsonValue returns v as encoding/json decodes it, so that values from
// msgpack, pdata and JSON compare equal.
func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

func TestSinkAgainstFluentForwardReceiver(t *testing.T) {
	cases := []struct {
		name     string
		unix     bool
		compress string
		format   format.Format
		batch    string
	}{
		{name: "tcp", compress: "none", format: format.Native, batch: "500"},
		{name: "tcp gzip", compress: "gzip", format: format.Native, batch: "500"},
		{name: "unix socket", unix: true, compress: "none", format: format.Native, batch: "500"},
		{name: "unix socket gzip split", unix: true, compress: "gzip", format: format.Native, batch: "2"},
		{name: "ecs", unix: true, compress: "none", format: format.ECS, batch: "500"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			endpoint := freeLoopbackPort(t)
			address := endpoint
			if c.unix {
				endpoint = "unix://" + filepath.Join(t.TempDir(), "forward.sock")
				address = endpoint
			}
			logs := startReceiver(t, endpoint)

			s, err := forward.New(sink.Options{Format: c.format, Config: config.Map{
				"Forward_Address":    address,
				"Forward_Compress":   c.compress,
				"Forward_Batch_Size": c.batch,
				"Sink_Timeout":       "10s",
			}})
			require.NoError(t, err)
			defer s.Close(context.Background())

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			alerts := testAlerts(5)
			require.NoError(t, s.Send(ctx, alerts), "the receiver acked every chunk")

			records := logRecords(logs)
			require.Len(t, records, len(alerts))
			for i, r := range records {
				attrs := r.Attributes().AsRaw()
				assert.Equal(t, forward.DefaultTag, attrs[tagAttribute])
				assert.Equal(t, baseTime.Add(time.Duration(i)*(time.Second+time.Nanosecond)), r.Timestamp().AsTime().UTC(),
					"EventTime keeps nanoseconds")

				// The receiver moves a "message" field to the body and the
				// rest to attributes.
				delete(attrs, tagAttribute)
				if body := r.Body().AsRaw(); body != nil {
					attrs["message"] = body
				}
				doc := format.Document(c.format, &alerts[i])
				assert.Equal(t, jsonValue(t, doc), jsonValue(t, attrs))
			}
		})
	}
}
