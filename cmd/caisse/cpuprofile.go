//go:build cpuprofile

package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// A caisse built with -tags cpuprofile (caisse-bench --cpuprofile builds
// one) writes a CPU profile of its whole run to the file CAISSE_CPUPROFILE
// names. The shipped binary has no such variable: profiling is a
// developer's tool, like the bench that asks for it.
func init() {
	path := os.Getenv("CAISSE_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "caisse: error starting the CPU profile CAISSE_CPUPROFILE names: %v\n", err)
		os.Exit(1)
	}
	stopProfile = func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
