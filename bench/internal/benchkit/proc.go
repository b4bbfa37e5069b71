package benchkit

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of CPU times in /proc/<pid>/stat: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procStat is the part of /proc/<pid>/stat the harness reads.
type procStat struct {
	ppid int
	// cpu is utime+stime+cutime+cstime in seconds: the process's own CPU
	// time and that of the children it has reaped.
	cpu float64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ppid, _ := strconv.Atoi(f[1])
	var ticks int64
	for _, s := range f[11:15] { // utime, stime, cutime, cstime
		n, _ := strconv.ParseInt(s, 10, 64)
		ticks += n
	}
	return procStat{ppid: ppid, cpu: float64(ticks) / clockTicks}, nil
}

// ProcessCPU returns the CPU seconds used so far by pid and the children
// it has reaped.
func ProcessCPU(pid int) float64 {
	st, err := readStat(pid)
	if err != nil {
		return 0
	}
	return st.cpu
}

// TreeCPU returns the CPU seconds used so far by root and every living
// descendant (each with the children it has reaped), so that a PostgreSQL
// postmaster counts its backends and gunicorn's master its workers. A
// descendant that exited and was reaped inside a measurement window brings
// its whole life's CPU time into it; the harness avoids that where it can.
func TreeCPU(root int) float64 {
	return sumTree(root, func(pid int, st procStat) float64 { return st.cpu })
}

// Descendants returns root's living descendants.
func Descendants(root int) []int {
	var pids []int
	walkTree(root, func(pid int, _ procStat) {
		if pid != root {
			pids = append(pids, pid)
		}
	})
	return pids
}

func sumTree(root int, f func(int, procStat) float64) float64 {
	var sum float64
	walkTree(root, func(pid int, st procStat) { sum += f(pid, st) })
	return sum
}

// walkTree calls f for root and each living descendant.
func walkTree(root int, f func(int, procStat)) {
	entries, _ := os.ReadDir("/proc")
	stats := map[int]procStat{}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue
		}
		stats[pid] = st
		children[st.ppid] = append(children[st.ppid], pid)
	}
	var visit func(int)
	visit = func(pid int) {
		st, ok := stats[pid]
		if !ok {
			return
		}
		f(pid, st)
		for _, c := range children[pid] {
			visit(c)
		}
	}
	visit(root)
}

// PeakRSS returns VmHWM, the peak resident set size, of pid in bytes.
func PeakRSS(pid int) int64 { return statusField(pid, "VmHWM:") }

// RSS returns VmRSS of pid in bytes.
func RSS(pid int) int64 { return statusField(pid, "VmRSS:") }

func statusField(pid int, name string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
			return kB(rest)
		}
	}
	return 0
}

// Memory is a process's memory from /proc/<pid>/smaps_rollup, in bytes.
type Memory struct {
	RSS int64 `json:"rss"`
	PSS int64 `json:"pss"`
	// Private is Private_Clean + Private_Dirty: memory no other process
	// shares. For a PostgreSQL backend that is its own caches and work
	// memory, without the shared buffers it has touched.
	Private int64 `json:"private"`
}

// Add returns m + o.
func (m Memory) Add(o Memory) Memory {
	return Memory{RSS: m.RSS + o.RSS, PSS: m.PSS + o.PSS, Private: m.Private + o.Private}
}

// ReadMemory reads pid's smaps_rollup.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for line := range strings.SplitSeq(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch name {
		case "Rss":
			m.RSS = kB(rest)
		case "Pss":
			m.PSS = kB(rest)
		case "Private_Clean", "Private_Dirty":
			m.Private += kB(rest)
		}
	}
	return m, nil
}

// kB parses "   1234 kB" into bytes.
func kB(s string) int64 {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(f[0], 10, 64)
	return n * 1024
}

// BusyCPU returns the CPU seconds all processors have spent running
// processes since boot: the user, nice and system time of /proc/stat. Time
// in interrupts (loopback traffic is much of it) is charged to no process,
// so it is left out on both sides of a comparison with processes' times.
func BusyCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, s := range f[1:4] { // user, nice, system
		n, _ := strconv.ParseInt(s, 10, 64)
		ticks += n
	}
	return float64(ticks) / clockTicks
}
