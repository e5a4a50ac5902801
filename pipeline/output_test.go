package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/chunk"
	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/internal/casefile"
	"github.com/edgehunt/runningrat/sink"
)

// captureSink records what it is sent and fails while err is set.
type captureSink struct {
	mu     sync.Mutex
	alerts []detect.Alert
	err    error
	closed bool
}

func (s *captureSink) Send(_ context.Context, alerts []detect.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.alerts = append(s.alerts, alerts...)
	return nil
}

func (s *captureSink) Close(context.Context) error {
	s.closed = true
	return nil
}

func (s *captureSink) sent() []detect.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]detect.Alert(nil), s.alerts...)
}

// newOutput builds an instance with a capturing sink and a spool in a
// temporary folder. The instance is closed when the test ends.
func newOutput(t testing.TB, settings config.Map) (*Output, *captureSink, *lockedWriter) {
	t.Helper()
	s := &captureSink{}
	out, logs := newOutputWithSink(t, settings, s)
	return out, s, logs
}

func newOutputWithSink(t testing.TB, settings config.Map, s sink.Sink) (*Output, *lockedWriter) {
	t.Helper()
	if _, ok := settings["Spool_Dir"]; !ok {
		settings["Spool_Dir"] = t.TempDir()
	}
	cfg, err := LoadConfig(settings)
	require.NoError(t, err)
	rule, err := detect.Compile(&detect.RunningRAT)
	require.NoError(t, err)

	logs := &lockedWriter{w: &bytes.Buffer{}}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	out, err := NewWithSink(cfg, rule, s, log)
	require.NoError(t, err)
	t.Cleanup(func() { out.Close(context.Background()) })
	return out, logs
}

// waitDelivered waits until delivery has emptied the spool. The wait is
// bounded: a sink that never takes the alerts fails the test.
func waitDelivered(t testing.TB, out *Output) {
	t.Helper()
	require.Eventually(t, func() bool { return out.spool.Len() == 0 }, 10*time.Second, time.Millisecond)
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

var when = time.Date(2025, 5, 14, 10, 21, 7, 123456789, time.UTC)

func lineChunk(enc chunk.Encoder, key string, lines ...string) []byte {
	var data []byte
	for _, l := range lines {
		data = enc.Append(data, when, []string{key}, []string{l})
	}
	return data
}

const zscalerHit = "May 14 10:21:07 zscaler-nss CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|act=Allowed dst=203.0.113.10 src=192.0.2.25 request=cdn.example.com/ui/chk?mactok=7f3a requestMethod=GET"
const benign = "May 14 10:21:07 zscaler-nss CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|act=Allowed request=cdn.example.com/index.html requestMethod=GET"

// TestCorpusThroughFlush runs every corpus case through a real chunk, in
// both modes, the way Fluent Bit delivers it.
func TestCorpusThroughFlush(t *testing.T) {
	cases, err := casefile.Load()
	require.NoError(t, err)

	for _, mode := range []string{"exact", "extended"} {
		for _, c := range cases {
			t.Run(mode+"/"+c.ID, func(t *testing.T) {
				out, s, _ := newOutput(t, config.Map{"Detection_Mode": mode, "Delivery_Linger": "0"})
				var data []byte
				if c.Kind == "fields" {
					keys := c.FieldKeys()
					values := make([]string, len(keys))
					for i, k := range keys {
						values[i] = c.Fields[k]
					}
					data = chunk.Encoder{}.Append(nil, when, keys, values)
				} else {
					data = chunk.Encoder{}.Append(nil, when, []string{"log"}, []string{string(c.Line)})
				}

				require.Equal(t, OK, out.Flush(data, "fw.test"))
				waitDelivered(t, out)
				want := c.Exact || mode == "extended" && c.Extended
				if !want {
					assert.Empty(t, s.sent())
					return
				}
				require.Len(t, s.sent(), 1)
				a := s.sent()[0]
				if c.Exact {
					assert.Equal(t, "exact", a.Verdict)
				} else {
					assert.Equal(t, "extended", a.Verdict)
					assert.Equal(t, c.Reasons, a.ExtendedReasons)
				}
				assert.Equal(t, "fw.test", a.FluentBit.Tag)
				assert.Equal(t, "2025-05-14T10:21:07.123456789Z", a.Timestamp)
			})
		}
	}
}

func TestFlushEncodings(t *testing.T) {
	tests := []struct {
		name string
		enc  chunk.Encoder
		key  string
		when time.Time
	}{
		{"v2 EventTime str under log", chunk.Encoder{}, "log", when},
		{"v2 map32 metadata under message", chunk.Encoder{Map32Metadata: true}, "message", when},
		{"v1 integer time bin under msg", chunk.Encoder{Layout: chunk.LayoutV1, Time: chunk.IntSeconds, Binary: true}, "msg", when.Truncate(time.Second)},
		{"v1 float time", chunk.Encoder{Layout: chunk.LayoutV1, Time: chunk.FloatSeconds}, "log", when},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, s, _ := newOutput(t, config.Map{})
			data := lineChunk(tt.enc, tt.key, benign, zscalerHit, benign)
			require.Equal(t, OK, out.Flush(data, "fw.zscaler"))
			waitDelivered(t, out)
			require.Len(t, s.sent(), 1)
			got, err := time.Parse(time.RFC3339Nano, s.sent()[0].Timestamp)
			require.NoError(t, err)
			assert.WithinDuration(t, tt.when, got, time.Microsecond)
			assert.Equal(t, int64(3), out.Stats().Records)
		})
	}
}

func TestFlushMessageKeyPriority(t *testing.T) {
	out, s, _ := newOutput(t, config.Map{})
	data := chunk.Encoder{}.Append(nil, when, []string{"msg", "log"}, []string{benign, zscalerHit})
	require.Equal(t, OK, out.Flush(data, "t"))
	waitDelivered(t, out)
	assert.Len(t, s.sent(), 1, "log wins over msg")
}

func TestFlushConfiguredMessageKey(t *testing.T) {
	out, s, _ := newOutput(t, config.Map{"Message_Key": "raw"})
	data := chunk.Encoder{}.Append(nil, when, []string{"log", "raw"}, []string{benign, zscalerHit})
	require.Equal(t, OK, out.Flush(data, "t"))
	waitDelivered(t, out)
	assert.Len(t, s.sent(), 1)
}

func TestFlushSkipsBadRecordsAndKeepsTheRest(t *testing.T) {
	out, s, logs := newOutput(t, config.Map{})

	data := lineChunk(chunk.Encoder{}, "log", "not a CEF line at all", "CEF:0|V|P|1")
	data = append(data, 0x92, 0x01, 0x02) // an entry whose record is not a map
	data = chunk.Encoder{}.Append(data, when, []string{"other"}, []string{"x"})
	data = append(data, lineChunk(chunk.Encoder{}, "log", zscalerHit)...)

	require.Equal(t, OK, out.Flush(data, "fw.mixed"))
	waitDelivered(t, out)
	assert.Len(t, s.sent(), 1)
	assert.Equal(t, map[string]int64{
		skipNotCEF: 1, skipShortHeader: 1, skipBadEntry: 1, skipNoMessage: 1,
	}, out.Stats().Skipped)
	assert.Contains(t, logs.String(), "tag=fw.mixed record=0 reason=not_cef")
	assert.Contains(t, logs.String(), "record=2 reason=malformed_entry")
}

func TestFlushTruncatedChunkKeepsEarlierAlerts(t *testing.T) {
	out, s, _ := newOutput(t, config.Map{})
	data := lineChunk(chunk.Encoder{}, "log", zscalerHit, zscalerHit+" x=1")
	require.Equal(t, OK, out.Flush(data[:len(data)-10], "t"))
	waitDelivered(t, out)
	assert.Len(t, s.sent(), 1)
	assert.Equal(t, int64(1), out.Stats().Skipped[skipChunkTruncate])
}

func TestFlushRawLineFeedSplitsEvents(t *testing.T) {
	out, s, _ := newOutput(t, config.Map{})
	require.Equal(t, OK, out.Flush(lineChunk(chunk.Encoder{}, "log", benign+"\n"+zscalerHit+"\n"), "t"))
	waitDelivered(t, out)
	assert.Len(t, s.sent(), 1)
}

func TestFlushSplitRecordWithNumbers(t *testing.T) {
	out, s, _ := newOutput(t, config.Map{})
	var data []byte
	data = append(data, 0x92, 0x92, 0xd7, 0x00, 0, 0, 0, 1, 0, 0, 0, 0, 0x80)
	data = append(data, 0x83)
	data = appendStr(data, "RequestMethod")
	data = appendStr(data, "GET")
	data = appendStr(data, "RequestURL")
	data = appendStr(data, "/ui/chk")
	data = appendStr(data, "spt")
	data = append(data, 0xcd, 0xc9, 0x38) // uint16 51512
	require.Equal(t, OK, out.Flush(data, "t"))
	waitDelivered(t, out)
	require.Len(t, s.sent(), 1)
}

func appendStr(b []byte, s string) []byte {
	return append(append(b, 0xa0|byte(len(s))), s...)
}

func TestFlushSpoolsWhileSinkFails(t *testing.T) {
	s := &captureSink{err: errors.New("disk full")}
	out, logs := newOutputWithSink(t, config.Map{"Delivery_Retry_Max_Wait": "1s"}, s)
	data := lineChunk(chunk.Encoder{}, "log", zscalerHit)

	assert.Equal(t, OK, out.Flush(data, "t"), "a failing sink does not hold up the flush")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "disk full") }, 5*time.Second, time.Millisecond)
	assert.Equal(t, 1, out.spool.Len(), "the alert waits in the spool")

	s.mu.Lock()
	s.err = nil
	s.mu.Unlock()
	waitDelivered(t, out)
	require.Len(t, s.sent(), 1)
}

func TestFlushRetriesWhenSpoolIsFull(t *testing.T) {
	s := &captureSink{err: errors.New("sink down")}
	out, logs := newOutputWithSink(t, config.Map{"Spool_Max_Size": "2K"}, s)
	data := lineChunk(chunk.Encoder{}, "log", zscalerHit)

	assert.Equal(t, OK, out.Flush(data, "t"))
	assert.Equal(t, Retry, out.Flush(data, "t"), "a second alert of about 1.6 KB does not fit in 2 KB")
	assert.Contains(t, logs.String(), "Spool_Max_Size is 2048")
	assert.Equal(t, int64(1), out.Stats().SpoolFull)

	s.mu.Lock()
	s.err = nil
	s.mu.Unlock()
	waitDelivered(t, out)
	assert.Equal(t, OK, out.Flush(data, "t"), "the retried chunk fits once the spool drained")
}

func TestFlushSameRecordSameAlertID(t *testing.T) {
	out, s, _ := newOutput(t, config.Map{})
	data := lineChunk(chunk.Encoder{}, "log", zscalerHit)
	for range 2 {
		require.Equal(t, OK, out.Flush(data, "t"))
	}
	waitDelivered(t, out)
	require.Len(t, s.sent(), 2)
	assert.Equal(t, s.sent()[0].ID, s.sent()[1].ID)
}

func TestCloseLeavesUndeliveredAlertsForNextStart(t *testing.T) {
	dir := t.TempDir()
	settings := config.Map{"Spool_Dir": dir, "Spool_Name": "restart", "Shutdown_Timeout": "100ms"}
	down := &captureSink{err: errors.New("connection refused")}
	out, logs := newOutputWithSink(t, settings, down)
	require.Equal(t, OK, out.Flush(lineChunk(chunk.Encoder{}, "log", zscalerHit, zscalerHit+" n=2"), "t"))
	require.NoError(t, out.Close(context.Background()))
	assert.Contains(t, logs.String(), "alerts left in the spool will be delivered after the next start")

	up := &captureSink{}
	restarted, _ := newOutputWithSink(t, settings, up)
	waitDelivered(t, restarted)
	assert.Len(t, up.sent(), 2)
}

func TestFlushIsSafeForConcurrentWorkers(t *testing.T) {
	out, s, _ := newOutput(t, config.Map{})
	data := lineChunk(chunk.Encoder{}, "log", benign, zscalerHit, benign)

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				assert.Equal(t, OK, out.Flush(data, "t"))
			}
		}()
	}
	wg.Wait()
	waitDelivered(t, out)
	assert.Len(t, s.sent(), 400)
	assert.Equal(t, int64(400), out.Stats().ExtendedAlerts+out.Stats().ExactAlerts)
}

func TestSkipLogRateLimits(t *testing.T) {
	logs := &bytes.Buffer{}
	sl := newSkipLog(slog.New(slog.NewTextHandler(logs, nil)), time.Minute)
	now := time.Unix(0, 0)

	for range 5 {
		sl.record(now, skipNotCEF, "t", 1, "no header", []byte("x"))
	}
	now = now.Add(2 * time.Minute)
	sl.record(now, skipNotCEF, "t", 2, "no header", nil)

	assert.Equal(t, 2, strings.Count(logs.String(), "record skipped"))
	assert.Contains(t, logs.String(), "suppressed_since_last_line=4")
	assert.Equal(t, int64(6), sl.totals()[skipNotCEF])
}

func TestSpoolSyncSetting(t *testing.T) {
	tests := []struct {
		value string
		sync  bool
	}{
		{"", false},
		{"normal", false},
		{"full", true},
		{"Full", true},
	}
	for _, tt := range tests {
		t.Run("Spool_Sync="+tt.value, func(t *testing.T) {
			cfg, err := LoadConfig(config.Map{"Spool_Sync": tt.value})
			require.NoError(t, err)
			assert.Equal(t, tt.sync, cfg.SpoolSync)
		})
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name     string
		settings config.Map
		err      string
	}{
		{"defaults", config.Map{}, ""},
		{"file sink", config.Map{"sink": "File", "path": "/tmp/x"}, ""},
		{"bad mode", config.Map{"Detection_Mode": "fuzzy"}, `invalid detection mode "fuzzy"`},
		{"bad format", config.Map{"Alert_Format": "xml"}, `invalid Alert_Format "xml"`},
		{"bad level", config.Map{"Plugin_Log_Level": "loud"}, `invalid Plugin_Log_Level "loud"`},
		{"bad interval", config.Map{"Skip_Log_Interval": "often"}, `invalid Skip_Log_Interval "often"`},
		{"bad spool name", config.Map{"Spool_Name": "../x"}, `invalid Spool_Name "../x"`},
		{"bad spool size", config.Map{"Spool_Max_Size": "0"}, `invalid Spool_Max_Size 0`},
		{"bad batch size", config.Map{"Delivery_Batch_Size": "0"}, `invalid Delivery_Batch_Size 0`},
		{"spool sync full", config.Map{"Spool_Sync": "Full"}, ""},
		{"bad spool sync", config.Map{"Spool_Sync": "always"}, `invalid Spool_Sync "always"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig(tt.settings)
			if tt.err != "" {
				assert.ErrorContains(t, err, tt.err)
				return
			}
			assert.NoError(t, err)
		})
	}

	cfg, err := LoadConfig(config.Map{})
	require.NoError(t, err)
	assert.Equal(t, "stdout", cfg.Sink)
	assert.Equal(t, detect.Extended, cfg.Mode)
	assert.Equal(t, slog.LevelInfo, cfg.LogLevel)
	assert.Equal(t, time.Minute, cfg.SkipLogInterval)
	assert.Equal(t, DefaultSpoolDir(), cfg.SpoolDir)
	assert.Regexp(t, `^stdout-[0-9a-f]{12}$`, cfg.SpoolName)
	assert.Equal(t, int64(256<<20), cfg.SpoolMaxSize)
	assert.Equal(t, 5*time.Second, cfg.ShutdownTimeout)
}

func TestDefaultSpoolNameIgnoresSinkCase(t *testing.T) {
	names := map[string]bool{}
	for _, settings := range []config.Map{{}, {"Sink": "stdout"}, {"Sink": "STDOUT"}, {"sink": " Stdout "}} {
		cfg, err := LoadConfig(settings)
		require.NoError(t, err)
		names[cfg.SpoolName] = true
	}
	assert.Len(t, names, 1)

	a, _ := LoadConfig(config.Map{"Sink": "file", "Path": "/a"})
	b, _ := LoadConfig(config.Map{"Sink": "file", "Path": "/b"})
	assert.NotEqual(t, a.SpoolName, b.SpoolName, "different destinations get different spools")
}

func TestNewRejectsUnknownSink(t *testing.T) {
	cfg, err := LoadConfig(config.Map{"Sink": "kafka"})
	require.NoError(t, err)
	_, err = New(cfg, config.Map{}, slog.New(slog.DiscardHandler))
	assert.ErrorContains(t, err, `invalid Sink "kafka": use one of elasticsearch, file, forward, splunk, stdout`)
}

// FuzzFlush feeds arbitrary chunks to Flush: whatever Fluent Bit hands
// over, a flush must return without panicking and never drop the chunk.
func FuzzFlush(f *testing.F) {
	f.Add(lineChunk(chunk.Encoder{}, "log", zscalerHit, benign))
	f.Add(lineChunk(chunk.Encoder{Layout: chunk.LayoutV1, Time: chunk.IntSeconds, Binary: true}, "message", zscalerHit))
	f.Add(chunk.Encoder{}.Append(nil, when, []string{"RequestMethod", "RequestURL"}, []string{"get", "/ui%2Fchk"}))

	cfg, err := LoadConfig(config.Map{})
	if err != nil {
		f.Fatal(err)
	}
	rule, err := detect.Compile(&detect.RunningRAT)
	if err != nil {
		f.Fatal(err)
	}
	cfg.SpoolDir = f.TempDir()
	out, err := NewWithSink(cfg, rule, &captureSink{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	defer out.Close(context.Background())

	f.Fuzz(func(t *testing.T, data []byte) {
		if status := out.Flush(data, "fuzz"); status != OK {
			t.Fatalf("Flush returned %d", status)
		}
		if n := out.Stats().Skipped[skipPanic]; n > 0 {
			t.Fatalf("%d records panicked", n)
		}
	})
}

// TestFlushRestoresCEFDroppedBySyslogParser checks records as Fluent Bit's
// syslog-rfc3164 parser makes them, which lose the "CEF:" of their line.
func TestFlushRestoresCEFDroppedBySyslogParser(t *testing.T) {
	keys := []string{"pri", "time", "host", "ident", "message"}
	tests := []struct {
		name, host, ident, message string
		vendor                     string // DeviceVendor of the alert, "" for none
		skipped                    string // reason of the skipped record, if any
	}{
		{
			name: "CEF read as the ident", host: "proxy01", ident: "CEF",
			message: "0|ExampleVendor|ExampleProxy|1.0|100|web request|3|requestMethod=GET request=/ui/chk",
			vendor:  "ExampleVendor",
		},
		{
			// "<134>1 2025-05-14T10:23:09Z gw01 CheckPoint 7712 - - CEF:0|...":
			// an RFC 5424 line, whose "- - CEF:" the parser drops.
			name: "RFC 5424 line through the RFC 3164 parser", host: "CheckPoint", ident: "7712",
			message: "0|Check Point|URL Filtering|Check Point|Log|http|Unknown|requestMethod=GET request=/ui/chk?mactok=1",
			vendor:  "Check Point",
		},
		{
			name: "truncated header after CEF as the ident", host: "proxy01", ident: "CEF",
			message: "0|ExampleVendor|ExampleProxy",
			skipped: skipShortHeader,
		},
		{
			name: "other program starting with a digit", host: "host01", ident: "cron",
			message: "2 jobs run|request=/ui/chk",
			skipped: skipNotCEF,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, s, _ := newOutput(t, config.Map{})
			data := chunk.Encoder{}.Append(nil, when, keys, []string{"134", "May 14 10:21:07", tt.host, tt.ident, tt.message})

			require.Equal(t, OK, out.Flush(data, "fw.syslog"))

			if tt.skipped != "" {
				assert.Equal(t, int64(1), out.Stats().Skipped[tt.skipped])
				return
			}
			waitDelivered(t, out)
			require.Len(t, s.sent(), 1)
			assert.Equal(t, tt.vendor, s.sent()[0].Event.Get("DeviceVendor"))
		})
	}
}

// A line that starts like a CEF header body but comes without a syslog
// parser's ident is not CEF: only a parser drops "CEF:".
// With Message_Key ident, a one-field record takes the fast path in
// classify, which must treat it as the general walk does.
func TestFlushMessageKeyIdent(t *testing.T) {
	out, s, _ := newOutput(t, config.Map{"Message_Key": "ident"})
	data := lineChunk(chunk.Encoder{}, "ident", "0|V|P|1|2|n|3|requestMethod=GET request=/ui/chk")

	require.Equal(t, OK, out.Flush(data, "fw.syslog"))

	waitDelivered(t, out)
	assert.Len(t, s.sent(), 1)
}

func TestFlushLeavesHeaderlessLineWithoutIdent(t *testing.T) {
	out, s, _ := newOutput(t, config.Map{})
	data := lineChunk(chunk.Encoder{}, "message", "0|V|P|1|2|n|3|requestMethod=GET request=/ui/chk")

	require.Equal(t, OK, out.Flush(data, "fw.tcp"))

	assert.Equal(t, int64(1), out.Stats().Skipped[skipNotCEF])
	assert.Empty(t, s.sent())
}

func TestSuppressWindowRollsUpRepeats(t *testing.T) {
	out, s, _ := newOutput(t, config.Map{"Suppress_Window": "300ms"})
	for range 4 {
		require.Equal(t, OK, out.Flush(lineChunk(chunk.Encoder{}, "log", zscalerHit), "t"))
	}
	waitDelivered(t, out)
	require.Len(t, s.sent(), 1, "the first hit goes at once")
	assert.Nil(t, s.sent()[0].Rollup)

	require.Eventually(t, func() bool { return len(s.sent()) == 2 }, 10*time.Second, 10*time.Millisecond)
	rollupAlert := s.sent()[1]
	require.NotNil(t, rollupAlert.Rollup)
	assert.Equal(t, int64(3), rollupAlert.Rollup.Count)
	assert.Equal(t, []string{"SourceIP", "RequestURL"}, rollupAlert.Rollup.By)
}

func TestSuppressByRejectsUnknownColumn(t *testing.T) {
	_, err := LoadConfig(config.Map{"Suppress_Window": "1m", "Suppress_By": "SourceIP,Nope"})
	assert.ErrorContains(t, err, `invalid Suppress_By column "Nope"`)
}

func TestRulesPathAddsRulesAndSkipsBrokenOnes(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "beacon.yaml"), []byte(`id: 00000000-0000-4000-8000-000000000001
name: Test beacon path
severity: Medium
tactics: [CommandAndControl]
relevantTechniques: [T1071.001]
query: |
  CommonSecurityLog
  | where RequestURL has_any ('beacon.php')
`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.yml"), []byte("id: x\nname: broken\nquery: CommonSecurityLog | where RequestURL hasprefix 'x'\n"), 0o600))

	alerts := filepath.Join(t.TempDir(), "alerts.json")
	settings := config.Map{"Sink": "file", "Path": alerts, "Rules_Path": dir, "Spool_Dir": t.TempDir()}
	cfg, err := LoadConfig(settings)
	require.NoError(t, err)
	logs := &lockedWriter{w: &bytes.Buffer{}}
	out, err := New(cfg, settings, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, err)

	data := lineChunk(chunk.Encoder{}, "log", zscalerHit,
		"CEF:0|V|P|1|2|n|3|requestMethod=POST request=cdn.example.com/beacon.php?id=1")
	require.Equal(t, OK, out.Flush(data, "t"))
	require.NoError(t, out.Close(context.Background()))

	text, err := os.ReadFile(alerts)
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(string(text), "\n"))
	assert.Contains(t, string(text), `"name":"Test beacon path"`)
	assert.Contains(t, string(text), `"name":"RunningRAT request parameters"`)
	assert.Contains(t, logs.String(), "rule file rejected")
	assert.Contains(t, logs.String(), `operator \"hasprefix\" is not supported`)
}

func TestRulesNoneWithoutPathFails(t *testing.T) {
	settings := config.Map{"Rules": "none", "Spool_Dir": t.TempDir()}
	cfg, err := LoadConfig(settings)
	require.NoError(t, err)
	_, err = New(cfg, settings, slog.New(slog.DiscardHandler))
	assert.ErrorContains(t, err, "no detection rule to run")
}

func TestRulesPathIsWatched(t *testing.T) {
	dir := t.TempDir()
	ruleFile := filepath.Join(dir, "watch.yaml")
	writeRule := func(needle string, when time.Time) {
		body := "id: 00000000-0000-4000-8000-0000000000aa\nname: Watched rule\nseverity: Low\nquery: |\n  CommonSecurityLog\n  | where RequestURL " + needle + "\n"
		require.NoError(t, os.WriteFile(ruleFile, []byte(body), 0o600))
		require.NoError(t, os.Chtimes(ruleFile, when, when))
	}
	writeRule("has_any ('first.php')", time.Unix(1_000_000, 0))

	alerts := filepath.Join(t.TempDir(), "alerts.json")
	settings := config.Map{"Sink": "file", "Path": alerts, "Rules": "none", "Rules_Path": dir,
		"Rules_Watch_Interval": "20ms", "Spool_Dir": t.TempDir()}
	cfg, err := LoadConfig(settings)
	require.NoError(t, err)
	logs := &lockedWriter{w: &bytes.Buffer{}}
	out, err := New(cfg, settings, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, err)
	defer out.Close(context.Background())

	flush := func(url string) {
		require.Equal(t, OK, out.Flush(lineChunk(chunk.Encoder{}, "log", "CEF:0|V|P|1|2|n|3|request="+url), "t"))
		waitDelivered(t, out)
	}
	count := func() int {
		text, _ := os.ReadFile(alerts)
		return strings.Count(string(text), "\n")
	}

	flush("/first.php")
	assert.Equal(t, 1, count())

	writeRule("has_any ('second.php')", time.Unix(2_000_000, 0))
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "rules reloaded") }, 10*time.Second, 10*time.Millisecond)
	flush("/first.php")
	flush("/second.php")
	assert.Equal(t, 2, count(), "the new version replaced the old one")

	writeRule("hasprefix 'x'", time.Unix(3_000_000, 0))
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "its previous version keeps running") }, 10*time.Second, 10*time.Millisecond)
	flush("/second.php")
	assert.Equal(t, 3, count(), "a broken file leaves its last good version running")
}

func TestRollupCountsSurviveRestart(t *testing.T) {
	settings := config.Map{"Suppress_Window": "300ms", "Spool_Dir": t.TempDir(), "Spool_Name": "rollup-restart"}
	first := &captureSink{}
	out, _ := newOutputWithSink(t, settings, first)
	for range 3 {
		require.Equal(t, OK, out.Flush(lineChunk(chunk.Encoder{}, "log", zscalerHit), "t"))
	}
	waitDelivered(t, out)
	require.NoError(t, out.Close(context.Background()))
	require.Len(t, first.sent(), 1, "only the first hit went before the restart")

	second := &captureSink{}
	newOutputWithSink(t, settings, second)
	require.Eventually(t, func() bool { return len(second.sent()) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.NotNil(t, second.sent()[0].Rollup)
	assert.Equal(t, int64(2), second.sent()[0].Rollup.Count)
}
