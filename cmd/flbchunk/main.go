// Command flbchunk turns log files into chunk files for flbhost, cutting
// lines into records and records into chunks as Fluent Bit's tail input
// does.
//
// Usage:
//
//	flbchunk [flags] -o OUTPUT [INPUT...]
//
// The inputs are read in order; without inputs, or for "-", flbchunk reads
// standard input. Each line becomes one record {KEY: line} (KEY is "log"
// unless -key sets it) with the trailing "\n" removed, and a "\r" before it
// too unless the line is only "\r", as in_tail does. A last line without
// "\n" is kept, whereas in_tail holds it back until its newline arrives.
// With -json each line is instead a flat JSON object whose values are all
// strings. The object becomes the record with its keys in their order, and
// blank lines are skipped.
//
// Records are appended to the current chunk until it holds at least
// -chunk-size bytes (default 2048000, Fluent Bit's 2 MB limit for a chunk),
// so a chunk ends with the record that crossed the limit. in_tail appends
// whole read buffers at a time, so its chunks overshoot further, to about
// 2.3 MB on average.
//
// Chunk file format: a sequence of frames, each
//
//	uint32 big-endian tag length, 1 to 65535
//	the tag bytes, without a NUL
//	uint32 big-endian data length
//	the data bytes
//
// where the data is the msgpack that Fluent Bit hands to an output's flush:
// entries [[timestamp, metadata], record] (or [timestamp, record] with
// -layout v1) one after another, written by chunk.Encoder.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/edgehunt/runningrat/chunk"
)

// maxTagLength is the longest tag that flbhost accepts in a frame.
const maxTagLength = 65535

// options are the parsed command line.
type options struct {
	output    string
	inputs    []string
	tag       string
	key       string
	jsonLines bool
	chunkSize int
	encoder   chunk.Encoder
	start     time.Time // the zero time means reading the clock for each record
	step      time.Duration
	skipEmpty bool
	verbose   bool
}

func main() {
	opts, err := parseOptions(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "flbchunk: %v\nRun 'flbchunk -h' for help.\n", err)
		os.Exit(2)
	}

	if err := run(opts, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "flbchunk: %v\n", err)
		os.Exit(1)
	}
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var opts options
	var layout, timeFormat, start string

	flags := flag.NewFlagSet("flbchunk", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: flbchunk [flags] -o OUTPUT [INPUT...]\n\n"+
			"Writes the lines of the inputs (standard input when none or \"-\") as\n"+
			"records in a chunk file for flbhost.\n\n")
		flags.PrintDefaults()
	}
	flags.StringVar(&opts.output, "o", "", "path of the chunk file to write, or - for standard output (required)")
	flags.StringVar(&opts.tag, "tag", "tail.0", "tag of every chunk, such as fw.zscaler")
	flags.StringVar(&opts.key, "key", "log", "record key that holds each line (in_tail's Key)")
	flags.BoolVar(&opts.jsonLines, "json", false, "read each line as a flat JSON object of string values and use it as the record")
	flags.IntVar(&opts.chunkSize, "chunk-size", 2048000, "size in bytes at which a chunk is closed")
	flags.StringVar(&layout, "layout", "v2", "entry layout: v2 for [[timestamp, metadata], record], v1 for [timestamp, record]")
	flags.StringVar(&timeFormat, "time-format", "eventtime", "timestamp type: eventtime (msgpack ext 0), int or float seconds")
	flags.BoolVar(&opts.encoder.Binary, "binary", false, "write keys and values as msgpack bin instead of str")
	flags.BoolVar(&opts.encoder.Map32Metadata, "map32", false, "write the empty metadata map as map32, as in_forward does")
	flags.StringVar(&start, "start", "", "RFC 3339 timestamp of the first record, such as 2024-05-01T12:00:00.5Z (default: the clock at each record)")
	flags.DurationVar(&opts.step, "step", 0, "time added for each record after the first; needs -start")
	flags.BoolVar(&opts.skipEmpty, "skip-empty", false, "drop empty lines, as in_tail's Skip_Empty_Lines does")
	flags.BoolVar(&opts.verbose, "v", false, "print the number of records and chunks written to standard error")

	if err := flags.Parse(args); err != nil {
		return opts, err
	}
	opts.inputs = flags.Args()

	if opts.output == "" {
		return opts, errors.New("missing -o: name the chunk file to write")
	}
	if opts.tag == "" || len(opts.tag) > maxTagLength || strings.ContainsRune(opts.tag, 0) {
		return opts, fmt.Errorf("invalid -tag %q: expected 1 to %d bytes without NUL", opts.tag, maxTagLength)
	}
	if opts.key == "" {
		return opts, errors.New("invalid -key: the record key must not be empty")
	}
	if opts.chunkSize < 1 || opts.chunkSize > math.MaxUint32/2 {
		return opts, fmt.Errorf("invalid -chunk-size %d: expected 1 to %d bytes", opts.chunkSize, math.MaxUint32/2)
	}

	switch layout {
	case "v2":
		opts.encoder.Layout = chunk.LayoutV2
	case "v1":
		opts.encoder.Layout = chunk.LayoutV1
	default:
		return opts, fmt.Errorf("invalid -layout %q: expected v2 or v1", layout)
	}

	switch timeFormat {
	case "eventtime":
		opts.encoder.Time = chunk.EventTime
	case "int":
		opts.encoder.Time = chunk.IntSeconds
	case "float":
		opts.encoder.Time = chunk.FloatSeconds
	default:
		return opts, fmt.Errorf("invalid -time-format %q: expected eventtime, int or float", timeFormat)
	}

	if start != "" {
		t, err := time.Parse(time.RFC3339Nano, start)
		if err != nil {
			return opts, fmt.Errorf("invalid -start %q: expected an RFC 3339 timestamp such as 2024-05-01T12:00:00Z", start)
		}
		opts.start = t
	} else if opts.step != 0 {
		return opts, errors.New("-step needs -start: give the timestamp of the first record")
	}
	return opts, nil
}

// run converts the inputs and writes the chunk file.
func run(opts options, stdin io.Reader, stdout, stderr io.Writer) error {
	var out io.Writer = stdout
	var file *os.File
	if opts.output != "-" {
		f, err := os.Create(opts.output)
		if err != nil {
			return err
		}
		file = f
		out = f
	}

	w := &chunkWriter{out: bufio.NewWriterSize(out, 1<<20), opts: opts}
	err := convertInputs(opts, stdin, w)
	if err == nil {
		err = w.close()
	}
	if file != nil {
		if closeErr := file.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			os.Remove(opts.output) // a partial chunk file would replay as if complete
		}
	}
	if err != nil {
		return err
	}

	if opts.verbose {
		fmt.Fprintf(stderr, "flbchunk: wrote %d records in %d chunks to %s\n", w.records, w.chunks, opts.output)
	}
	return nil
}

func convertInputs(opts options, stdin io.Reader, w *chunkWriter) error {
	inputs := opts.inputs
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}

	for _, path := range inputs {
		if path == "-" {
			if err := convert(opts, "standard input", stdin, w); err != nil {
				return err
			}
			continue
		}

		f, err := os.Open(path)
		if err != nil {
			return err
		}
		err = convert(opts, path, f, w)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// convert appends one record for each line of r. Errors name the input as name.
func convert(opts options, name string, r io.Reader, w *chunkWriter) error {
	reader := bufio.NewReaderSize(r, 64<<10)
	keys := []string{opts.key}
	values := []string{""}

	for lineNumber := 1; ; lineNumber++ {
		line, err := reader.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		line = trimLineEnd(line)

		if opts.jsonLines {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			objectKeys, objectValues, parseErr := parseFlatObject(line)
			if parseErr != nil {
				return fmt.Errorf("%s:%d: %w", name, lineNumber, parseErr)
			}
			if err := w.add(objectKeys, objectValues); err != nil {
				return err
			}
		} else if !(opts.skipEmpty && (len(line) == 0 || string(line) == "\r")) {
			values[0] = string(line)
			if err := w.add(keys, values); err != nil {
				return err
			}
		}

		if err == io.EOF {
			return nil
		}
	}
}

// trimLineEnd removes "\n" and, as in_tail does, a "\r" before it, except
// from a line that is only "\r".
func trimLineEnd(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	if len(line) >= 2 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line
}

// parseFlatObject returns the keys and values of a JSON object whose values
// are all strings, in their order, duplicates included.
func parseFlatObject(line []byte) (keys, values []string, err error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()

	if token, err := dec.Token(); err != nil || token != json.Delim('{') {
		return nil, nil, errors.New("line is not a JSON object, but -json expects one flat object per line")
	}
	for dec.More() {
		keyToken, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("invalid JSON: %w", err)
		}
		key := keyToken.(string) // object keys are always strings

		valueToken, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("invalid JSON: %w", err)
		}
		value, ok := valueToken.(string)
		if !ok {
			return nil, nil, fmt.Errorf("value of %q is %s, but -json expects string values only", key, describeToken(valueToken))
		}
		keys = append(keys, key)
		values = append(values, value)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("unexpected data after the JSON object, but -json expects one object per line")
	}
	return keys, values, nil
}

func describeToken(token json.Token) string {
	switch t := token.(type) {
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return "an object"
	}
	return fmt.Sprintf("%T", token)
}

// chunkWriter collects records into chunks and writes each full chunk as a
// frame.
type chunkWriter struct {
	out     *bufio.Writer
	opts    options
	data    []byte
	next    time.Time // timestamp of the next record when -start is set
	records int
	chunks  int
}

func (w *chunkWriter) add(keys, values []string) error {
	t := time.Now()
	if !w.opts.start.IsZero() {
		if w.records == 0 {
			w.next = w.opts.start
		}
		t = w.next
		w.next = w.next.Add(w.opts.step)
	}

	w.data = w.opts.encoder.Append(w.data, t, keys, values)
	w.records++
	if len(w.data) >= w.opts.chunkSize {
		return w.writeChunk()
	}
	return nil
}

func (w *chunkWriter) writeChunk() error {
	if len(w.data) == 0 {
		return nil
	}
	if len(w.data) > math.MaxUint32 {
		return fmt.Errorf("chunk %d is %d bytes, more than the 4 GiB that a frame can hold, because a single record is too large", w.chunks+1, len(w.data))
	}

	var header [4]byte
	binary.BigEndian.PutUint32(header[:], uint32(len(w.opts.tag)))
	w.out.Write(header[:])
	w.out.WriteString(w.opts.tag)
	binary.BigEndian.PutUint32(header[:], uint32(len(w.data)))
	w.out.Write(header[:])
	if _, err := w.out.Write(w.data); err != nil {
		return fmt.Errorf("writing %s: %w", w.opts.output, err)
	}

	w.chunks++
	w.data = w.data[:0]
	return nil
}

// close writes the last, partly filled chunk and flushes the output.
func (w *chunkWriter) close() error {
	if err := w.writeChunk(); err != nil {
		return err
	}
	if err := w.out.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", w.opts.output, err)
	}
	return nil
}
