// Package interop runs the forward sink against an independent forward
// input, the OpenTelemetry Collector's fluentforwardreceiver.
package interop
