// Command out_runningrat is the Fluent Bit output plugin, built with
// -buildmode=c-shared into out_runningrat.so. Its exported functions live in
// package plugin; main never runs in a shared library.
package main

import _ "github.com/edgehunt/runningrat/plugin"

func main() {}
