package pipeline

import "slices"

// SinkKeys are the network sinks' settings, in the README's order.
var SinkKeys = []string{
	"Sink_Timeout", "Sink_TLS", "Sink_TLS_CA_File", "Sink_TLS_Cert_File", "Sink_TLS_Key_File",
	"Sink_TLS_Server_Name", "Sink_TLS_Min_Version", "Sink_TLS_Verify",
	"Splunk_URL", "Splunk_Token", "Splunk_Token_Env", "Splunk_Index", "Splunk_Source", "Splunk_Sourcetype",
	"Splunk_Host", "Splunk_Batch_Size", "Splunk_Ack", "Splunk_Channel", "Splunk_Ack_Timeout",
	"ES_URL", "ES_Index", "ES_Username", "ES_Password", "ES_API_Key", "ES_Pipeline", "ES_Batch_Size",
	"ES_Max_Request_Size",
	"Forward_Address", "Forward_Tag", "Forward_Shared_Key", "Forward_Self_Hostname", "Forward_Username",
	"Forward_Password", "Forward_Require_Ack", "Forward_Compress", "Forward_Batch_Size",
}

// outputKeys are the settings of the pipeline itself, in the README's order.
var outputKeys = []string{
	"Sink", "Path", "Detection_Mode", "Message_Key", "Alert_Format", "Plugin_Log_Level",
	"Spool_Dir", "Spool_Name", "Spool_Max_Size", "Spool_Sync", "Shutdown_Timeout", "Delivery_Batch_Size",
	"Delivery_Retry_Max_Wait", "Delivery_Linger", "Rules", "Rules_Path", "Rules_Watch_Interval", "Suppress_Window",
	"Suppress_By", "Skip_Log_Interval", "Stats_Interval", "Metrics_Listen", "Unknown_Keys",
}

// Keys are all the configuration keys that the plugin reads. A test checks
// that every key the source reads is here and in the README.
var Keys = slices.Concat(outputKeys, SinkKeys)
