package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/driftless-dev/driftless/pkg/testenv"
)

var controllers = []string{"source-controller", "kustomize-controller", "helm-controller", "notification-controller"}

// buildControllers builds the controller binaries once per test run, or uses
// $DRIFTLESS_BIN_DIR when the Makefile already built them.
var buildControllers = sync.OnceValues(func() (string, error) {
	if dir := os.Getenv("DRIFTLESS_BIN_DIR"); dir != "" {
		return dir, nil
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "driftless-bins-")
	if err != nil {
		return "", err
	}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, c := range controllers {
		args = append(args, "./"+c)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return dir, nil
})

// freeAddr asks the kernel for a free port on 127.0.0.1 for a child process to bind.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestControllerBinaries runs each real binary against the test control plane: it must answer
// /readyz and /healthz, serve Prometheus metrics, log JSON that `flux logs` can parse, and exit
// 0 on SIGTERM.
func TestControllerBinaries(t *testing.T) {
	dir, err := buildControllers()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range controllers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			metricsAddr, healthAddr := freeAddr(t), freeAddr(t)
			args := []string{"--metrics-addr=" + metricsAddr, "--health-addr=" + healthAddr}
			switch name {
			case "notification-controller":
				args = append(args, "--events-addr="+freeAddr(t), "--receiverAddr="+freeAddr(t))
			case "source-controller":
				args = append(args, "--storage-path="+t.TempDir(), "--storage-addr="+freeAddr(t))
			}
			cmd := exec.Command(filepath.Join(dir, name), args...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig)
			logs := &syncBuffer{}
			cmd.Stdout, cmd.Stderr = logs, logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
				}
				if t.Failed() {
					t.Logf("%s output:\n%s", name, logs.String())
				}
			})

			waitFor(t, 60*time.Second, exited, func() bool { return httpStatus("http://"+healthAddr+"/readyz") == http.StatusOK })
			if code := httpStatus("http://" + healthAddr + "/healthz"); code != http.StatusOK {
				t.Errorf("/healthz = %d", code)
			}
			metrics := httpBody(t, "http://"+metricsAddr+"/metrics")
			for _, m := range []string{"go_goroutines", "process_resident_memory_bytes", "rest_client_requests_total"} {
				if !strings.Contains(metrics, m) {
					t.Errorf("/metrics lacks %s", m)
				}
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("exit after SIGTERM: %v", err)
				}
			case <-time.After(45 * time.Second):
				t.Fatal("still running 45s after SIGTERM")
			}
			checkJSONLogs(t, logs.String())
		})
	}
}

// checkJSONLogs asserts every log line is a JSON object with the keys flux logs reads.
func checkJSONLogs(t *testing.T, out string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	lines := 0
	for sc.Scan() {
		var entry map[string]any
		if err := json.Unmarshal(sc.Bytes(), &entry); err != nil {
			t.Errorf("log line is not JSON: %q", sc.Text())
			continue
		}
		for _, k := range []string{"ts", "level", "msg"} {
			if _, ok := entry[k]; !ok {
				t.Errorf("log line lacks %q: %q", k, sc.Text())
			}
		}
		if ts, _ := entry["ts"].(string); !strings.Contains(ts, "T") {
			t.Errorf("ts is not ISO-8601: %v", entry["ts"])
		}
		lines++
	}
	if lines == 0 {
		t.Error("the controller logged nothing")
	}
}

func waitFor(t *testing.T, timeout time.Duration, exited <-chan error, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case err := <-exited:
			t.Fatalf("process exited early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func httpBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
