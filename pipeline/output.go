// Package pipeline is one output instance of the plugin, in plain Go: it
// walks each flushed chunk, turns records into CEF records, evaluates the
// rule, spools the alerts of the flush and runs their delivery to the sink. The cgo shim in
// package plugin only translates Fluent Bit's calls into calls of Output.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgehunt/runningrat/cef"
	"github.com/edgehunt/runningrat/chunk"
	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/delivery"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/rollup"
	"github.com/edgehunt/runningrat/sink"
	"github.com/edgehunt/runningrat/spool"
)

// Status is a flush result, mapped one to one onto Fluent Bit's codes.
type Status int

const (
	// Error drops the chunk. The plugin never returns it for bad records,
	// which are skipped one by one.
	Error Status = iota
	// OK means every alert of the chunk is safe in the spool.
	OK
	// Retry makes Fluent Bit hand the same chunk over again later.
	Retry
)

// Output is one configured instance. Flush is safe for concurrent use, as
// Fluent Bit's Workers setting requires. A flush only appends its alerts to
// the spool. A Deliverer sends them to the sink on its own goroutine, so a
// slow or failing sink never blocks Fluent Bit's log flow.
type Output struct {
	cfg Config
	// rules is swapped whole when Rules_Path changes, so that a flush uses
	// one consistent set.
	rules     atomic.Pointer[[]*detect.Compiled]
	stopWatch chan struct{}
	watchDone chan struct{}
	sink      sink.Sink
	spool     *spool.Spool
	deliverer *delivery.Deliverer
	log       *slog.Logger
	skips     *skipLog
	fullLog   *skipLog // rate-limits the spool-full warning
	workers   sync.Pool
	// roller folds repeats when Suppress_Window is set; nil otherwise.
	roller     *rollup.Roller
	stopRollup chan struct{}
	rollupDone chan struct{}
	// releaseSpool frees the spool name for another instance.
	releaseSpool func()
	closer       sync.Once
	// undelivered is the number of alerts left in the spool when Close
	// stopped delivery.
	undelivered atomic.Int64

	records       atomic.Int64
	exactAlerts   atomic.Int64
	extendedAlert atomic.Int64
	spoolFull     atomic.Int64
}

// New builds an instance whose sink is configured from g.
func New(cfg Config, g config.Getter, log *slog.Logger) (*Output, error) {
	watcher, ruleSet, err := loadRules(g, log)
	if err != nil {
		return nil, err
	}

	s, err := sink.New(cfg.Sink, sink.Options{Config: g, Log: log, Format: cfg.AlertFormat})
	if err != nil {
		return nil, err
	}
	o, err := NewWithRules(cfg, ruleSet, s, log)
	if err != nil {
		s.Close(context.Background())
		return nil, err
	}
	if watcher.path != "" && cfg.RulesWatchInterval > 0 {
		o.stopWatch, o.watchDone = make(chan struct{}), make(chan struct{})
		go o.watchRules(watcher)
	}
	return o, nil
}

// LoadRules compiles the shipped rules that Rules selects (all by default)
// and the rule files at Rules_Path. A rule file that fails to compile is
// logged and left out; having no rule at all is an error.
func LoadRules(g config.Getter, log *slog.Logger) ([]*detect.Compiled, error) {
	_, compiled, err := loadRules(g, log)
	return compiled, err
}

// loadRules is LoadRules that also returns the watcher of Rules_Path.
func loadRules(g config.Getter, log *slog.Logger) (*ruleWatcher, []*detect.Compiled, error) {
	w, err := newRuleWatcher(g, log)
	if err != nil {
		return nil, nil, err
	}
	compiled, err := w.compile()
	if err != nil {
		return nil, nil, err
	}
	for _, c := range compiled {
		log.Info("rule loaded", "rule_id", c.Rule.ID, "name", c.Rule.Name, "severity", c.Rule.Severity)
	}
	return w, compiled, nil
}

// NewWithSink builds an instance around a sink the caller made. It opens
// the spool, reports what it recovered, and starts delivery, which first
// sends the alerts left from before a restart.
func NewWithSink(cfg Config, rule *detect.Compiled, s sink.Sink, log *slog.Logger) (*Output, error) {
	return NewWithRules(cfg, []*detect.Compiled{rule}, s, log)
}

// NewWithRules is NewWithSink for several rules: every record is checked
// against each of them.
func NewWithRules(cfg Config, ruleSet []*detect.Compiled, s sink.Sink, log *slog.Logger) (*Output, error) {
	release, err := claimSpoolName(&cfg)
	if err != nil {
		return nil, err
	}
	spoolPath, deadPath := cfg.spoolPaths()
	sp, rec, err := spool.Open(spoolPath, spool.Options{MaxBytes: cfg.SpoolMaxSize, NoSync: !cfg.SpoolSync}, log)
	if err != nil {
		release()
		return nil, err
	}
	if rec.Damaged {
		lost := "an unknown number of alerts may be lost"
		if rec.Lost >= 0 {
			lost = fmt.Sprintf("%d alerts lost", rec.Lost)
		}
		log.Error("the spool was damaged and has been rebuilt", "spool", spoolPath, "damage", rec.Reason,
			"recovered_alerts", rec.Recovered, "lost", lost, "damaged_file_kept_at", rec.MovedTo)
	}
	log.Info("spool ready", "spool", spoolPath, "dead_letter_file", deadPath, "queued_alerts", sp.Len())
	if n := sp.Len(); n > 0 {
		log.Info("delivering alerts left in the spool", "spool", spoolPath, "alerts", n)
	}

	o := &Output{
		cfg: cfg, sink: s, spool: sp, log: log, releaseSpool: release,
		skips:   newSkipLog(log, cfg.SkipLogInterval),
		fullLog: newSkipLog(log, cfg.SkipLogInterval),
	}
	o.deliverer = delivery.New(delivery.Config{
		BatchSize: cfg.DeliveryBatchSize,
		RetryMax:  cfg.RetryMaxWait,
		SinkName:  cfg.Sink,
		Linger:    cfg.DeliveryLinger,
	}, sp, s, delivery.NewDeadLetter(deadPath), log)
	o.workers.New = func() any { return new(worker) }
	o.rules.Store(&ruleSet)

	if cfg.SuppressWindow > 0 {
		o.roller, err = rollup.Open(cfg.SuppressWindow, cfg.SuppressBy, sp)
		if err != nil {
			sp.Close()
			release()
			return nil, err
		}
		o.stopRollup, o.rollupDone = make(chan struct{}), make(chan struct{})
		go o.rollupLoop()
	}
	o.deliverer.Start()
	return o, nil
}

// watchRules reloads the rule files when they change and swaps the new
// set in; a set that fails to compile leaves the old one running.
func (o *Output) watchRules(w *ruleWatcher) {
	defer close(o.watchDone)
	ticker := time.NewTicker(o.cfg.RulesWatchInterval)
	defer ticker.Stop()
	for {
		select {
		case <-o.stopWatch:
			return
		case <-ticker.C:
			o.reloadRules(w)
		}
	}
}

// reloadRules swaps in the rules of changed files. A rule file is input that
// anyone with write access to Rules_Path controls, and a panic in this
// goroutine would stop Fluent Bit, so a panic while compiling is logged and
// the loaded rules keep running.
func (o *Output) reloadRules(w *ruleWatcher) {
	defer func() {
		if p := recover(); p != nil {
			o.log.Error("recovered from a panic while reloading rules; the loaded rules keep running",
				"path", w.path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()

	if !w.scan() {
		return
	}
	compiled, err := w.compile()
	if err != nil {
		o.log.Error("the changed rules do not compile; the loaded rules keep running", "error", err)
		return
	}
	o.rules.Store(&compiled)
	o.log.Info("rules reloaded", "rules", len(compiled))
}

// rollupLoop spools the roll-up alerts of the windows that ended. It checks
// ten times per window, and at least once a second.
func (o *Output) rollupLoop() {
	defer close(o.rollupDone)
	ticker := time.NewTicker(min(time.Second, max(o.cfg.SuppressWindow/10, 10*time.Millisecond)))
	defer ticker.Stop()
	for {
		select {
		case <-o.stopRollup:
			return
		case now := <-ticker.C:
			o.spoolRollups(now)
		}
	}
}

func (o *Output) spoolRollups(now time.Time) {
	rollups, keys := o.roller.Due(now)
	if len(keys) == 0 {
		return
	}
	if len(rollups) > 0 {
		values := make([][]byte, 0, len(rollups))
		for i := range rollups {
			line, err := rollups[i].AppendJSON(nil)
			if err != nil {
				o.log.Error("encoding a roll-up alert failed", "alert_id", rollups[i].ID, "error", err)
				return
			}
			values = append(values, line)
		}
		// A full spool takes the roll-ups later: the windows stay until then.
		if err := o.spool.Append(values); err != nil {
			o.fullLog.warn(now, spoolFullKind, "rollup", "spooling roll-up alerts failed, will retry: "+err.Error())
			return
		}
		o.deliverer.Notify()
	}
	if err := o.roller.Commit(keys); err != nil {
		o.log.Error("saving the roll-up state failed; its roll-ups may be sent twice", "error", err)
	}
}

// worker holds the buffers of one flush in progress. Nothing in it outlives
// the flush: a retried chunk starts from scratch.
type worker struct {
	reader  chunk.Reader
	entry   chunk.Entry
	rec     cef.Record
	match   detect.Match
	alerts  []detect.Alert
	scratch []byte
	// ident is the ident field that Fluent Bit's syslog parsers write, or
	// nil: such a record's message may have lost its "CEF:".
	ident []byte
	// now is when the flush started: the time of its skip log lines.
	now time.Time
}

// Flush checks every record of one chunk and delivers the alerts it raised.
// Records that cannot be read are skipped, counted and logged; the rest of
// the chunk is still checked. It returns Retry when the sink fails, so that
// Fluent Bit keeps the chunk.
func (o *Output) Flush(data []byte, tag string) Status {
	w := o.workers.Get().(*worker)
	defer o.workers.Put(w)
	w.alerts = w.alerts[:0]
	w.now = time.Now()

	// Counted once per flush: an atomic add per record would bounce a cache
	// line between workers.
	records := 0
	defer func() { o.records.Add(int64(records)) }()

	w.reader.Reset(data)
	for {
		ok, err := w.reader.Next(&w.entry)
		if !ok {
			break
		}
		records++
		if err != nil {
			o.skips.record(w.now, skipBadEntry, tag, w.entry.Index, err.Error(), nil)
			continue
		}
		o.checkEntry(w, tag)
	}
	if err := w.reader.Err(); err != nil {
		o.skips.record(w.now, skipChunkTruncate, tag, -1, err.Error(), nil)
	}

	if len(w.alerts) == 0 {
		return OK
	}
	return o.spoolAlerts(w, tag)
}

// spoolAlerts appends the flush's alerts to the spool in one transaction
// (synced to the disk with Spool_Sync full). Only then may the flush
// return OK, because Fluent Bit drops the chunk after that.
func (o *Output) spoolAlerts(w *worker, tag string) Status {
	if o.roller != nil {
		send, err := o.roller.Filter(w.alerts, time.Now())
		if err != nil {
			o.log.Error("counting repeats failed, asking Fluent Bit to retry the chunk", "tag", tag, "error", err)
			return Retry
		}
		w.alerts = send
		if len(w.alerts) == 0 {
			return OK
		}
	}

	values := make([][]byte, len(w.alerts))
	for i := range w.alerts {
		line, err := w.alerts[i].AppendJSON(nil)
		if err != nil {
			o.log.Error("encoding an alert failed, asking Fluent Bit to retry the chunk", "tag", tag, "alert_id", w.alerts[i].ID, "error", err)
			return Retry
		}
		values[i] = line
	}

	switch err := o.spool.Append(values); {
	case errors.Is(err, spool.ErrFull):
		o.spoolFull.Add(1)
		o.fullLog.warn(w.now, spoolFullKind, tag, fmt.Sprintf(
			"the spool holds %d bytes of undelivered alerts, Spool_Max_Size is %d: asking Fluent Bit to retry the chunk until the sink catches up",
			o.spool.Bytes(), o.cfg.SpoolMaxSize))
		return Retry
	case err != nil:
		o.log.Error("spooling alerts failed, asking Fluent Bit to retry the chunk", "tag", tag, "alerts", len(values), "error", err)
		return Retry
	}

	for i := range w.alerts {
		if w.alerts[i].Verdict == detect.ExactMatch.String() {
			o.exactAlerts.Add(1)
		} else {
			o.extendedAlert.Add(1)
		}
	}
	o.deliverer.Notify()
	return OK
}

// checkEntry evaluates one record. A panic, which would kill the whole
// agent in a c-shared library, is turned into a skipped record.
func (o *Output) checkEntry(w *worker, tag string) {
	defer func() {
		if p := recover(); p != nil {
			o.skips.record(w.now, skipPanic, tag, w.entry.Index, fmt.Sprint("recovered from panic: ", p), nil)
		}
	}()

	message, kind := o.classify(w)
	switch kind {
	case rawLine:
		o.checkMessage(w, tag, message, w.ident)
	case splitFields:
		o.checkFields(w, tag)
	default:
		o.skips.record(w.now, skipNoMessage, tag, w.entry.Index, o.noMessageDetail(), nil)
	}
}

type recordKind uint8

const (
	noCEF recordKind = iota
	rawLine
	splitFields
)

// isSplitFieldKey reports whether key marks a record whose CEF fields were
// split before they reached the plugin: a rule column under its CEF or
// CommonSecurityLog name. A switch, because a map lookup hashes every key
// of every record.
func isSplitFieldKey(key []byte) bool {
	switch string(key) {
	case "request", "RequestURL", "requestMethod", "RequestMethod":
		return true
	}
	return false
}

// classify decides how to read a record. A split record has a rule column
// as a key. Otherwise the first message key present holds a raw line.
func (o *Output) classify(w *worker) ([]byte, recordKind) {
	keys := o.cfg.messageKeys()
	w.ident = nil

	// One text field under a message key, as in_tail writes: a raw line,
	// whatever the key, without the general walk below.
	if key, text, ok := chunk.SingleText(w.entry.Record); ok {
		for _, k := range keys {
			if string(key) == k {
				if k == "ident" {
					w.ident = text // as the walk below does
				}
				return text, rawLine
			}
		}
	}

	bestRank := len(keys)
	var message []byte
	split := false

	fields := chunk.NewFields(w.entry.Record)
	for {
		key, text, isText, ok := fields.NextText()
		if !ok {
			break
		}
		if isSplitFieldKey(key) {
			split = true
		}
		if !isText {
			continue
		}
		if string(key) == "ident" {
			w.ident = text
		}
		for rank := 0; rank < bestRank; rank++ {
			if string(key) == keys[rank] {
				bestRank, message = rank, text
				break
			}
		}
	}

	switch {
	case o.cfg.MessageKey != "" && message != nil:
		return message, rawLine
	case split:
		return nil, splitFields
	case message != nil:
		return message, rawLine
	}
	return nil, noCEF
}

func (o *Output) noMessageDetail() string {
	return fmt.Sprintf("record has no text under %v and no CEF fields (request, requestMethod, RequestURL, RequestMethod)", o.cfg.messageKeys())
}

// checkMessage evaluates each line of a raw message. Every line is checked
// for a CEF header, so that non-CEF input is counted. Only lines that a
// rule's prefilter cannot rule out are parsed in full.
//
// Fluent Bit's syslog-rfc3164 parser drops everything up to the first ':'
// after the ident: "host CEF:0|Vendor|..." gives the ident "CEF" and the
// message "0|Vendor|...", and an RFC 5424 line "host app 123 - - CEF:0|..."
// loses "- - CEF:" in the same way. In a record with an ident, a line that
// starts with a digit and has no header gets its "CEF:" back when that makes
// a valid header, or always when the ident is "CEF".
func (o *Output) checkMessage(w *worker, tag string, message, ident []byte) {
	for len(message) > 0 {
		var line []byte
		line, message = cef.CutLine(message)
		if isBlank(line) {
			continue
		}

		err := cef.CheckHeader(line)
		if err == cef.ErrNoHeader && ident != nil && '0' <= line[0] && line[0] <= '9' {
			w.scratch = append(append(w.scratch[:0], "CEF:"...), line...)
			restored := cef.CheckHeader(w.scratch)
			if restored == nil || string(ident) == "CEF" && restored != cef.ErrNoHeader {
				line, err = w.scratch, restored
			}
		}
		if err != nil {
			o.skips.record(w.now, skipReasonFor(err), tag, w.entry.Index, err.Error(), line)
			continue
		}
		if !o.mayMatch(line) {
			continue
		}
		if err := w.rec.ParseLine(line); err != nil {
			o.skips.record(w.now, skipReasonFor(err), tag, w.entry.Index, err.Error(), line)
			continue
		}
		o.evaluate(w, tag, line)
	}
}

// checkFields evaluates a record whose CEF fields were already split.
// Numbers and booleans are read as the text a log column would show.
func (o *Output) checkFields(w *worker, tag string) {
	w.rec.ResetFields()
	w.scratch = w.scratch[:0]

	fields := chunk.NewFields(w.entry.Record)
	for {
		key, value, ok := fields.Next()
		if !ok {
			break
		}
		if key == nil || value.Kind == chunk.Other {
			continue
		}
		if value.Kind == chunk.Text {
			w.rec.AddField(key, value.Bytes)
			continue
		}
		// Earlier slices keep their backing array when append grows it.
		start := len(w.scratch)
		w.scratch = value.AppendText(w.scratch)
		w.rec.AddField(key, w.scratch[start:len(w.scratch):len(w.scratch)])
	}
	if err := fields.Err(); err != nil {
		o.skips.record(w.now, skipBadEntry, tag, w.entry.Index, err.Error(), nil)
		return
	}
	o.evaluate(w, tag, nil)
}

// mayMatch reports whether any rule's prefilter lets the line through.
func (o *Output) mayMatch(line []byte) bool {
	for _, rule := range *o.rules.Load() {
		if rule.MayMatch(line, o.cfg.Mode) {
			return true
		}
	}
	return false
}

func (o *Output) evaluate(w *worker, tag string, raw []byte) {
	for _, rule := range *o.rules.Load() {
		if rule.Evaluate(&w.rec, o.cfg.Mode, &w.match) == detect.NoMatch {
			continue
		}
		alert := rule.NewAlert(&w.rec, &w.match, detect.Source{Time: w.entry.Time, Tag: tag, Raw: raw})
		w.alerts = append(w.alerts, alert)
		o.log.Debug("alert raised", "tag", tag, "record", w.entry.Index, "rule", rule.Rule.ID,
			"alert_id", alert.ID, "verdict", alert.Verdict)
	}
}

func skipReasonFor(err error) string {
	switch err {
	case cef.ErrShortHeader:
		return skipShortHeader
	case cef.ErrVersion:
		return skipVersion
	}
	return skipNotCEF
}

func isBlank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// Stats are an instance's counters since it started.
type Stats struct {
	Records        int64
	ExactAlerts    int64
	ExtendedAlerts int64
	SpoolFull      int64
	Skipped        map[string]int64
	Delivery       delivery.Stats
}

// Stats returns the current counters.
func (o *Output) Stats() Stats {
	return Stats{
		Records:        o.records.Load(),
		ExactAlerts:    o.exactAlerts.Load(),
		ExtendedAlerts: o.extendedAlert.Load(),
		SpoolFull:      o.spoolFull.Load(),
		Skipped:        o.skips.totals(),
		Delivery:       o.deliverer.Stats(),
	}
}

// Undelivered returns the number of alerts that Close left in the spool, or
// 0 before Close.
func (o *Output) Undelivered() int64 {
	return o.undelivered.Load()
}

// Close gives delivery Shutdown_Timeout to empty the spool, then stops it
// and closes the sink and the spool. Alerts not yet delivered stay in the
// spool and are sent after the next start.
func (o *Output) Close(ctx context.Context) error {
	var err error
	o.closer.Do(func() { err = o.close(ctx) })
	return err
}

func (o *Output) close(ctx context.Context) error {
	if o.stopWatch != nil {
		close(o.stopWatch)
		<-o.watchDone
	}
	if o.roller != nil {
		close(o.stopRollup)
		<-o.rollupDone
		o.spoolRollups(time.Now())
	}
	left := o.deliverer.Stop(o.cfg.ShutdownTimeout)
	o.undelivered.Store(int64(left))
	s := o.Stats()
	o.log.Info("stopping", "records", s.Records, "exact_alerts", s.ExactAlerts,
		"extended_alerts", s.ExtendedAlerts, "delivered", s.Delivery.Delivered,
		"dead_lettered", s.Delivery.DeadLettered, "failed_delivery_batches", s.Delivery.FailedBatches,
		"spool_full_retries", s.SpoolFull,
		"left_in_spool", left, "skipped", FormatCounts(s.Skipped))
	if left > 0 {
		o.log.Warn("alerts left in the spool will be delivered after the next start",
			"alerts", left, "spool", o.spool.Path())
	}

	err := o.sink.Close(ctx)
	if cerr := o.spool.Close(); err == nil {
		err = cerr
	}
	o.releaseSpool()
	return err
}
