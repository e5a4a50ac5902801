// Package plugin is the thin cgo layer between Fluent Bit's Go proxy and
// package pipeline. It exports the FLBPlugin* functions, reads properties
// through fluent-bit-go and keeps one pipeline.Output per [OUTPUT] section.
// Every call turns a panic into a return code, because a Go panic in a
// c-shared library kills the whole agent.
//
// The c-shared library is built from cmd/out_runningrat, which imports this
// package for its exported symbols.
package plugin

import "C"

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"

	"github.com/edgehunt/runningrat/pipeline"
)

// Name is the name that an [OUTPUT] section uses to select the plugin.
const Name = "runningrat"

const description = "Detects RunningRAT (POLONIUM) request parameters in CEF logs and sends alerts"

// exitTimeout bounds how long FLBPluginExitCtx waits for a sink to close.
const exitTimeout = 10 * time.Second

var (
	nextID    atomic.Int64
	instances sync.Map // instance id -> *instance, for the legacy callbacks
)

type instance struct {
	id  string
	out *pipeline.Output
	log *slog.Logger
}

// getter reads properties of the instance being initialised. It is valid
// only during FLBPluginInit, because Fluent Bit overwrites the plugin
// struct for each instance.
type getter struct{ plugin unsafe.Pointer }

func (g getter) Get(key string) string {
	return output.FLBPluginConfigKey(g.plugin, key)
}

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) (status int) {
	defer recoverTo(&status, output.FLB_ERROR, "register")
	return output.FLBPluginRegister(def, Name, description)
}

//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) (status int) {
	defer recoverTo(&status, output.FLB_ERROR, "init")

	id := fmt.Sprintf("%s.%d", Name, nextID.Add(1)-1)
	cfg, err := pipeline.LoadConfig(getter{plugin})
	if err != nil {
		newLogger(id, slog.LevelInfo).Error("invalid configuration", "error", err)
		return output.FLB_ERROR
	}

	log := newLogger(id, cfg.LogLevel)
	out, err := pipeline.New(cfg, getter{plugin}, log)
	if err != nil {
		log.Error("cannot start", "error", err)
		return output.FLB_ERROR
	}

	inst := &instance{id: id, out: out, log: log}
	instances.Store(id, inst)
	output.FLBPluginSetContext(plugin, inst)
	alertFormat := string(cfg.AlertFormat)
	if alertFormat == "" {
		alertFormat = "the sink's own"
	}
	messageKey := cfg.MessageKey
	if messageKey == "" {
		messageKey = "log, message or msg"
	}
	log.Info("started", "sink", cfg.Sink, "path", getter{plugin}.Get("Path"),
		"detection_mode", cfg.Mode.String(), "alert_format", alertFormat, "message_key", messageKey,
		"spool_max_size", cfg.SpoolMaxSize, "shutdown_timeout", cfg.ShutdownTimeout.String(),
		"delivery_batch_size", cfg.DeliveryBatchSize, "delivery_retry_max_wait", cfg.RetryMaxWait.String(),
		"skip_log_interval", cfg.SkipLogInterval.String(), "plugin_log_level", cfg.LogLevel.String())
	return output.FLB_OK
}

//export FLBPluginFlushCtx
func FLBPluginFlushCtx(ctx, data unsafe.Pointer, length C.int, tag *C.char) (status int) {
	// A panic that escapes the per-record guards is a bug; retrying keeps
	// the chunk's alerts instead of dropping them.
	defer recoverTo(&status, output.FLB_RETRY, "flush")

	inst, ok := output.FLBPluginGetContext(ctx).(*instance)
	if !ok {
		fmt.Fprintf(os.Stderr, "[%s] flush for an unknown instance context %p, dropping the chunk\n", Name, ctx)
		return output.FLB_ERROR
	}
	return flush(inst, data, length, tag)
}

//export FLBPluginFlush
func FLBPluginFlush(data unsafe.Pointer, length C.int, tag *C.char) (status int) {
	defer recoverTo(&status, output.FLB_RETRY, "flush")

	inst := onlyInstance()
	if inst == nil {
		fmt.Fprintf(os.Stderr, "[%s] legacy flush without context needs exactly one instance, dropping the chunk\n", Name)
		return output.FLB_ERROR
	}
	return flush(inst, data, length, tag)
}

// flush views the chunk in place: data is valid only during the call, and
// everything an alert keeps is copied out of it.
func flush(inst *instance, data unsafe.Pointer, length C.int, tag *C.char) int {
	if data == nil || length <= 0 {
		return output.FLB_OK
	}
	chunk := unsafe.Slice((*byte)(data), int(length))
	switch inst.out.Flush(chunk, C.GoString(tag)) {
	case pipeline.OK:
		return output.FLB_OK
	case pipeline.Retry:
		return output.FLB_RETRY
	}
	return output.FLB_ERROR
}

//export FLBPluginExitCtx
func FLBPluginExitCtx(ctx unsafe.Pointer) (status int) {
	defer recoverTo(&status, output.FLB_ERROR, "exit")

	inst, ok := output.FLBPluginGetContext(ctx).(*instance)
	if !ok {
		return output.FLB_OK
	}
	closeInstance(inst)
	return output.FLB_OK
}

//export FLBPluginExit
func FLBPluginExit() (status int) {
	defer recoverTo(&status, output.FLB_ERROR, "exit")

	instances.Range(func(_, v any) bool {
		closeInstance(v.(*instance))
		return true
	})
	return output.FLB_OK
}

//export FLBPluginUnregister
func FLBPluginUnregister(def unsafe.Pointer) {
	defer recoverTo(new(int), 0, "unregister")
	output.FLBPluginUnregister(def)
}

func closeInstance(inst *instance) {
	if _, loaded := instances.LoadAndDelete(inst.id); !loaded {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	if err := inst.out.Close(ctx); err != nil {
		inst.log.Error("closing the sink failed", "error", err)
	}
}

func onlyInstance() *instance {
	var found *instance
	count := 0
	instances.Range(func(_, v any) bool {
		found = v.(*instance)
		count++
		return count < 2
	})
	if count != 1 {
		return nil
	}
	return found
}

// recoverTo turns a panic into a log line with its stack and a return code.
func recoverTo(status *int, code int, call string) {
	if p := recover(); p != nil {
		fmt.Fprintf(os.Stderr, "[%s] recovered from a panic in %s: %v\n%s", Name, call, p, debug.Stack())
		*status = code
	}
}

func newLogger(id string, level slog.Level) *slog.Logger {
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("plugin", Name, "instance", id)
}
