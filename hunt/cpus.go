package hunt

import "runtime"

func runtimeCPUs() int { return runtime.NumCPU() }
