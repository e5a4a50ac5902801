// Package hunt runs the plugin's detection over archived logs: files,
// folders, gzip files or standard input, in CEF with any framing the plugin
// reads or as JSON lines. It packs the lines into chunks as Fluent Bit's
// tail input would and sends them through the same pipeline.Output as the
// plugin, so that a retro-hunt raises exactly the alerts the plugin would
// raise on the same lines.
package hunt

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	jsoniter "github.com/json-iterator/go"

	"github.com/edgehunt/runningrat/chunk"
	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/pipeline"
	"github.com/edgehunt/runningrat/sink"
)

// Options configure a hunt.
type Options struct {
	// Settings are plugin keys (Detection_Mode, Alert_Format, Message_Key,
	// Sink and its keys); Spool_Dir is set by the hunt.
	Settings config.Map
	// Workers is the number of chunks checked at once; 0 means one per CPU.
	Workers int
	// Out receives the alerts when Settings has no Sink.
	Out io.Writer
	// Log receives the plugin's log lines.
	Log *slog.Logger
	// Now stamps records that carry no time of their own.
	Now time.Time
	// Progress, when set, receives a progress line twice a second, each
	// starting with a carriage return so that a terminal shows one line.
	Progress io.Writer
}

// maxLine is the longest line read; in_tail's default Buffer_Max_Size is
// far smaller, so anything longer is not a log line the plugin would see.
const maxLine = 16 << 20

// chunkSize is the size at which a chunk is cut, about 2 MB as in_tail does.
const chunkSize = 2_000_000

// Summary describes a finished hunt.
type Summary struct {
	Files   int              `json:"files"`
	Records int64            `json:"records"`
	Skipped map[string]int64 `json:"skipped"`
	// Alerts is how many alerts were raised. Delivered, AlertsByRule,
	// AlertsByVerdict, TopSources and the alert times count those the sink
	// took, and Undelivered counts those left in the spool.
	Alerts          int64            `json:"alerts"`
	Delivered       int64            `json:"delivered"`
	Undelivered     int64            `json:"undelivered"`
	AlertsByRule    map[string]int64 `json:"alerts_by_rule"`
	AlertsByVerdict map[string]int64 `json:"alerts_by_verdict"`
	TopSources      []SourceCount    `json:"top_sources"`
	FirstAlert      string           `json:"first_alert,omitempty"`
	LastAlert       string           `json:"last_alert,omitempty"`
	Duration        string           `json:"duration"`
}

// SourceCount is how many alerts a source IP raised.
type SourceCount struct {
	SourceIP string `json:"source_ip"`
	Alerts   int64  `json:"alerts"`
}

// Run hunts through inputs (paths, or "-" for standard input) and returns
// the summary. An error means an input could not be read or the
// configuration is invalid; alerts found before it were still written.
func Run(ctx context.Context, inputs []string, opts Options) (Summary, error) {
	started := time.Now()
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Workers <= 0 {
		opts.Workers = max(1, runtimeCPUs())
	}

	settings := config.Map{}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	// Without Spool_Dir the spool lives in a temporary folder, removed at
	// the end unless alerts are left in it.
	spoolDir := settings.Get("Spool_Dir")
	removeSpool := false
	if spoolDir == "" {
		dir, err := os.MkdirTemp("", "runningrat-hunt-")
		if err != nil {
			return Summary{}, err
		}
		spoolDir, removeSpool = dir, true
		settings["Spool_Dir"] = spoolDir
	}

	out, tally, err := newOutput(settings, opts)
	if err != nil {
		if removeSpool {
			os.RemoveAll(spoolDir)
		}
		return Summary{}, err
	}

	stopProgress := startProgress(opts.Progress, out, tally)
	files, readErr := feed(ctx, inputs, opts, out)
	stopProgress()
	closeErr := out.Close(context.Background())

	stats := out.Stats()
	summary := tally.summary()
	summary.Files = files
	summary.Records = stats.Records
	summary.Skipped = stats.Skipped
	summary.Alerts = stats.ExactAlerts + stats.ExtendedAlerts
	summary.Undelivered = out.Undelivered()
	summary.Duration = time.Since(started).Round(time.Millisecond).String()

	var deliveryErr error
	switch {
	case summary.Undelivered > 0:
		deliveryErr = fmt.Errorf("%d alerts were not delivered to the sink and are kept in the spool in %s: "+
			"once the sink is reachable, run the hunt again with the same -p settings, -p Spool_Dir=%s and /dev/null as the input to send them",
			summary.Undelivered, spoolDir, spoolDir)
	case removeSpool:
		os.RemoveAll(spoolDir)
	}
	return summary, errors.Join(readErr, closeErr, deliveryErr)
}

func newOutput(settings config.Map, opts Options) (*pipeline.Output, *tally, error) {
	cfg, err := pipeline.LoadConfig(settings)
	if err != nil {
		return nil, nil, err
	}
	ruleSet, err := pipeline.LoadRules(settings, opts.Log)
	if err != nil {
		return nil, nil, err
	}

	var s sink.Sink
	if settings.Get("Sink") == "" {
		s = sink.NewWriter(opts.Out, cfg.AlertFormat.Or("native"))
	} else {
		s, err = sink.New(cfg.Sink, sink.Options{Config: settings, Log: opts.Log, Format: cfg.AlertFormat})
		if err != nil {
			return nil, nil, err
		}
	}
	t := &tally{sink: s, byRule: map[string]int64{}, byVerdict: map[string]int64{}, bySource: map[string]int64{}}
	out, err := pipeline.NewWithRules(cfg, ruleSet, t, opts.Log)
	return out, t, err
}

// feed reads every input, packs its lines into chunks and flushes them on
// opts.Workers goroutines.
func feed(ctx context.Context, inputs []string, opts Options, out *pipeline.Output) (int, error) {
	chunks := make(chan fileChunk, opts.Workers)
	var wg sync.WaitGroup
	var flushErr error
	var mu sync.Mutex
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range chunks {
				if status := out.Flush(c.data, c.tag); status != pipeline.OK {
					mu.Lock()
					flushErr = fmt.Errorf("a chunk could not be checked (status %d): see the log", status)
					mu.Unlock()
				}
			}
		}()
	}

	files := 0
	var readErr error
	for _, input := range inputs {
		err := eachFile(input, func(name string, r io.Reader) error {
			files++
			return packLines(ctx, name, r, opts, chunks)
		})
		if err != nil {
			readErr = errors.Join(readErr, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(chunks)
	wg.Wait()
	return files, errors.Join(readErr, flushErr)
}

// eachFile calls fn for input: standard input for "-", every regular file
// under a folder, or the file itself, gunzipped when its name ends in .gz.
func eachFile(input string, fn func(name string, r io.Reader) error) error {
	if input == "-" {
		return fn("stdin", os.Stdin)
	}
	info, err := os.Stat(input)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return openFile(input, fn)
	}
	return filepath.WalkDir(input, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return openFile(path, fn)
	})
}

func openFile(path string, fn func(name string, r io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()

	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	if err := fn(path, r); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// fileChunk is a chunk of one file's lines. Its tag, which log lines and
// alerts show, is "FILE:LINE" with the number of the chunk's first line, so
// that a record numbered N in the chunk (from 0) is line LINE+N.
type fileChunk struct {
	data []byte
	tag  string
}

// packLines turns lines into chunk entries: a JSON object line becomes a
// record with its string fields, any other line a record {"log": line}.
func packLines(ctx context.Context, name string, r io.Reader, opts Options, chunks chan<- fileChunk) error {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64<<10), maxLine)
	var data []byte
	var keys, values []string
	lineNumber, firstLine := 0, 1
	for scanner.Scan() {
		lineNumber++
		line := scanner.Bytes()
		keys, values = keys[:0], values[:0]
		if len(line) > 0 && line[0] == '{' {
			keys, values = jsonFields(line, keys, values)
		}
		if len(keys) == 0 {
			keys, values = append(keys, "log"), append(values, string(line))
		}
		data = chunk.Encoder{}.Append(data, opts.Now, keys, values)
		if len(data) >= chunkSize {
			select {
			case chunks <- fileChunk{data: data, tag: fmt.Sprintf("%s:%d", name, firstLine)}:
			case <-ctx.Done():
				return ctx.Err()
			}
			data, firstLine = nil, lineNumber+1
		}
	}
	if len(data) > 0 {
		chunks <- fileChunk{data: data, tag: fmt.Sprintf("%s:%d", name, firstLine)}
	}
	return scanner.Err()
}

// jsonFields reads a flat JSON object's string, number and boolean values.
// A line that is not such an object yields no keys and is read as text.
func jsonFields(line []byte, keys, values []string) ([]string, []string) {
	var object map[string]any
	if err := jsoniter.Unmarshal(line, &object); err != nil {
		return keys, values
	}
	names := make([]string, 0, len(object))
	for k := range object {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch v := object[k].(type) {
		case string:
			keys, values = append(keys, k), append(values, v)
		case float64, bool:
			keys, values = append(keys, k), append(values, fmt.Sprint(v))
		}
	}
	return keys, values
}

// tally is a sink that counts the alerts it passes on.
type tally struct {
	sink sink.Sink

	mu        sync.Mutex
	alerts    int64
	byRule    map[string]int64
	byVerdict map[string]int64
	bySource  map[string]int64
	first     string
	last      string
}

func (t *tally) Send(ctx context.Context, alerts []detect.Alert) error {
	if err := t.sink.Send(ctx, alerts); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range alerts {
		a := &alerts[i]
		t.alerts++
		t.byRule[a.Rule.Name]++
		t.byVerdict[a.Verdict]++
		if src := a.Event.Get("SourceIP"); src != "" {
			t.bySource[src]++
		}
		if t.first == "" || a.Timestamp < t.first {
			t.first = a.Timestamp
		}
		if a.Timestamp > t.last {
			t.last = a.Timestamp
		}
	}
	return nil
}

func (t *tally) Close(ctx context.Context) error { return t.sink.Close(ctx) }

// topSources is how many sources the summary lists.
const topSources = 10

func (t *tally) summary() Summary {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Summary{Delivered: t.alerts, AlertsByRule: t.byRule, AlertsByVerdict: t.byVerdict,
		FirstAlert: t.first, LastAlert: t.last}
	for ip, n := range t.bySource {
		s.TopSources = append(s.TopSources, SourceCount{SourceIP: ip, Alerts: n})
	}
	sort.Slice(s.TopSources, func(i, j int) bool {
		if s.TopSources[i].Alerts != s.TopSources[j].Alerts {
			return s.TopSources[i].Alerts > s.TopSources[j].Alerts
		}
		return s.TopSources[i].SourceIP < s.TopSources[j].SourceIP
	})
	if len(s.TopSources) > topSources {
		s.TopSources = s.TopSources[:topSources]
	}
	return s
}

// progressInterval is how often the progress line is redrawn.
const progressInterval = 500 * time.Millisecond

// startProgress draws "records N, alerts M" on w until the returned
// function is called, which also ends the line.
func startProgress(w io.Writer, out *pipeline.Output, t *tally) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ticker := time.NewTicker(progressInterval)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintln(w)
				return
			case <-ticker.C:
				t.mu.Lock()
				alerts := t.alerts
				t.mu.Unlock()
				fmt.Fprintf(w, "\rrecords %d, alerts %d", out.Stats().Records, alerts)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
