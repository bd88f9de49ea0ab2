package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cluster runs, next to the API server, what makes the control plane behave like a cluster:
// kube-controller-manager (Deployments create ReplicaSets and Pods, namespaces are deleted,
// garbage is collected), kube-scheduler, and kwok, which simulates nodes and the kubelet, so
// that Pods become Ready without containers. No status is faked by the tests.
type Cluster struct {
	// LogDir holds one log file per process.
	LogDir string
	procs  []*process
}

type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// ClusterOptions configures StartCluster.
type ClusterOptions struct {
	// Nodes is how many simulated nodes to create (default 1).
	Nodes int
	// QPS is the client rate limit of kube-controller-manager and kube-scheduler (default
	// 500), so that the cluster's own controllers are not what a benchmark measures.
	QPS int
}

// StartCluster starts kube-controller-manager, kube-scheduler and kwok from the binary
// assets directory (`make cluster` builds them), creates the simulated nodes and waits until
// they are Ready and the controllers work.
func (e *Environment) StartCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	if o.Nodes <= 0 {
		o.Nodes = 1
	}
	if o.QPS <= 0 {
		o.QPS = 500
	}
	bin, err := BinaryAssetsDir()
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			return nil, fmt.Errorf("testenv: %s not found in %s; run `make cluster` first", name, bin)
		}
	}
	dir, err := os.MkdirTemp("", "driftless-cluster-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{LogDir: dir}
	fail := func(err error) (*Cluster, error) {
		c.Stop()
		return nil, fmt.Errorf("%w (logs in %s)", err, dir)
	}

	qps, burst := fmt.Sprint(o.QPS), fmt.Sprint(2*o.QPS)
	kcmPort, err := freePort()
	if err != nil {
		return fail(err)
	}
	if err := c.start(bin, "kube-controller-manager",
		"--kubeconfig="+e.Kubeconfig, "--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port="+kcmPort,
		"--kube-api-qps="+qps, "--kube-api-burst="+burst,
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
		"--controllers=*,-node-ipam-controller",
	); err != nil {
		return fail(err)
	}

	schedPort, err := freePort()
	if err != nil {
		return fail(err)
	}
	schedConfig := filepath.Join(dir, "scheduler.yaml")
	if err := os.WriteFile(schedConfig, []byte(fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: %s
  burst: %s
leaderElection:
  leaderElect: false
`, e.Kubeconfig, qps, burst)), 0o600); err != nil {
		return fail(err)
	}
	if err := c.start(bin, "kube-scheduler", "--config="+schedConfig, "--bind-address=127.0.0.1", "--secure-port="+schedPort); err != nil {
		return fail(err)
	}

	kwokAddr, err := FreeAddr()
	if err != nil {
		return fail(err)
	}
	if err := c.start(bin, "kwok",
		"--kubeconfig="+e.Kubeconfig, "--config="+filepath.Join(bin, "kwok-stages.yaml"),
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--server-address="+kwokAddr, "--cidr=10.0.0.1/16", "--node-ip=10.1.0.1",
	); err != nil {
		return fail(err)
	}

	for i := range o.Nodes {
		name := fmt.Sprintf("kwok-node-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels:      map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"},
			},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000"), corev1.ResourceMemory: resource.MustParse("1Ti"), corev1.ResourcePods: resource.MustParse("10000")},
				Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000"), corev1.ResourceMemory: resource.MustParse("1Ti"), corev1.ResourcePods: resource.MustParse("10000")},
			},
		}
		if err := e.Client.Create(ctx, node); err != nil && !strings.Contains(err.Error(), "already exists") {
			return fail(fmt.Errorf("creating node %s: %w", name, err))
		}
	}

	// Ready when every node is Ready (kwok works) and the default ServiceAccount exists
	// (kube-controller-manager works; Pods cannot be created before it).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := c.ready(ctx, e, o.Nodes)
		if err == nil {
			return c, nil
		}
		if exited := c.exited(); exited != "" {
			return fail(fmt.Errorf("testenv: %s exited", exited))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fail(fmt.Errorf("testenv: cluster not ready: %w", err))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *Cluster) ready(ctx context.Context, e *Environment, nodes int) error {
	list := &corev1.NodeList{}
	if err := e.Client.List(ctx, list, client.MatchingLabels{"type": "kwok"}); err != nil {
		return err
	}
	readyNodes := 0
	for _, n := range list.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				readyNodes++
			}
		}
	}
	if readyNodes < nodes {
		return fmt.Errorf("%d of %d nodes ready", readyNodes, nodes)
	}
	return e.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "default"}, &corev1.ServiceAccount{})
}

func (c *Cluster) start(bin, name string, args ...string) error {
	log, err := os.Create(filepath.Join(c.LogDir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); log.Close(); close(p.done) }()
	c.procs = append(c.procs, p)
	return nil
}

// exited names a process that is no longer running.
func (c *Cluster) exited() string {
	for _, p := range c.procs {
		select {
		case <-p.done:
			return p.name
		default:
		}
	}
	return ""
}

// Stop stops the processes, most recently started first, and keeps the logs.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	c.procs = nil
}

func freePort() (string, error) {
	addr, err := FreeAddr()
	if err != nil {
		return "", err
	}
	_, port, err := net.SplitHostPort(addr)
	return port, err
}
