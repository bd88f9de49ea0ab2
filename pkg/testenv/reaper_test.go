package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary, run again by the test below, start a control plane and
// wait to be killed.
const helperEnv = "DRIFTLESS_TESTENV_KILLED_HELPER"

func TestControlPlaneHelper(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("run by TestKilledTestBinaryLeavesNoControlPlane")
	}
	e, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	pids, err := childrenNamed("etcd", "kube-apiserver")
	if err != nil || len(pids) != 2 {
		t.Fatalf("control plane processes %v: %v", pids, err)
	}
	fmt.Printf("pids %d %d dirs %s %s\n", pids[0], pids[1], e.dir, e.env.ControlPlane.GetAPIServer().CertDir)
	select {} // until killed
}

// A test binary killed with SIGKILL (as a `go test -timeout`, an OOM kill or a cancelled CI
// job may) leaves no etcd or kube-apiserver running, and no files behind.
func TestKilledTestBinaryLeavesNoControlPlane(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("helper")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestControlPlaneHelper$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var pids []int
	var dirs []string
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if f := strings.Fields(lines.Text()); len(f) == 6 && f[0] == "pids" {
			for _, s := range f[1:3] {
				pid, _ := strconv.Atoi(s)
				pids = append(pids, pid)
			}
			dirs = f[4:]
			break
		}
	}
	if len(pids) != 2 {
		t.Fatalf("the helper did not start a control plane (%v)", lines.Err())
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("process %d is not running before the kill", pid)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	Eventually(t, 30*time.Second, func() error {
		for _, pid := range pids {
			if alive(pid) {
				return fmt.Errorf("process %d still runs after its test binary was killed", pid)
			}
		}
		for _, d := range dirs {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%s is still there (%v)", d, err)
			}
		}
		return nil
	})
}

// alive reports whether pid runs (and is not a zombie waiting for its parent).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}
