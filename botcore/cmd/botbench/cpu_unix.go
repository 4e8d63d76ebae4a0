//go:build unix

package main

import (
	"syscall"
	"time"
)

// cpuTime is the CPU this process has used (user + system): the load
// tool's own share of the machine, reported so that a run on the server's
// cores can be read for what is left to the server.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
