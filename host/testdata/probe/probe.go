// Command probe is a Fluent Bit Go output plugin that tests flbhost, the
// project's stand-in for Fluent Bit. It appends one JSON line per call it
// receives to a log file and returns the flush results that its properties
// select.
//
// Build it with go build -buildmode=c-shared. The default build exports every
// entry point that Fluent Bit v5 looks up. With -tags legacy it exports only
// FLBPluginRegister, FLBPluginInit, FLBPluginFlush and FLBPluginExit, as old
// plugins do, so that the host's fallbacks can be tested.
//
// Properties, all read in FLBPluginInit:
//
//	Probe_Log       path of the call log (required: Init fails without it)
//	Probe_Keys      comma-separated keys whose values Init reads and logs
//	Flush_Results   comma-separated results of the instance's successive
//	                flushes: OK, RETRY, ERROR or a number; the last one
//	                repeats (default OK)
//	Flush_Delay_Ms  milliseconds each flush sleeps, so that flushes on
//	                worker threads overlap
//	Flush_GC        "true" makes each flush allocate garbage and run the
//	                garbage collector, which runs runtime code on the small
//	                flush stack
//	Retain_Data     "true" keeps each flush's data without copying it and, at
//	                the next flush, logs whether those bytes changed
//	Fail_Init       "true" makes Init return FLB_ERROR
//
// Calls that arrive before the first Init (PreRegister, Register) are held in
// memory and written once Probe_Log is known.
package main

import "C"

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"
)

// poisonByte is the byte that flbhost writes over a flush's buffers when the
// call returns.
const poisonByte = 0xDB

// event is one line of the call log. Fields that do not apply stay empty.
type event struct {
	Call          string            `json:"call"`
	Instance      int               `json:"instance"`
	ThreadID      int               `json:"tid,omitempty"`
	Argument      *int              `json:"argument,omitempty"`
	Properties    map[string]string `json:"properties,omitempty"`
	Tag           string            `json:"tag,omitempty"`
	Length        int               `json:"length,omitempty"`
	SHA256        string            `json:"sha256,omitempty"`
	InFlight      int32             `json:"in_flight,omitempty"`
	Result        *int              `json:"result,omitempty"`
	Retained      *retainedCheck    `json:"retained,omitempty"`
	StartUnixNano int64             `json:"start_unix_nano,omitempty"`
	EndUnixNano   int64             `json:"end_unix_nano,omitempty"`
}

// retainedCheck reports what became of the data that the previous flush of
// the instance kept without copying.
type retainedCheck struct {
	Changed     bool `json:"changed"`
	PoisonBytes int  `json:"poison_bytes"`
	Length      int  `json:"length"`
}

// instance is the state behind one output instance's context.
type instance struct {
	id      int
	results []int
	delay   time.Duration
	retain  bool
	gc      bool

	mu           sync.Mutex
	flushes      int
	retained     []byte // borrowed from the host; only read, never written
	retainedHash [sha256.Size]byte
}

var (
	logMu   sync.Mutex
	logFile *os.File
	pending [][]byte // events logged before the first Init opened logFile

	instanceCount int
	firstInstance *instance // serves the legacy entry points, which get no context
	inFlight      atomic.Int32
)

func record(e event) {
	line, err := json.Marshal(e)
	if err != nil {
		panic(fmt.Sprintf("probe: cannot encode event %+v: %v", e, err))
	}
	line = append(line, '\n')

	logMu.Lock()
	defer logMu.Unlock()
	if logFile == nil {
		pending = append(pending, line)
		return
	}
	if _, err := logFile.Write(line); err != nil {
		fmt.Fprintf(os.Stderr, "probe: cannot write to the call log: %v\n", err)
	}
}

func openLog(path string) error {
	logMu.Lock()
	defer logMu.Unlock()
	if logFile != nil {
		return nil
	}

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	for _, line := range pending {
		if _, err := f.Write(line); err != nil {
			return err
		}
	}
	pending = nil
	logFile = f
	return nil
}

func intPointer(v int) *int { return &v }

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) int {
	record(event{Call: "FLBPluginRegister", Instance: -1, ThreadID: syscall.Gettid()})
	return output.FLBPluginRegister(def, "probe", "records the calls that flbhost makes")
}

//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) int {
	logPath := output.FLBPluginConfigKey(plugin, "Probe_Log")
	if logPath == "" {
		fmt.Fprintln(os.Stderr, "probe: missing property Probe_Log: set it to the path of the call log")
		return output.FLB_ERROR
	}
	if err := openLog(logPath); err != nil {
		fmt.Fprintf(os.Stderr, "probe: cannot open call log %s: %v\n", logPath, err)
		return output.FLB_ERROR
	}

	properties := map[string]string{}
	for _, key := range strings.Split(output.FLBPluginConfigKey(plugin, "Probe_Keys"), ",") {
		if key != "" {
			properties[key] = output.FLBPluginConfigKey(plugin, key)
		}
	}

	results, err := parseResults(output.FLBPluginConfigKey(plugin, "Flush_Results"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe: invalid Flush_Results: %v\n", err)
		return output.FLB_ERROR
	}
	delayMs, _ := strconv.Atoi(output.FLBPluginConfigKey(plugin, "Flush_Delay_Ms"))

	// Instances are numbered in the order of their Init calls, and the number
	// travels through the context so that flushes can be told apart.
	state := &instance{
		id:      instanceCount,
		results: results,
		delay:   time.Duration(delayMs) * time.Millisecond,
		retain:  output.FLBPluginConfigKey(plugin, "Retain_Data") == "true",
		gc:      output.FLBPluginConfigKey(plugin, "Flush_GC") == "true",
	}
	instanceCount++
	if firstInstance == nil {
		firstInstance = state
	}

	record(event{Call: "FLBPluginInit", Instance: state.id, ThreadID: syscall.Gettid(), Properties: properties})
	if output.FLBPluginConfigKey(plugin, "Fail_Init") == "true" {
		return output.FLB_ERROR
	}
	output.FLBPluginSetContext(plugin, state)
	return output.FLB_OK
}

func parseResults(list string) ([]int, error) {
	if list == "" {
		return []int{output.FLB_OK}, nil
	}

	var results []int
	for _, word := range strings.Split(list, ",") {
		switch strings.ToUpper(strings.TrimSpace(word)) {
		case "OK":
			results = append(results, output.FLB_OK)
		case "RETRY":
			results = append(results, output.FLB_RETRY)
		case "ERROR":
			results = append(results, output.FLB_ERROR)
		default:
			n, err := strconv.Atoi(strings.TrimSpace(word))
			if err != nil {
				return nil, fmt.Errorf("%q is not OK, RETRY, ERROR or a number", word)
			}
			results = append(results, n)
		}
	}
	return results, nil
}

// flush logs one flush call under instanceID and returns the next result of
// state.
func flush(call string, state *instance, instanceID int, data unsafe.Pointer, length int, tag string) int {
	start := time.Now()
	concurrent := inFlight.Add(1)
	defer inFlight.Add(-1)

	chunk := unsafe.Slice((*byte)(data), length)
	hash := sha256.Sum256(chunk)

	state.mu.Lock()
	n := state.flushes
	state.flushes++
	var retained *retainedCheck
	if state.retained != nil {
		retained = &retainedCheck{
			Changed:     sha256.Sum256(state.retained) != state.retainedHash,
			PoisonBytes: bytes.Count(state.retained, []byte{poisonByte}),
			Length:      len(state.retained),
		}
	}
	if state.retain {
		// Deliberately wrong: the host frees chunk when this call returns.
		state.retained = chunk
		state.retainedHash = hash
	}
	state.mu.Unlock()

	if state.gc {
		makeGarbage()
		runtime.GC()
	}
	time.Sleep(state.delay)
	result := state.results[min(n, len(state.results)-1)]

	record(event{
		Call:          call,
		Instance:      instanceID,
		ThreadID:      syscall.Gettid(),
		Tag:           tag,
		Length:        length,
		SHA256:        hex.EncodeToString(hash[:]),
		InFlight:      concurrent,
		Result:        intPointer(result),
		Retained:      retained,
		StartUnixNano: start.UnixNano(),
		EndUnixNano:   time.Now().UnixNano(),
	})
	return result
}

// makeGarbage allocates 4 MiB in 64 KiB blocks on the calling goroutine.
// Flushes run concurrently, so the blocks stay local to the call.
func makeGarbage() {
	var garbage [][]byte
	for i := 0; i < 64; i++ {
		garbage = append(garbage, make([]byte, 64<<10))
	}
	runtime.KeepAlive(garbage)
}

func main() {}
