package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// What the coordinator reads of its workers in /proc (Linux).

// cpuTime returns the CPU time pid's threads have run, in nanoseconds: the
// sum of the first field of /proc/PID/task/*/schedstat, which the
// scheduler keeps to the nanosecond (utime and stime in /proc/PID/stat
// count 10 ms ticks, too coarse for an idle mesh). A Go program's threads
// do not exit, so none of its time is lost with a thread.
func cpuTime(pid int) (int64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no /proc/%d/task/*/schedstat: %v", pid, err)
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread is gone
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %v", t, err)
		}
		sum += ns
	}
	return sum, nil
}

// writeCalls returns the write system calls pid has made (syscw in
// /proc/PID/io: write and writev, which Go's TCP writes use).
func writeCalls(pid int) (int64, error) {
	return procField(fmt.Sprintf("/proc/%d/io", pid), "syscw:")
}

// rss returns pid's resident set in bytes (VmRSS in /proc/PID/status).
func rss(pid int) (int64, error) {
	kb, err := procField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	return kb << 10, err
}

// procField returns the number after key at the start of a line of file.
func procField(file, key string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte(key)); ok {
			f := strings.Fields(string(rest))
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", file, key)
}
