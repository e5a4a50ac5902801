//go:build !legacy

package main

import "C"

import (
	"syscall"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"
)

//export FLBPluginPreRegister
func FLBPluginPreRegister(hotReloading C.int) int {
	record(event{Call: "FLBPluginPreRegister", Instance: -1, ThreadID: syscall.Gettid(), Argument: intPointer(int(hotReloading))})
	return 0
}

//export FLBPluginOutputPreRun
func FLBPluginOutputPreRun(enableHotReload C.int) int {
	record(event{Call: "FLBPluginOutputPreRun", Instance: -1, ThreadID: syscall.Gettid(), Argument: intPointer(int(enableHotReload))})
	return 0
}

//export FLBPluginFlushCtx
func FLBPluginFlushCtx(ctx, data unsafe.Pointer, length C.int, tag *C.char) int {
	state := output.FLBPluginGetContext(ctx).(*instance)
	return flush("FLBPluginFlushCtx", state, state.id, data, int(length), C.GoString(tag))
}

//export FLBPluginOutputPreExit
func FLBPluginOutputPreExit(shutdownByHotReloading C.int) {
	record(event{Call: "FLBPluginOutputPreExit", Instance: -1, ThreadID: syscall.Gettid(), Argument: intPointer(int(shutdownByHotReloading))})
}

//export FLBPluginExitCtx
func FLBPluginExitCtx(ctx unsafe.Pointer) int {
	state := output.FLBPluginGetContext(ctx).(*instance)
	record(event{Call: "FLBPluginExitCtx", Instance: state.id, ThreadID: syscall.Gettid()})
	return output.FLB_OK
}

//export FLBPluginUnregister
func FLBPluginUnregister(def unsafe.Pointer) {
	record(event{Call: "FLBPluginUnregister", Instance: -1, ThreadID: syscall.Gettid()})
	output.FLBPluginUnregister(def)
}
