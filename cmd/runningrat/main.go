// Command runningrat hunts for RunningRAT in archived logs with the same
// detection as the Fluent Bit plugin.
//
// Usage:
//
//	runningrat hunt [flags] PATH...
//	runningrat test-rules RULE_FILE...
//
// PATH is a file, a folder (read recursively), a .gz file, or - for
// standard input. Lines are CEF with any syslog framing the plugin reads, or
// JSON objects (a record already split into fields, or one holding the raw
// line under log, message or msg). Alerts go to standard output as JSON
// lines; the summary goes to standard error. The exit status is 0 when no
// alert was raised, 1 when at least one was, 2 on an error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"

	jsoniter "github.com/json-iterator/go"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/hunt"
	"github.com/edgehunt/runningrat/internal/flbconf"
	"github.com/edgehunt/runningrat/internal/flblog"
	"github.com/edgehunt/runningrat/pipeline"
	"github.com/edgehunt/runningrat/rules"
)

const (
	exitNoAlerts = 0
	exitAlerts   = 1
	exitError    = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// settingFlags collects repeated -p KEY=VALUE flags.
type settingFlags config.Map

func (s settingFlags) String() string { return "" }

// set replaces key, ignoring case as Fluent Bit does, so that a flag
// overrides a -p setting that spells the key differently.
func (s settingFlags) set(key, value string) {
	for k := range s {
		if strings.EqualFold(k, key) {
			delete(s, k)
		}
	}
	s[key] = value
}

func (s settingFlags) Set(v string) error {
	key, value, ok := strings.Cut(v, "=")
	if !ok || key == "" {
		return fmt.Errorf("invalid setting %q: use KEY=VALUE", v)
	}
	s[key] = value
	return nil
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "test-rules" {
		return testRules(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "hunt" {
		usage := "usage: runningrat hunt [flags] PATH...   (runningrat hunt -h for the flags)\n" +
			"       runningrat test-rules RULE_FILE..."
		if len(args) == 1 && isHelp(args[0]) {
			fmt.Fprintln(stdout, usage)
			return exitNoAlerts
		}
		fmt.Fprintln(stderr, usage)
		return exitError
	}

	fs := flag.NewFlagSet("hunt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "", "detection mode: exact (Sentinel's verdicts only) or extended (default: -p Detection_Mode, else extended)")
	alertFormat := fs.String("format", "", "alert shape: native, ecs or splunk (default: -p Alert_Format, else the sink's own)")
	workers := fs.Int("workers", 0, "chunks checked at once (0: one per CPU)")
	summaryFormat := fs.String("summary", "table", "summary on standard error: table, json or none")
	logLevel := fs.String("log-level", "warn", "level of the plugin's log lines: debug, info, warn or error")
	settings := settingFlags{}
	fs.Var(settings, "p", "plugin setting KEY=VALUE, as in an [OUTPUT] section (repeatable), e.g. -p Sink=file -p Path=alerts.json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: runningrat hunt [flags] PATH...\n\nPATH is a file, a folder, a .gz file or - for standard input.\nExit status: 0 no alert, 1 alerts, 2 error.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitNoAlerts
		}
		return exitError
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "runningrat hunt: missing PATH: give files, folders, .gz files or - for standard input")
		return exitError
	}
	if *summaryFormat != "table" && *summaryFormat != "json" && *summaryFormat != "none" {
		fmt.Fprintf(stderr, "runningrat hunt: invalid -summary %q: use table, json or none\n", *summaryFormat)
		return exitError
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "runningrat hunt: invalid -log-level %q: use debug, info, warn or error\n", *logLevel)
		return exitError
	}

	if err := checkSettingKeys(settings, stderr); err != nil {
		fmt.Fprintf(stderr, "runningrat hunt: %v\n", err)
		return exitError
	}

	// A flag that is given overrides -p for the same key. A flag left unset
	// leaves -p alone.
	if *mode != "" {
		settings.set("Detection_Mode", *mode)
	}
	if *alertFormat != "" {
		settings.set("Alert_Format", *alertFormat)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	opts := hunt.Options{
		Settings: config.Map(settings),
		Workers:  *workers,
		Out:      stdout,
		Log:      slog.New(flblog.New(stderr, "hunt", level)),
	}
	if *summaryFormat != "none" && isTerminal(stderr) {
		opts.Progress = stderr
	}
	summary, err := hunt.Run(ctx, fs.Args(), opts)
	// A run that failed before it started, on a bad setting, has no summary.
	if summary.Duration != "" {
		printSummary(stderr, *summaryFormat, summary)
	}

	switch {
	case err != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "runningrat hunt: interrupted; the alerts above were found before it")
		return exitError
	case err != nil:
		fmt.Fprintf(stderr, "runningrat hunt: %v\n", err)
		return exitError
	case summary.Alerts > 0:
		return exitAlerts
	}
	return exitNoAlerts
}

// checkSettingKeys rejects a -p key that the plugin does not read, with the
// nearest known key, as the plugin does for its section in Fluent Bit. Fluent
// Bit's own output keys (Match, Workers, tls.*), which an [OUTPUT] section
// copied into -p flags holds, are accepted with a warning: nothing in a
// hunt reads them.
func checkSettingKeys(settings settingFlags, stderr io.Writer) error {
	var unknown []string
	for key := range settings {
		if slices.ContainsFunc(pipeline.Keys, func(k string) bool { return strings.EqualFold(k, key) }) {
			continue
		}
		if flbconf.IsFluentBitKey(key) {
			fmt.Fprintf(stderr, "runningrat hunt: -p %s is a Fluent Bit output key, which the hunt ignores (-workers sets its parallelism)\n", key)
			continue
		}
		if suggestion := flbconf.Closest(key, pipeline.Keys); suggestion != "" {
			key += " (did you mean " + suggestion + "?)"
		}
		unknown = append(unknown, key)
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("unknown setting -p %s: the README's configuration tables list the plugin's keys", strings.Join(unknown, ", -p "))
}

func printSummary(w io.Writer, format string, s hunt.Summary) {
	switch format {
	case "none":
		return
	case "json":
		b, _ := jsoniter.Marshal(s)
		fmt.Fprintln(w, string(b))
		return
	}

	fmt.Fprintf(w, "files read         %d\n", s.Files)
	fmt.Fprintf(w, "records read       %d\n", s.Records)
	for _, reason := range sortedKeys(s.Skipped) {
		fmt.Fprintf(w, "skipped: %-17s %d\n", reason, s.Skipped[reason])
	}
	fmt.Fprintf(w, "alerts             %d\n", s.Alerts)
	fmt.Fprintf(w, "  delivered        %d\n", s.Delivered)
	if s.Undelivered > 0 {
		fmt.Fprintf(w, "  not delivered    %d\n", s.Undelivered)
	}
	for _, rule := range sortedKeys(s.AlertsByRule) {
		fmt.Fprintf(w, "  rule %-30s %d\n", rule, s.AlertsByRule[rule])
	}
	for _, verdict := range sortedKeys(s.AlertsByVerdict) {
		fmt.Fprintf(w, "  verdict %-9s %d\n", verdict, s.AlertsByVerdict[verdict])
	}
	for _, src := range s.TopSources {
		fmt.Fprintf(w, "  source %-16s %d\n", src.SourceIP, src.Alerts)
	}
	if s.FirstAlert != "" {
		fmt.Fprintf(w, "alert times        %s to %s\n", s.FirstAlert, s.LastAlert)
	}
	fmt.Fprintf(w, "duration           %s\n", s.Duration)
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isTerminal reports whether w is a character device, where a progress
// line that redraws itself is readable.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// testRules runs the test events of rule files: exit 0 when all pass, 1
// when one fails, 2 when a file cannot be read or compiled.
func testRules(paths []string, stdout, stderr io.Writer) int {
	const usage = "usage: runningrat test-rules RULE_FILE...\n\n" +
		"Runs the test events at the end of each Sentinel rule file, each in exact and extended mode.\n" +
		"Exit status: 0 all checks passed, 1 a check failed, 2 a file could not be read or compiled."
	if len(paths) == 1 && isHelp(paths[0]) {
		fmt.Fprintln(stdout, usage)
		return exitNoAlerts
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, usage)
		return exitError
	}
	status := exitNoAlerts
	for _, path := range paths {
		checks, failures, err := rules.TestFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			status = exitError
			continue
		}
		for _, f := range failures {
			fmt.Fprintf(stdout, "FAIL %s: %s\n", path, f)
		}
		fmt.Fprintf(stdout, "%s: %d checks passed, %d failed\n",
			path, checks-len(failures), len(failures))
		if len(failures) > 0 && status == exitNoAlerts {
			status = exitAlerts
		}
	}
	return status
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}
