package pipeline

// The sinks register themselves by name when their packages load.
import (
	_ "github.com/edgehunt/runningrat/sink/elasticsearch"
	_ "github.com/edgehunt/runningrat/sink/forward"
	_ "github.com/edgehunt/runningrat/sink/splunk"
)
