package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Instructions per call (-instructions): the Go proxies run under
// valgrind's callgrind, which counts the instructions each process
// executes in user space, and every paced phase is counted from a zeroed
// counter to a dump at its end. CPU time on a shared 2-core machine moves
// by more between rounds than a change of a few percent (bench/RESULTS.md
// keeps the noise line of every run); an instruction count does not: the
// same build on the same load gives the same count to a fraction of a
// percent. What it leaves out is the kernel's part (system calls, about a
// third of a proxy's CPU here, the same calls in each Go proxy) and what
// an instruction costs (a cache miss, a branch mispredicted), so it
// answers "does this build do more work per call", and a ratio of CPU
// time still answers "does it cost more".
//
// Under callgrind a proxy runs some thirty times slower, so a run with
// -instructions reports only this (no CPU or latency figures), and its
// paced rate should stay under what the slowed proxy serves (make
// bench-instructions paces 100 calls a second).

// valgrindCommand is the command starting bin with args under callgrind
// for configuration name, pinned to cpu, its dumps in the harness's
// directory.
//
// The process starts with SIGPIPE blocked: a proxy writing to a
// connection the load has closed gets EPIPE as before, but no signal,
// and callgrind 3.19 fails an assertion on a signal delivered there
// (its handler's state, threads.c). Go's runtime keeps a signal blocked
// at exec blocked. Perl, which callgrind_control is written in, blocks
// it before exec: Go's exec.Cmd resets the mask a child starts with.
func (h *harness) valgrindCommand(cpu, name, bin string, args ...string) *exec.Cmd {
	vg := []string{"-c", cpu, "perl", "-MPOSIX", "-e", blockSIGPIPE, "valgrind", "--tool=callgrind",
		"--callgrind-out-file=" + filepath.Join(h.dir, "callgrind."+name+".%p"), "--dump-line=no", bin}
	return exec.Command("taskset", append(vg, args...)...)
}

// blockSIGPIPE is the Perl that blocks SIGPIPE and execs its arguments.
const blockSIGPIPE = `sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGPIPE)) or die "sigprocmask: $!"; exec {$ARGV[0]} @ARGV or die "exec: $!"`

// valgrindEnv is what a Go program needs to run under the valgrind
// Debian ships (3.19): its runtime reads the time stamp counter with
// RDTSCP where the CPU has it, an instruction that valgrind does not
// know and answers with SIGILL; and callgrind fails an assertion on the
// signals with which the runtime preempts a goroutine that runs long
// (the scheduler still preempts at function calls).
const valgrindEnv = "GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off"

// checkValgrind reports a missing valgrind before any process starts.
func checkValgrind() error {
	for _, tool := range []string{"valgrind", "callgrind_control", "perl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("-instructions needs %s (Debian's valgrind package; make bench-instructions installs it)", tool)
		}
	}
	return nil
}

// zeroInstructions starts the count of configuration name's process
// afresh.
func (h *harness) zeroInstructions(name string) error {
	return callgrindControl("-z", h.procs[name])
}

// instructionsSince dumps configuration name's count since it was last
// zeroed and returns it.
func (h *harness) instructionsSince(name string) (int64, error) {
	cmd := h.procs[name]
	if err := callgrindControl("-d", cmd); err != nil {
		return 0, err
	}
	dumps, _ := filepath.Glob(filepath.Join(h.dir, fmt.Sprintf("callgrind.%s.%d.*", name, cmd.Process.Pid)))
	if len(dumps) == 0 {
		return 0, fmt.Errorf("%s: callgrind wrote no dump", name)
	}
	// Dumps are numbered in order: the last is this one.
	sort.Slice(dumps, func(i, j int) bool { return dumpNumber(dumps[i]) < dumpNumber(dumps[j]) })
	return dumpTotal(dumps[len(dumps)-1])
}

func callgrindControl(op string, cmd *exec.Cmd) error {
	if cmd == nil || cmd.Process == nil {
		return errors.New("no process to count")
	}
	out, err := exec.Command("callgrind_control", op, strconv.Itoa(cmd.Process.Pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("callgrind_control %s: %w: %s", op, err, out)
	}
	return nil
}

// dumpNumber is the part after a dump file's last dot.
func dumpNumber(path string) int {
	n, _ := strconv.Atoi(path[strings.LastIndexByte(path, '.')+1:])
	return n
}

// dumpTotal reads the instructions a callgrind dump counts: its
// "summary:" (or, in older formats, "totals:") line, whose first event
// is Ir, instructions executed.
func dumpTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, prefix := range []string{"summary:", "totals:"} {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				fields := strings.Fields(rest)
				if len(fields) == 0 {
					break
				}
				return strconv.ParseInt(fields[0], 10, 64)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no summary line", path)
}

// instructionsSection is the report of a run with -instructions.
func instructionsSection(o options, results []sample) string {
	by := map[string][]sample{}
	for _, s := range results {
		if s.InstrPerReq > 0 {
			by[s.Config] = append(by[s.Config], s)
		}
	}
	perCall := func(s sample) float64 { return s.InstrPerReq }
	var sb strings.Builder
	fmt.Fprintf(&sb, "## Instructions per call\n\nRun of %s on %s, `-instructions`: %d rounds, each configuration paced at %d calls a second for %v over %d connections, "+
		"under valgrind's callgrind, counted from the phase's start to its end (user space only: the kernel's part and what an instruction costs are not in it). "+
		"Figures: thousands of instructions per call answered, median (min–max).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), machine(), o.rounds, o.rate, o.duration, o.paceConns)
	sb.WriteString("| configuration | k instructions per call | ×bare | ×baseline |\n|---|---|---|---|\n")
	for _, name := range o.configs {
		if len(by[name]) == 0 {
			continue
		}
		st := summarize(column(by[name], perCall))
		row := []string{name, fmt.Sprintf("%.1f (%.1f–%.1f)", st.Median/1000, st.Min/1000, st.Max/1000), "—", "—"}
		if name != "bare" && len(by["bare"]) > 0 {
			row[2] = ratioCell(summarize(roundRatios(by, name, "bare", perCall)))
		}
		if name == "graph-proxy" && len(by["baseline"]) > 0 {
			row[3] = ratioCell(summarize(roundRatios(by, name, "baseline", perCall)))
		}
		sb.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	return sb.String()
}
