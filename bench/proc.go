package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/driftless-dev/driftless/pkg/testenv"
)

// controller is a running controller binary.
type controller struct {
	name        string
	cmd         *exec.Cmd
	metricsAddr string
	logPath     string
}

// startController starts a controller binary that watches only namespace, so that objects
// left by earlier runs do not add to a run's figures.
func startController(binDir, name, kubeconfig, logDir, namespace string, args ...string) (*controller, error) {
	metrics, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	health, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, namespace+"-"+name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args = append([]string{"--metrics-addr=" + metrics, "--health-addr=" + health, "--watch-all-namespaces=false"}, args...)
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "RUNTIME_NAMESPACE="+namespace)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &controller{name: name, cmd: cmd, metricsAddr: metrics, logPath: logPath}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + health + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("%s not ready; see %s", name, logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *controller) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
	}
}

// since returns the controller's resource use from before until now, and the wall time since
// start.
func (c *controller) since(before usage, start time.Time) (result, error) {
	wall := time.Since(start)
	after, err := c.usage()
	if err != nil {
		return result{}, err
	}
	return result{
		Controller: c.name,
		WallSec:    wall.Seconds(),
		CPUSec:     after.CPUSeconds - before.CPUSeconds,
		PeakRSSMiB: after.PeakRSSMiB,
		Requests:   after.Requests - before.Requests,
	}, nil
}

// usage is a process's resource use so far.
type usage struct {
	CPUSeconds float64
	PeakRSSMiB float64
	Requests   float64
}

// usage reads /proc for CPU time and peak RSS, and the controller's own metrics for the
// number of requests it sent to the API server.
func (c *controller) usage() (usage, error) {
	pid := c.cmd.Process.Pid
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, err
	}
	// Fields after the parenthesised command name; utime and stime are fields 14 and 15.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	u := usage{CPUSeconds: (utime + stime) / 100} // USER_HZ is 100 on Linux
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			u.PeakRSSMiB = kb / 1024
		}
	}
	u.Requests, err = c.apiRequests()
	return u, err
}

// apiRequests sums rest_client_requests_total from the controller's metrics.
func (c *controller) apiRequests() (float64, error) {
	return c.metric("rest_client_requests_total{")
}

// reconciles sums controller_runtime_reconcile_total: how many reconciles finished.
func (c *controller) reconciles() (float64, error) {
	return c.metric("controller_runtime_reconcile_total{")
}

// metricLines returns the controller's metric lines that start with prefix.
func (c *controller) metricLines(prefix string) ([]string, error) {
	resp, err := http.Get("http://" + c.metricsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out, nil
}

// debugRequests logs the controller's API requests so far, by method and code (-v).
func (c *controller) debugRequests() {
	lines, err := c.metricLines("rest_client_requests_total{")
	if err != nil {
		return
	}
	for i, l := range lines {
		if j := strings.Index(l, "host="); j >= 0 {
			if k := strings.Index(l[j:], ","); k >= 0 {
				lines[i] = l[:j] + l[j+k+1:]
			}
		}
	}
	debugf("%s requests so far: %s", c.name, strings.Join(lines, "; "))
}

// metric sums the samples of the controller's metrics whose line starts with prefix.
func (c *controller) metric(prefix string) (float64, error) {
	resp, err := http.Get("http://" + c.metricsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var total float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		total += v
	}
	return total, nil
}

var (
	profileDir     string
	profileSeconds int
)

// profile saves the controller's CPU profile for the next profileSeconds in the background;
// wait for the returned channel before stopping the controller.
func (c *controller) profile(name string) <-chan struct{} {
	done := make(chan struct{})
	if profileDir == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		_ = c.save(fmt.Sprintf("/debug/pprof/profile?seconds=%d", profileSeconds), name+".cpu.pprof")
	}()
	return done
}

// heapProfile saves the controller's heap profile now.
func (c *controller) heapProfile(name string) {
	if profileDir != "" {
		_ = c.save("/debug/pprof/heap", name+".heap.pprof")
	}
}

func (c *controller) save(path, file string) error {
	resp, err := http.Get("http://" + c.metricsAddr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(profileDir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(profileDir, file))
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
