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
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/pipeline"
)

// Name is the name that an [OUTPUT] section uses to select the plugin.
const Name = "runningrat"

const description = "Detects RunningRAT (POLONIUM) request parameters in CEF logs and sends alerts"

// exitTimeout bounds how long FLBPluginExitCtx waits for a sink to close.
const exitTimeout = 10 * time.Second

// instances contains the running instances by name, for the legacy callbacks.
var instances sync.Map

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

	index := claimIndex()
	id := instanceName(index)
	inst, err := newInstance(index, id, getter{plugin})
	if err != nil {
		releaseIndex(index)
		return output.FLB_ERROR
	}

	instances.Store(id, inst)
	output.FLBPluginSetContext(plugin, inst)
	return output.FLB_OK
}

// newInstance reads and validates the settings, then starts the pipeline,
// the stats line and the metrics. A failure has been logged, with the key,
// the value and what is allowed, when it returns an error.
func newInstance(index int, id string, g getter) (*instance, error) {
	// Key names come first: a misspelt key often shows up next as a missing
	// value, and its name is the better hint. An invalid Plugin_Log_Level
	// leaves info here and is reported by LoadConfig.
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(config.String(g, "Plugin_Log_Level", "info")))
	if err := checkKeyNames(index, g, newLogger(id, level)); err != nil {
		newLogger(id, level).Error("invalid configuration", "error", err)
		return nil, err
	}

	cfg, err := pipeline.LoadConfig(g)
	if err != nil {
		newLogger(id, slog.LevelInfo).Error("invalid configuration", "error", err)
		return nil, err
	}
	obs, err := pipeline.LoadObserveConfig(g)
	if err != nil {
		newLogger(id, slog.LevelInfo).Error("invalid configuration", "error", err)
		return nil, err
	}

	log := newLogger(id, cfg.LogLevel)
	out, err := pipeline.New(cfg, g, log)
	if err != nil {
		log.Error("cannot start", "error", err)
		return nil, err
	}

	inst := &instance{id: id, index: index, out: out, log: log, panicTag: os.Getenv(panicTagEnv)}
	if inst.panicTag != "" {
		log.Warn("test hook active: flushes with this tag panic", "env", panicTagEnv, "tag", inst.panicTag)
	}
	if err := inst.startObserving(obs); err != nil {
		log.Error("cannot start", "error", err)
		inst.close()
		return nil, err
	}
	log.Info("started", settingsAttrs(cfg, obs, g)...)
	return inst, nil
}

//export FLBPluginFlushCtx
func FLBPluginFlushCtx(ctx, data unsafe.Pointer, length C.int, tag *C.char) (status int) {
	defer recoverTo(&status, output.FLB_ERROR, "flush")

	inst, ok := output.FLBPluginGetContext(ctx).(*instance)
	if !ok {
		pluginLogger().Error("flush for an unknown instance context, dropping the chunk with FLB_ERROR", "context", fmt.Sprintf("%p", ctx))
		return output.FLB_ERROR
	}
	return flush(inst, data, length, tag)
}

//export FLBPluginFlush
func FLBPluginFlush(data unsafe.Pointer, length C.int, tag *C.char) (status int) {
	defer recoverTo(&status, output.FLB_ERROR, "flush")

	inst := onlyInstance()
	if inst == nil {
		pluginLogger().Error("legacy flush without context needs exactly one instance, dropping the chunk with FLB_ERROR")
		return output.FLB_ERROR
	}
	return flush(inst, data, length, tag)
}

// flush views the chunk in place: data is valid only during the call, and
// everything an alert keeps is copied out of it.
func flush(inst *instance, data unsafe.Pointer, length C.int, tag *C.char) int {
	var chunk []byte
	if data != nil && length > 0 {
		chunk = unsafe.Slice((*byte)(data), int(length))
	}
	return flushChunk(inst, chunk, C.GoString(tag))
}

// flushChunk runs one flush and maps its result onto Fluent Bit's codes.
//
// A panic that escapes the per-record guards is logged with the tag and
// drops this chunk with FLB_ERROR, because the same bytes would panic again
// on every retry. Later chunks are served as usual.
func flushChunk(inst *instance, chunk []byte, tag string) (status int) {
	defer func() {
		if p := recover(); p != nil {
			inst.flushPanics.Add(1)
			inst.log.Error("recovered from a panic in a flush; the chunk is dropped with FLB_ERROR",
				"tag", tag, "bytes", len(chunk), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			status = output.FLB_ERROR
		}
	}()

	if inst.panicTag != "" && tag == inst.panicTag {
		panic("test hook " + panicTagEnv)
	}
	if len(chunk) == 0 {
		return output.FLB_OK
	}
	switch inst.out.Flush(chunk, tag) {
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

// closeInstance closes inst once, however many exit callbacks name it.
func closeInstance(inst *instance) {
	if _, loaded := instances.LoadAndDelete(inst.id); !loaded {
		return
	}
	inst.close()
	releaseIndex(inst.index)
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
		pluginLogger().Error("recovered from a panic", "call", call,
			"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		*status = code
	}
}
