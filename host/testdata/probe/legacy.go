//go:build legacy

package main

import "C"

import (
	"syscall"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"
)

// The legacy entry points receive no context, so every flush is counted
// against the first instance and logged with instance -1.

//export FLBPluginFlush
func FLBPluginFlush(data unsafe.Pointer, length C.int, tag *C.char) int {
	return flush("FLBPluginFlush", firstInstance, -1, data, int(length), C.GoString(tag))
}

//export FLBPluginExit
func FLBPluginExit() int {
	record(event{Call: "FLBPluginExit", Instance: -1, ThreadID: syscall.Gettid()})
	return output.FLB_OK
}
