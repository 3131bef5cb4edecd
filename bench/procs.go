package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// What the processes under test use, read from /proc and their profiling
// listeners.

// cpuProfile saves the CPU profile over d of the process serving
// /debug/pprof at addr.
func cpuProfile(addr, file string, d time.Duration) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// pids are the processes of a configuration: the proxy, and nginx's
// workers.
func (h *harness) pids(name string) []int {
	c := h.procs[name]
	if name == "direct" {
		c = h.backend
	}
	if c == nil || c.Process == nil {
		return nil
	}
	pids := []int{c.Process.Pid}
	if name == "nginx" {
		children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", c.Process.Pid, c.Process.Pid))
		for _, f := range strings.Fields(string(children)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times; 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// statFields are the fields of /proc/<pid>/stat after the command name
// (which is in parentheses and may hold spaces): field 3 of proc(5),
// the state, is the first. Nil when the file cannot be read or is shorter
// than its fields up to starttime (22).
func statFields(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 > len(data) {
		return nil
	}
	f := strings.Fields(string(data[i+2:]))
	if len(f) < 20 {
		return nil
	}
	return f
}

// cpuTicks sums user and system time of the processes (all threads).
func cpuTicks(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		f := statFields(pid)
		if f == nil {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		total += utime + stime
	}
	return total
}

// procAge is how long process pid has run, in seconds: the system's
// uptime less the process's start time since boot; zero when unknown.
func procAge(pid int) float64 {
	f := statFields(pid)
	data, err := os.ReadFile("/proc/uptime")
	up := strings.Fields(string(data))
	if f == nil || err != nil || len(up) == 0 {
		return 0
	}
	start, err1 := strconv.ParseInt(f[19], 10, 64)
	uptime, err2 := strconv.ParseFloat(up[0], 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return max(uptime-float64(start)/clockTicks, 0)
}

// cpuCount is the number of cores in a taskset list ("1", "0,2", "1-3"):
// the GOMAXPROCS a Go process pinned to them runs with.
func cpuCount(list string) int {
	n := 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 == nil && err2 == nil && b >= a {
			n += b - a + 1
		}
	}
	return max(n, 1)
}

func procStatus(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func peakRSS(pids []int) int64 {
	var kb int64
	for _, pid := range pids {
		kb += procStatus(pid, "VmHWM")
	}
	return kb
}
