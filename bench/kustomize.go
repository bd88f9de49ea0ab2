package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	helmv2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// kustomizeArgs are extra flags for kustomize-controller (-kustomize-args).
var kustomizeArgs string

// apps and objects size the kustomize benchmark: one Kustomization per app (-apps), each
// applying objects objects (-objects, at least 4).
var (
	apps    = 500
	objects = 20
)

// appInterval is the Kustomizations' interval: the no-change phase measures one full round
// of periodic reconciles.
const appInterval = 30 * time.Second

func kustomizeScenarios() []scenario {
	return []scenario{{
		name:   "kustomize-apps",
		note:   "-apps Kustomizations × -objects objects (wait, prune) on kwok",
		runAll: manyApps,
		quick:  true,
	}, {
		name:   "kustomize-latency",
		note:   "push → applied and drift → healed, 10 apps on kwok",
		runAll: latency,
		quick:  true,
	}}
}

// size names the kustomize benchmark's shape in its rows, for example "500x20".
func size() string { return fmt.Sprintf("%dx%d", apps, objects) }

// baseFiles is the base every app builds on: a Deployment with its ServiceAccount, Service,
// ConfigMap, RBAC, PodDisruptionBudget, NetworkPolicy and Secret, and more ConfigMaps up to n
// objects (at least the first four).
func baseFiles(n int) map[string]string {
	docs := []struct{ file, yaml string }{
		{"serviceaccount.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n"},
		{"configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  greeting: hello\n"},
		{"service.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n    - port: 80\n      targetPort: 8080\n"},
		{"deployment.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      serviceAccountName: web
      containers:
        - name: web
          image: ghcr.io/example/web:1.0.0
          ports:
            - containerPort: 8080
`},
		{"role.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: web\nrules:\n  - apiGroups: [\"\"]\n    resources: [configmaps]\n    verbs: [get, list, watch]\n"},
		{"rolebinding.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: web\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: web\nsubjects:\n  - kind: ServiceAccount\n    name: web\n"},
		{"pdb.yaml", "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\nspec:\n  maxUnavailable: 1\n  selector:\n    matchLabels: {app: web}\n"},
		{"networkpolicy.yaml", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: web\nspec:\n  podSelector:\n    matchLabels: {app: web}\n  ingress:\n    - ports:\n        - port: 8080\n"},
		{"secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web\nstringData:\n  token: not-a-secret\n"},
	}
	n = max(n, 4)
	for i := len(docs); i < n; i++ {
		docs = append(docs, struct{ file, yaml string }{fmt.Sprintf("config-%02d.yaml", i),
			fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config-%02d\ndata:\n  setting: value-%d\n", i, i)})
	}
	files := map[string]string{}
	var names []string
	for _, d := range docs[:n] {
		files["base/"+d.file] = d.yaml
		names = append(names, d.file)
	}
	files["base/kustomization.yaml"] = "resources: [" + strings.Join(names, ", ") + "]\n"
	return files
}

// worktree is a Git work tree whose commits are pushed to a repository on the harness's
// Git server.
type worktree struct {
	dir string
	// URL is the repository's address on the Git server.
	URL string
}

// newWorktree creates the repository name on the Git server from files (path → content),
// and returns the work tree it was committed from.
func (h *harness) newWorktree(name string, files map[string]string) (*worktree, error) {
	s, err := h.gitServer()
	if err != nil {
		return nil, err
	}
	w := &worktree{dir: filepath.Join(h.work, "src-"+name), URL: s.HTTPAddress() + "/" + name + ".git"}
	for p, c := range files {
		if err := w.write(p, c); err != nil {
			return nil, err
		}
	}
	if err := w.git("init", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	if err := w.git("add", "-A"); err != nil {
		return nil, err
	}
	if err := w.git("commit", "-q", "-m", "initial"); err != nil {
		return nil, err
	}
	bare := filepath.Join(s.Root(), name+".git")
	if out, err := exec.Command("git", "clone", "-q", "--bare", w.dir, bare).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("git clone: %v: %s", err, out)
	}
	return w, w.git("remote", "add", "origin", bare)
}

func (w *worktree) write(p, content string) error {
	p = filepath.Join(w.dir, p)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(content), 0o644)
}

func (w *worktree) git(args ...string) error {
	args = append([]string{"-C", w.dir, "-c", "user.name=bench", "-c", "user.email=bench@example.com"}, args...)
	if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("git %v: %v: %s", args, err, out)
	}
	return nil
}

// push commits every change in the work tree and pushes it.
func (w *worktree) push(message string) error {
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", message}, {"push", "-q", "origin", "main"}} {
		if err := w.git(args...); err != nil {
			return err
		}
	}
	return nil
}

// monorepo creates a repository with one directory per app over a shared base, and returns
// its URL and a function that commits a change to the base.
func (h *harness) monorepo(name string, n int) (string, func(value string) error, error) {
	files := baseFiles(objects)
	for i := range n {
		app := fmt.Sprintf("app-%03d", i)
		files["apps/"+app+"/kustomization.yaml"] = fmt.Sprintf("namePrefix: %s-\nlabels:\n  - pairs: {app.kubernetes.io/instance: %s}\n    includeSelectors: true\nresources: [../../base]\n", app, app)
	}
	w, err := h.newWorktree(name, files)
	if err != nil {
		return "", nil, err
	}
	change := func(value string) error {
		if err := w.write("base/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  greeting: "+value+"\n"); err != nil {
			return err
		}
		return w.push("greeting: " + value)
	}
	return w.URL, change, nil
}

// manyApps measures, on the kwok cluster: the first apply of -apps apps until all are Ready
// (their Deployments rolled out), one round of no-change periodic reconciles, and a change to
// the shared base re-applied everywhere.
func manyApps(ctx context.Context, h *harness) ([]result, error) {
	g, err := h.gitops(ctx, "monorepo", apps)
	if err != nil {
		return nil, err
	}
	defer g.close()
	ns, change, kc := g.ns, g.change, g.kc
	profiled := kc.profile(ns)

	// 1. First apply: create the Kustomizations, wait until every app is Ready.
	before, err := kc.usage()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	cpuBefore := machineCPU()
	for i := range apps {
		if err := h.env.Client.Create(ctx, appKustomization(ns, i, appInterval)); err != nil {
			return nil, err
		}
	}
	// The cluster's own part: when every Deployment has its replica available (kube-
	// controller-manager, the scheduler and kwok at work), measured alongside.
	rolledOut := make(chan time.Duration, 1)
	go func() {
		_ = waitAll(ctx, h, &appsv1.DeploymentList{}, ns, apps, 10*time.Minute, func(l *appsv1.DeploymentList) int {
			n := 0
			for _, d := range l.Items {
				if d.Status.AvailableReplicas >= 1 && d.Status.ObservedGeneration == d.Generation {
					n++
				}
			}
			return n
		})
		rolledOut <- time.Since(start)
	}()
	revision := ""
	var applied time.Duration
	if err := waitAll(ctx, h, &kustomizev1.KustomizationList{}, ns, apps, 10*time.Minute, func(l *kustomizev1.KustomizationList) int {
		if applied == 0 && len(l.Items) == apps {
			n := 0
			for _, ks := range l.Items {
				if ks.Status.Inventory != nil && len(ks.Status.Inventory.Entries) == objects {
					n++
				}
			}
			if n == apps {
				applied = time.Since(start)
			}
		}
		return readyAt(l, &revision)
	}); err != nil {
		return nil, fmt.Errorf("%w (controller log: %s)", err, kc.logPath)
	}
	kc.debugRequests()
	first, err := kc.since(before, start)
	if err != nil {
		return nil, err
	}
	first.Extra = map[string]float64{
		"all applied at (s)":           applied.Round(100 * time.Millisecond).Seconds(),
		"machine CPU busy (%)":         machineCPU().busySince(cpuBefore),
		"deployments available at (s)": (<-rolledOut).Round(100 * time.Millisecond).Seconds(),
	}
	first.Scenario = "kustomize-first-apply-" + size()
	first.Note = fmt.Sprintf("%d Kustomizations × %d objects (wait, prune) on kwok, created to all Ready", apps, objects)
	if kustomizeArgs != "" {
		first.Note += " (" + kustomizeArgs + ")"
	}

	// 2. No change: one round of periodic reconciles, counted by the controller's metrics.
	before, err = kc.usage()
	if err != nil {
		return nil, err
	}
	reconciles, err := kc.reconciles()
	if err != nil {
		return nil, err
	}
	start = time.Now()
	deadline := start.Add(3 * appInterval)
	for {
		n, err := kc.reconciles()
		if err != nil {
			return nil, err
		}
		if n-reconciles >= float64(apps) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("only %.0f of %d periodic reconciles in %s", n-reconciles, apps, 3*appInterval)
		}
		time.Sleep(200 * time.Millisecond)
	}
	kc.debugRequests()
	idle, err := kc.since(before, start)
	if err != nil {
		return nil, err
	}
	idle.Scenario, idle.Note = "kustomize-no-change-"+size(), fmt.Sprintf("one round of periodic reconciles of the %d Ready apps (interval %s), nothing changed", apps, appInterval)
	idle.WallSec = 0 // paced by the interval, not by the controller

	// 3. A change to the shared base: committed, fetched at once (requestedAt), re-applied
	// to all 500 apps.
	before, err = kc.usage()
	if err != nil {
		return nil, err
	}
	start = time.Now()
	if err := change("changed-" + ns); err != nil {
		return nil, err
	}
	if err := requestReconcile(ctx, h, ns, "monorepo"); err != nil {
		return nil, err
	}
	newRevision := ""
	if err := waitAll(ctx, h, &kustomizev1.KustomizationList{}, ns, apps, 10*time.Minute, func(l *kustomizev1.KustomizationList) int {
		n := readyAt(l, &newRevision)
		if newRevision == revision {
			return 0
		}
		return n
	}); err != nil {
		return nil, fmt.Errorf("%w (controller log: %s)", err, kc.logPath)
	}
	kc.debugRequests()
	base, err := kc.since(before, start)
	if err != nil {
		return nil, err
	}
	base.Scenario, base.Note = "kustomize-shared-base-"+size(), fmt.Sprintf("a commit to the base shared by the %d apps, pushed to all Ready at the new revision", apps)
	kc.heapProfile(ns)
	<-profiled
	return []result{first, idle, base}, nil
}

// gitops is a run's setup on the kwok cluster, not measured: a fresh namespace, a monorepo of
// apps served by source-controller through the Ready GitRepository "monorepo", and
// kustomize-controller with -kustomize-args.
type gitops struct {
	ns      string
	change  func(value string) error
	src, kc *controller
	// close stops the controllers and deletes the namespace.
	close func()
}

func (h *harness) gitops(ctx context.Context, repo string, n int) (*gitops, error) {
	var change func(string) error
	g, err := h.gitopsOf(ctx, func(ns string) (url string, err error) {
		url, change, err = h.monorepo(repo+"-"+ns, n)
		return url, err
	})
	if err != nil {
		return nil, err
	}
	g.change = change
	return g, nil
}

// gitopsOf is gitops with the repository that create makes for the run's namespace.
func (h *harness) gitopsOf(ctx context.Context, create func(ns string) (url string, err error)) (_ *gitops, err error) {
	if err := h.startCluster(ctx); err != nil {
		return nil, err
	}
	g := &gitops{}
	var undo []func() // in reverse order
	g.close = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	if g.ns, err = h.namespace(ctx); err != nil {
		return nil, err
	}
	undo = append(undo, func() { h.deleteNamespace(g.ns) })
	url, err := create(g.ns)
	if err != nil {
		return nil, err
	}
	if g.src, err = startSource(h, g.ns); err != nil {
		return nil, err
	}
	undo = append(undo, g.src.stop)
	if err := h.env.Client.Create(ctx, gitRepo(g.ns, "monorepo", url)); err != nil {
		return nil, err
	}
	if err := waitAll(ctx, h, &sourcev1.GitRepositoryList{}, g.ns, 1, 2*time.Minute, readyCount); err != nil {
		return nil, err
	}
	g.kc, err = startController(h.binDir, "kustomize-controller", h.env.Kubeconfig, h.work, g.ns,
		append([]string{"--artifact-cache-dir=" + filepath.Join(h.work, g.ns, "kustomize-cache")}, strings.Fields(kustomizeArgs)...)...)
	if err != nil {
		return nil, err
	}
	undo = append(undo, g.kc.stop)
	return g, nil
}

func appKustomization(ns string, i int, interval time.Duration) *kustomizev1.Kustomization {
	app := fmt.Sprintf("app-%03d", i)
	return &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: kustomizev1.KustomizationSpec{
			Interval:        meta.Duration{Duration: interval},
			Path:            "./apps/" + app,
			Prune:           true,
			Wait:            true,
			Timeout:         &meta.Duration{Duration: 5 * time.Minute},
			TargetNamespace: ns,
			SourceRef:       kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "monorepo"},
		},
	}
}

// readyAt counts the Kustomizations Ready at the most common applied revision, and reports it.
func readyAt(l *kustomizev1.KustomizationList, revision *string) int {
	counts := map[string]int{}
	for _, ks := range l.Items {
		for _, c := range ks.Status.Conditions {
			if c.Type == meta.ReadyCondition && c.Status == metav1.ConditionTrue && ks.Status.ObservedGeneration == ks.Generation {
				counts[ks.Status.LastAppliedRevision]++
			}
		}
	}
	best := 0
	for rev, n := range counts {
		if n > best || (n == best && rev > *revision) {
			best, *revision = n, rev
		}
	}
	return best
}

func requestReconcile(ctx context.Context, h *harness, ns, name string) error {
	repo := &sourcev1.GitRepository{}
	if err := h.env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, repo); err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, time.Now().Format(time.RFC3339Nano))
	return h.env.Client.Patch(ctx, repo, client.RawPatch("application/merge-patch+json", []byte(patch)))
}

// startCluster starts kube-controller-manager, kube-scheduler and kwok once.
func (h *harness) startCluster(ctx context.Context) error {
	if h.cluster != nil {
		return nil
	}
	c, err := h.env.StartCluster(ctx, testenv.ClusterOptions{})
	if err != nil {
		return err
	}
	h.cluster = c
	return nil
}

// deleteNamespace removes a run's namespace, so that the next run starts from a quiet cluster.
// The controllers are stopped by then: the finalizers they would have released are removed
// first (the objects they applied go with the namespace).
func (h *harness) deleteNamespace(ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	for _, list := range []client.ObjectList{&kustomizev1.KustomizationList{}, &sourcev1.GitRepositoryList{}, &helmv2.HelmReleaseList{}, &sourcev1.HelmChartList{}, &sourcev1.HelmRepositoryList{}} {
		if err := h.env.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
			continue
		}
		_ = apimeta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(client.Object)
			return h.env.Client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
		})
	}
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if err := h.env.Client.Delete(ctx, obj); err != nil {
		return
	}
	for {
		if err := h.env.Client.Get(ctx, client.ObjectKey{Name: ns}, obj); err != nil {
			debugf("namespace %s deleted in %s", ns, time.Since(start).Round(time.Millisecond))
			return
		}
		if ctx.Err() != nil {
			warnf("namespace %s still terminating after %s", ns, time.Since(start).Round(time.Second))
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// cpuTimes are the machine's CPU times from /proc/stat, in clock ticks.
type cpuTimes struct{ busy, total float64 }

func machineCPU() cpuTimes {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line := strings.SplitN(string(data), "\n", 2)[0] // cpu user nice system idle iowait ...
	var t cpuTimes
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		t.total += v
		if i != 3 && i != 4 { // idle, iowait
			t.busy += v
		}
	}
	return t
}

// busySince is the share of the machine's CPU time that was busy since before, in percent.
func (t cpuTimes) busySince(before cpuTimes) float64 {
	if t.total <= before.total {
		return 0
	}
	return float64(int(1000*(t.busy-before.busy)/(t.total-before.total))) / 10
}
