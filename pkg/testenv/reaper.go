package testenv

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// reaper makes processes die with this one, however this one dies: SIGTERM, SIGKILL, a `go
// test -timeout` panic. envtest starts etcd and kube-apiserver in process groups of their own
// and offers no hook for a parent-death signal, so a killed test binary would leave them
// running. The reaper is a shell in a process group of its own that ignores signals and waits
// on a pipe whose write end only this process holds: when this process is gone, the pipe
// closes and the reaper kills the processes and removes the directories. A normal stop tells
// it to exit without doing either.
type reaper struct {
	cmd *exec.Cmd
	in  io.WriteCloser
}

// startReaper starts the reaper of pids (and their process groups) and dirs.
func startReaper(pids []int, dirs []string) (*reaper, error) {
	var script strings.Builder
	script.WriteString(`trap '' HUP INT QUIT TERM; read -r line; [ "$line" = done ] && exit 0;`)
	for _, pid := range pids {
		// The process group first (envtest makes each process its own group leader), then
		// the process, in case it is not: one kill each, since dash stops at a failing one.
		fmt.Fprintf(&script, " kill -KILL -%d 2>/dev/null; kill -KILL %d 2>/dev/null;", pid, pid)
	}
	for _, d := range dirs {
		fmt.Fprintf(&script, " rm -rf '%s';", strings.ReplaceAll(d, "'", `'\''`))
	}
	cmd := exec.Command("/bin/sh", "-c", script.String())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the control plane's reaper: %w", err)
	}
	return &reaper{cmd: cmd, in: in}, nil
}

// release ends the reaper without its killing anything: the processes were stopped.
func (r *reaper) release() {
	if r == nil {
		return
	}
	_, _ = io.WriteString(r.in, "done\n")
	_ = r.in.Close()
	_ = r.cmd.Wait()
}

// childrenNamed returns the PIDs of this process's children whose command is one of names.
func childrenNamed(names ...string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone since the listing
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses; it ends at the last ')'.
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		comm := s[open+1 : end]
		for _, n := range names {
			if ppid == self && comm == n {
				pids = append(pids, pid)
			}
		}
	}
	return pids, nil
}
