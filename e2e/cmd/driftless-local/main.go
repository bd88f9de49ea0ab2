// Command driftless-local runs the whole system on one machine, for `make run`: a local control
// plane (etcd and kube-apiserver from bin/), or the cluster of $KUBECONFIG, with the CRDs
// installed and the four controllers started on free ports, wired to each other. Ctrl-C stops
// everything it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	helmv2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	notifyv1 "github.com/driftless-dev/driftless/notification-controller/api/v1"
	notifyv1beta3 "github.com/driftless-dev/driftless/notification-controller/api/v1beta3"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

var controllers = []string{"source-controller", "kustomize-controller", "helm-controller", "notification-controller"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "notify-push" { // the demo repository's post-receive hook
		if err := notifyPush(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "driftless-local notify-push:", err)
			os.Exit(1)
		}
		return
	}
	binDir := flag.String("bin-dir", "bin", "directory holding the controller binaries")
	stateDir := flag.String("state-dir", ".run", "directory for the kubeconfig and logs")
	flag.Parse()
	log.SetOutput(io.Discard) // the demo's Git server logs every request through the standard logger
	// `make run | tee run.log` and Ctrl-C: tee dies with the same signal, and a write to its
	// closed pipe must not kill this process before it has stopped what it started.
	signal.Ignore(syscall.SIGPIPE)
	if err := run(*binDir, *stateDir); err != nil {
		fmt.Fprintln(os.Stderr, "driftless-local:", err)
		os.Exit(1)
	}
}

func run(binDir, stateDir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(filepath.Join(stateDir, "logs"), 0o755); err != nil {
		return err
	}
	kubeconfig, err := filepath.Abs(filepath.Join(stateDir, "kubeconfig"))
	if err != nil {
		return err
	}
	var local *testenv.Environment // the local control plane, when not using $KUBECONFIG

	if existing := os.Getenv("KUBECONFIG"); existing != "" {
		kubeconfig = existing
		fmt.Printf("Using the cluster of $KUBECONFIG (%s).\n", existing)
		if err := installCRDs(existing); err != nil {
			return err
		}
	} else {
		etcdDir, err := filepath.Abs(filepath.Join(stateDir, "etcd"))
		if err != nil {
			return err
		}
		fmt.Printf("Starting the local control plane (etcd, kube-apiserver; state in %s)...\n", stateDir)
		env, err := testenv.Start(testenv.WithEtcdDataDir(etcdDir), testenv.WithScheme(sourcev1.AddToScheme, kustomizev1.AddToScheme, helmv2.AddToScheme, notifyv1.AddToScheme, notifyv1beta3.AddToScheme))
		if err != nil {
			return err
		}
		defer func() {
			fmt.Println("Stopping the control plane...")
			_ = env.Stop()
		}()
		fmt.Println("Starting kube-controller-manager, kube-scheduler and kwok (simulated nodes)...")
		cluster, err := env.StartCluster(ctx, testenv.ClusterOptions{})
		if err != nil {
			return err
		}
		defer cluster.Stop()
		local = env
		data, err := os.ReadFile(env.Kubeconfig)
		if err != nil {
			return err
		}
		if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
			return err
		}
	}

	procs, receiverAddr, err := startControllers(ctx, binDir, stateDir, kubeconfig)
	defer stopAll(procs)
	if err != nil {
		return err
	}

	demoDir, replicas, hookURL, ociURL := "", 0, "", "" // the demo's working copy, replicas, webhook and registry, on the local control plane
	if local != nil {
		sink, err := startAlertSink(stateDir)
		if err != nil {
			return err
		}
		defer sink.stop()
		d, err := startDemo(stateDir)
		if err != nil {
			return err
		}
		defer d.stop()
		fmt.Printf("Applying the demo: a GitRepository for %s and Kustomizations for its dev and production overlays...\n", d.url())
		if err := d.apply(ctx, local.Client); err != nil {
			return err
		}
		if err := d.progress(ctx, local.Client, 3*time.Minute); err != nil {
			return err
		}
		charts, err := startHelmDemo()
		if err != nil {
			return err
		}
		defer charts.Close()
		fmt.Printf("Applying the Helm demo: a HelmRepository for %s and a HelmRelease of its chart 'hello' into demo-helm...\n", charts.URL)
		if err := applyHelmDemo(ctx, local.Client, charts.URL); err != nil {
			return err
		}
		if err := helmProgress(ctx, local.Client, 3*time.Minute); err != nil {
			return err
		}
		registry, err := startOCIDemo()
		if err != nil {
			return err
		}
		defer registry.Server.Close()
		ociURL = registry.URL
		fmt.Printf("Applying the OCI demo: an OCIRepository following %s/demo/manifests (1.x) and a Kustomization applying it...\n", registry.URL)
		if err := applyOCIDemo(ctx, local.Client, registry); err != nil {
			return err
		}
		if err := ociProgress(ctx, local.Client, 2*time.Minute); err != nil {
			return err
		}
		fmt.Println("Wiring notifications: a GitHub Receiver for the demo repository's pushes, and an Alert printing the demo's events here...")
		if hookURL, err = d.notifications(ctx, local.Client, stateDir, binDir, receiverAddr, sink.url); err != nil {
			return err
		}
		demoDir = d.workdir
		replicas = d.replicas()
	}

	bin, err := filepath.Abs(binDir)
	if err != nil {
		return err
	}
	fmt.Printf(`
Driftless is running. In another terminal (kubectl is in %[2]s):

  export KUBECONFIG=%[1]s PATH=%[2]s:$PATH
  kubectl get gitrepositories,kustomizations,helmrepositories,helmreleases -A
`, kubeconfig, bin)
	if demoDir != "" {
		fmt.Printf(`  kubectl get deployments,pods -n demo-dev

Change the demo in Git and watch the change arrive in about a second: the repository's
post-receive hook sends a signed GitHub push webhook to the Receiver at
%[4]s
and the Alert prints each step here ("alert: ..."; also in logs/alerts.log):

  cd %[1]s
  sed -i 's/replicas: %[2]d/replicas: %[3]d/' apps/demo/base/deployment.yaml
  git commit -qam "%[3]d replicas" && git push -q origin main
  kubectl get kustomizations -w

The Helm demo upgrades on new values, and puts back what kubectl changes (from the watch):

  kubectl patch helmrelease demo-helm --type merge -p '{"spec":{"values":{"replicas":3}}}'
  kubectl scale deployment hello -n demo-helm --replicas=5   # back to 3 within seconds
  kubectl get secrets -n default -l owner=helm               # Helm's release history

The OCI demo applies what CI pushes with Flux's CLI (the registry asks for credentials):

  mkdir -p /tmp/demo-oci && kubectl create configmap demo-oci -n default \
    --from-literal=version=1.1.0 --dry-run=client -o yaml > /tmp/demo-oci/config.yaml
  flux push artifact %[5]s/demo/manifests:1.1.0 --path=/tmp/demo-oci --source=demo \
    --revision=demo@sha1:$(printf '%%040d' 2) --insecure-registry --creds=%[6]s:%[7]s
  flux reconcile source oci demo-oci -n default && kubectl get configmap demo-oci -o yaml   # flux: make flux
`, demoDir, replicas, replicas%5+1, hookURL, ociURL, ociDemoUser, ociDemoPassword)
	}
	fmt.Printf("\nController logs are in %s. Press Ctrl-C to stop everything.\n", filepath.Join(stateDir, "logs"))

	exited := make(chan string, len(procs))
	for name, p := range procs {
		go func() { _ = p.Wait(); exited <- name }()
	}
	select {
	case <-ctx.Done():
		fmt.Println("\nShutting down...")
		return nil
	case name := <-exited:
		return fmt.Errorf("%s exited; see %s", name, filepath.Join(stateDir, "logs", name+".log"))
	}
}

// startControllers starts the four binaries, notification-controller first so that the others
// can post their events to it.
func startControllers(ctx context.Context, binDir, stateDir, kubeconfig string) (procs map[string]*exec.Cmd, receiverAddr string, err error) {
	procs = map[string]*exec.Cmd{}
	eventsAddr, err := testenv.FreeAddr()
	if err != nil {
		return procs, "", err
	}
	if receiverAddr, err = testenv.FreeAddr(); err != nil {
		return procs, "", err
	}
	order := append([]string{"notification-controller"}, controllers[:3]...)
	for _, name := range order {
		metrics, err := testenv.FreeAddr()
		if err != nil {
			return procs, "", err
		}
		health, err := testenv.FreeAddr()
		if err != nil {
			return procs, "", err
		}
		args := []string{"--metrics-addr=" + metrics, "--health-addr=" + health, "--log-encoding=console"}
		if name == "notification-controller" {
			args = append(args, "--events-addr="+eventsAddr, "--receiverAddr="+receiverAddr)
		} else {
			args = append(args, "--events-addr=http://"+eventsAddr+"/")
		}
		if name == "source-controller" {
			storageAddr, err := testenv.FreeAddr()
			if err != nil {
				return procs, "", err
			}
			args = append(args, "--storage-path="+filepath.Join(stateDir, "storage"), "--storage-addr="+storageAddr, "--storage-adv-addr="+storageAddr)
		}
		logFile, err := os.Create(filepath.Join(stateDir, "logs", name+".log"))
		if err != nil {
			return procs, "", err
		}
		cmd := exec.Command(filepath.Join(binDir, name), args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "RUNTIME_NAMESPACE=flux-system")
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			return procs, "", fmt.Errorf("starting %s: %w", name, err)
		}
		procs[name] = cmd
		if err := waitReady(ctx, "http://"+health+"/readyz"); err != nil {
			return procs, "", fmt.Errorf("%s did not become ready: %w", name, err)
		}
		fmt.Printf("  %-24s ready   metrics http://%s/metrics\n", name, metrics)
	}
	return procs, receiverAddr, nil
}

func stopAll(procs map[string]*exec.Cmd) {
	for _, p := range procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for name, p := range procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			fmt.Printf("%s did not stop in 30s; killing it\n", name)
			_ = p.Process.Kill()
		}
	}
}

func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if ok, _ := get(url); ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	_, body := get(url + "?verbose")
	return errors.New(strings.TrimSpace(body))
}

// installCRDs creates or updates Driftless's CRDs on an existing cluster and waits until they
// are served.
func installCRDs(kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	crds, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{
		Paths:              []string{filepath.Join(root, "manifests", "crds")},
		ErrorIfPathMissing: true,
	})
	if err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	fmt.Printf("Installed %d CRDs.\n", len(crds))
	return nil
}
