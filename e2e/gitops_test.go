package e2e

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/kustomize-controller/sopstest"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// monorepo is a Git working copy laid out as the GitOps monorepo pattern, pushed to a bare
// repository served over HTTP.
type monorepo struct {
	t   *testing.T
	dir string
	url string
}

func newMonorepo(t *testing.T, srv *gittestserver.GitServer, files map[string]string) *monorepo {
	t.Helper()
	r := &monorepo{t: t, dir: t.TempDir(), url: srv.HTTPAddress() + "/fleet.git"}
	bare := filepath.Join(srv.Root(), "fleet.git")
	r.git("init", "-q", "-b", "main")
	r.commit("initial", files)
	if out, err := exec.Command("git", "clone", "-q", "--bare", r.dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v: %s", err, out)
	}
	r.git("remote", "add", "origin", bare)
	return r
}

func (r *monorepo) git(args ...string) string {
	r.t.Helper()
	args = append([]string{"-C", r.dir, "-c", "user.name=e2e", "-c", "user.email=e2e@example.com"}, args...)
	out, err := exec.Command("git", args...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (an empty content deletes the file), commits, pushes, and returns the
// revision in Flux's format.
func (r *monorepo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for p, content := range files {
		path := filepath.Join(r.dir, p)
		if content == "" {
			_ = os.Remove(path)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	if strings.Contains(r.git("remote"), "origin") {
		r.git("push", "-q", "origin", "main")
	}
	return "main@sha1:" + r.git("rev-parse", "HEAD")
}

// gitServer serves Git over HTTP on 127.0.0.1 until t ends.
func gitServer(t *testing.T) *gittestserver.GitServer {
	t.Helper()
	log.SetOutput(io.Discard) // gitkit logs every request through the standard logger
	srv, err := gittestserver.NewTempGitServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(srv.Root()) })
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.StopHTTP)
	return srv
}

// process is a controller binary running for one test.
type process struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan error
}

// startBinary runs a controller binary until the test owner ends; t reports a failure to
// start it (owner may be a parent of t, for a process that outlives a subtest).
func startBinary(t *testing.T, owner testing.TB, name string, args ...string) *process {
	t.Helper()
	bin, err := buildControllers()
	if err != nil {
		t.Fatal(err)
	}
	health := freeAddr(t)
	args = append([]string{"--metrics-addr=" + freeAddr(t), "--health-addr=" + health}, args...)
	p := &process{cmd: exec.Command(filepath.Join(bin, name), args...), logs: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig, "RUNTIME_NAMESPACE=default")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	owner.Cleanup(func() {
		p.stop()
		if owner.Failed() {
			owner.Logf("%s output (last 64 KiB):\n%s", name, tail(p.logs.String(), 65536))
		}
		// DRIFTLESS_E2E_LOG_DIR keeps every controller's whole log, to read after a run.
		if dir := os.Getenv("DRIFTLESS_E2E_LOG_DIR"); dir != "" {
			_ = os.MkdirAll(dir, 0o755)
			_ = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(owner.Name(), "/", "_")+"-"+name+".log"), []byte(p.logs.String()), 0o644)
		}
	})
	waitFor(t, 60*time.Second, p.exited, func() bool { return httpStatus("http://"+health+"/readyz") == http.StatusOK })
	return p
}

func (p *process) stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

const podinfoBase = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  replicas: 1
  selector:
    matchLabels: {app: podinfo}
  template:
    metadata:
      labels: {app: podinfo}
    spec:
      containers:
        - name: podinfo
          image: ghcr.io/stefanprodan/podinfo:6.9.0
          ports:
            - containerPort: 9898
`

func fleet() map[string]string {
	return map[string]string{
		"apps/podinfo/base/kustomization.yaml":             "resources: [deployment.yaml, service.yaml, config.yaml]\n",
		"apps/podinfo/base/deployment.yaml":                podinfoBase,
		"apps/podinfo/base/service.yaml":                   "apiVersion: v1\nkind: Service\nmetadata:\n  name: podinfo\nspec:\n  selector: {app: podinfo}\n  ports:\n    - port: 80\n      targetPort: 9898\n",
		"apps/podinfo/base/config.yaml":                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: podinfo\ndata:\n  color: blue\n",
		"apps/podinfo/overlays/dev/kustomization.yaml":     "namespace: dev\nresources: [../../base]\n",
		"apps/podinfo/overlays/staging/kustomization.yaml": "namespace: staging\nresources: [../../base]\n",
		"apps/podinfo/overlays/production/kustomization.yaml": `namespace: production
resources: [../../base]
images:
  - name: ghcr.io/stefanprodan/podinfo
    newTag: 6.9.1
`,
		"platform/namespaces.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: production\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: staging\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: dev\n",
		"clusters/production/platform.yaml": `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: platform
  namespace: default
spec:
  interval: 10m
  path: ./platform
  prune: true
  sourceRef: {kind: GitRepository, name: fleet}
`,
		"clusters/production/apps.yaml": `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: default
spec:
  dependsOn: [{name: platform}]
  interval: 10m # drift is healed from the watch, not the interval
  path: ./apps/podinfo/overlays/production
  prune: true
  wait: true
  timeout: 2m
  sourceRef: {kind: GitRepository, name: fleet}
`,
	}
}

// TestGitOpsLoop runs source-controller and kustomize-controller as processes against a
// cluster-like control plane (kube-controller-manager, the scheduler and kwok's simulated
// nodes), with a Git server on 127.0.0.1: Deployments roll out for real and health checks see
// real readiness.
func TestGitOpsLoop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cluster, err := env.StartCluster(ctx, testenv.ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()

	srv := gitServer(t)
	repo := newMonorepo(t, srv, fleet())

	storage := freeAddr(t)
	startBinary(t, t, "source-controller", "--storage-path="+t.TempDir(), "--storage-addr="+storage, "--storage-adv-addr="+storage)
	kcArgs := []string{"--artifact-cache-dir=" + t.TempDir(), "--requeue-dependency=2s"}
	kc := startBinary(t, t, "kustomize-controller", kcArgs...)
	loop := t // the processes live as long as the whole loop

	// 6. App of apps: a root Kustomization applies clusters/production, whose Kustomizations
	// apply the platform (namespaces) and then, depending on it, the app.
	gitRepo := &sourcev1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Name: "fleet", Namespace: "default"},
		Spec:       sourcev1.GitRepositorySpec{URL: repo.url, Interval: meta.Duration{Duration: time.Hour}, Reference: &sourcev1.GitRepositoryRef{Branch: "main"}},
	}
	root := &kustomizev1.Kustomization{
		ObjectMeta: metav1.ObjectMeta{Name: "root", Namespace: "default"},
		Spec: kustomizev1.KustomizationSpec{
			Interval: meta.Duration{Duration: time.Hour}, Path: "./clusters/production", Prune: true,
			SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "fleet"},
		},
	}
	for _, o := range []client.Object{gitRepo, root} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	revision := "main@sha1:" + repo.git("rev-parse", "HEAD")
	apps := client.ObjectKey{Namespace: "default", Name: "apps"}
	var d *appsv1.Deployment
	files := fleet()

	// 1. Commit → applied: the app rolls out and its Kustomization is Ready at the revision.
	t.Run("1-commit-applied", func(t *testing.T) {
		waitReadyAt(t, apps, revision, 3*time.Minute)
		waitReadyAt(t, client.ObjectKey{Namespace: "default", Name: "platform"}, revision, time.Minute)
		d = waitAvailable(t, "production", "podinfo", 1)
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/stefanprodan/podinfo:6.9.1" {
			t.Errorf("production image = %s", img)
		}
		pods := &corev1.PodList{}
		if err := env.Client.List(ctx, pods, client.InNamespace("production")); err != nil || len(pods.Items) == 0 {
			t.Fatalf("no pods in production: %v", err)
		}
	})

	// 2. A new commit changes replicas and the image tag: rolled out, lastAppliedRevision follows.
	t.Run("2-new-commit-rolled-out", func(t *testing.T) {
		files["apps/podinfo/base/deployment.yaml"] = strings.Replace(podinfoBase, "replicas: 1", "replicas: 2", 1)
		files["apps/podinfo/overlays/production/kustomization.yaml"] = strings.Replace(files["apps/podinfo/overlays/production/kustomization.yaml"], "6.9.1", "6.9.2", 1)
		revision = repo.commit("podinfo 6.9.2, two replicas", files)
		requestSourceReconcile(t, gitRepo)
		waitReadyAt(t, apps, revision, 3*time.Minute)
		d = waitAvailable(t, "production", "podinfo", 2)
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/stefanprodan/podinfo:6.9.2" {
			t.Errorf("production image after the commit = %s", img)
		}
	})

	// 3. Self-heal: kubectl scale and kubectl delete are undone at once, from the watch on the
	// applied objects: the interval is 10m.
	t.Run("3-self-heal-from-the-watch", func(t *testing.T) {
		if err := env.Client.SubResource("scale").Update(ctx, d, client.WithSubResourceBody(&autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 5}}), client.FieldOwner("kubectl")); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "production", Name: "podinfo"}}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 20*time.Second, func() error {
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "production", Name: "podinfo"}, d); err != nil {
				return err
			}
			if *d.Spec.Replicas != 2 {
				return fmt.Errorf("replicas = %d", *d.Spec.Replicas)
			}
			return env.Client.Get(ctx, client.ObjectKey{Namespace: "production", Name: "podinfo"}, &corev1.Service{})
		})
	})

	// 4. Prune: the ConfigMap leaves Git and the cluster.
	t.Run("4-prune", func(t *testing.T) {
		files["apps/podinfo/base/kustomization.yaml"] = "resources: [deployment.yaml, service.yaml]\n"
		files["apps/podinfo/base/config.yaml"] = ""
		revision = repo.commit("drop the config", files)
		requestSourceReconcile(t, gitRepo)
		waitReadyAt(t, apps, revision, 3*time.Minute)
		testenv.Eventually(t, time.Minute, func() error {
			err := env.Client.Get(ctx, client.ObjectKey{Namespace: "production", Name: "podinfo"}, &corev1.ConfigMap{})
			if err == nil {
				return fmt.Errorf("configmap not pruned")
			}
			return client.IgnoreNotFound(err)
		})
	})

	// 5. A broken commit: Ready=False with the reason; the last good state keeps running; the
	// fix after it recovers.
	t.Run("5-broken-commit-keeps-last-state", func(t *testing.T) {
		good := revision
		files["apps/podinfo/base/service.yaml"] = "apiVersion: v1\nkind: Service\nmetadata: [broken\n"
		broken := repo.commit("broken YAML", files)
		requestSourceReconcile(t, gitRepo)
		testenv.Eventually(t, 3*time.Minute, func() error {
			ks := &kustomizev1.Kustomization{}
			if err := env.Client.Get(ctx, apps, ks); err != nil {
				return err
			}
			c := readyCondition(ks.Status.Conditions)
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != meta.BuildFailedReason || ks.Status.LastAttemptedRevision != broken {
				return fmt.Errorf("ready = %+v, lastAttempted %s", c, ks.Status.LastAttemptedRevision)
			}
			if ks.Status.LastAppliedRevision != good {
				return fmt.Errorf("lastApplied = %s, want %s", ks.Status.LastAppliedRevision, good)
			}
			return nil
		})
		waitAvailable(t, "production", "podinfo", 2)
		files = fleet()
		files["apps/podinfo/base/kustomization.yaml"] = "resources: [deployment.yaml, service.yaml]\n"
		files["apps/podinfo/base/config.yaml"] = ""
		fixed := repo.commit("fix the service", files)
		requestSourceReconcile(t, gitRepo)
		waitReadyAt(t, apps, fixed, 3*time.Minute)
		waitAvailable(t, "production", "podinfo", 1)
	})

	// 7. kustomize-controller killed (SIGKILL) while it applies a new revision, and restarted:
	// it converges, nothing lost or duplicated.
	t.Run("7-killed-mid-apply-converges", func(t *testing.T) {
		files["apps/podinfo/base/deployment.yaml"] = strings.Replace(podinfoBase, "replicas: 1", "replicas: 3", 1)
		files["apps/podinfo/base/extra.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  k: v\n"
		files["apps/podinfo/base/kustomization.yaml"] = "resources: [deployment.yaml, service.yaml, extra.yaml]\n"
		revision = repo.commit("three replicas and an extra config", files)
		requestSourceReconcile(t, gitRepo)
		testenv.Eventually(t, time.Minute, func() error {
			src := &sourcev1.GitRepository{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(gitRepo), src); err != nil {
				return err
			}
			if src.Status.Artifact == nil || src.Status.Artifact.Revision != revision {
				return fmt.Errorf("artifact not at %s yet", revision)
			}
			return nil
		})
		_ = kc.cmd.Process.Kill()
		<-kc.exited
		kc = startBinary(t, loop, "kustomize-controller", kcArgs...)
		waitReadyAt(t, apps, revision, 3*time.Minute)
		waitAvailable(t, "production", "podinfo", 3)
		ks := &kustomizev1.Kustomization{}
		if err := env.Client.Get(ctx, apps, ks); err != nil {
			t.Fatal(err)
		}
		if n := len(ks.Status.Inventory.Entries); n != 3 {
			t.Errorf("inventory after the restart: %+v", ks.Status.Inventory.Entries)
		}
		rsList := &appsv1.ReplicaSetList{}
		if err := env.Client.List(ctx, rsList, client.InNamespace("production")); err != nil {
			t.Fatal(err)
		}
		for _, rs := range rsList.Items {
			if rs.Status.Replicas > 0 && *rs.Spec.Replicas != 3 {
				t.Errorf("a second ReplicaSet still runs pods: %s", rs.Name)
			}
		}
	})

	// 8. The Git repository unreachable for a while: the source fails, the cluster keeps the
	// last applied state (nothing pruned), and both recover when it returns.
	t.Run("8-git-away-keeps-state", func(t *testing.T) {
		bare := filepath.Join(srv.Root(), "fleet.git")
		if err := os.Rename(bare, bare+".away"); err != nil {
			t.Fatal(err)
		}
		requestSourceReconcile(t, gitRepo)
		waitSourceReady(t, gitRepo, metav1.ConditionFalse)
		// A reconcile of the app while Git is away (requested, so it verifies every object).
		token := time.Now().Format(time.RFC3339Nano)
		appsKS := &kustomizev1.Kustomization{ObjectMeta: metav1.ObjectMeta{Namespace: apps.Namespace, Name: apps.Name}}
		if err := env.Client.Patch(ctx, appsKS, client.RawPatch("application/merge-patch+json", []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, token)))); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, time.Minute, func() error {
			ks := &kustomizev1.Kustomization{}
			if err := env.Client.Get(ctx, apps, ks); err != nil {
				return err
			}
			if ks.Status.LastHandledReconcileAt != token {
				return fmt.Errorf("request not handled yet")
			}
			return nil
		})
		waitReadyAt(t, apps, revision, time.Minute)
		waitAvailable(t, "production", "podinfo", 3)
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "production", Name: "extra"}, &corev1.ConfigMap{}); err != nil {
			t.Errorf("an object was lost while Git was away: %v", err)
		}
		if err := os.Rename(bare+".away", bare); err != nil {
			t.Fatal(err)
		}
		requestSourceReconcile(t, gitRepo)
		waitSourceReady(t, gitRepo, metav1.ConditionTrue)
	})

	// 9. Secrets and variables, as a Flux bootstrap repository has them: a SOPS-encrypted
	// Secret (age) and cluster variables from a ConfigMap, substituted after decryption.
	t.Run("9-sops-and-variables", func(t *testing.T) {
		identity, recipient := sopstest.NewIdentity(t)
		for _, o := range []client.Object{
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sops-age", Namespace: "default"}, Data: map[string][]byte{"age.agekey": []byte(identity)}},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cluster-vars", Namespace: "default"}, Data: map[string]string{"cluster_name": "production-eu"}},
		} {
			if err := env.Client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		for k, v := range secretsApp(t, recipient) {
			files[k] = v
		}
		revision = repo.commit("database credentials", files)
		requestSourceReconcile(t, gitRepo)
		waitReadyAt(t, client.ObjectKey{Namespace: "default", Name: "secrets"}, revision, 2*time.Minute)
		db := &corev1.Secret{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "production", Name: "db"}, db); err != nil {
			t.Fatal(err)
		}
		if string(db.Data["password"]) != "hunter2" || string(db.Data["url"]) != "postgres://db.production-eu:5432/app" {
			t.Errorf("decrypted and substituted Secret: %q", db.Data)
		}
		info := &corev1.ConfigMap{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "production", Name: "cluster-info"}, info); err != nil {
			t.Fatal(err)
		}
		if info.Data["cluster"] != "production-eu" || info.Data["region"] != "eu-west-1" {
			t.Errorf("substituted ConfigMap: %v", info.Data)
		}
		if strings.Contains(kc.logs.String(), "hunter2") || strings.Contains(kc.logs.String(), identity) {
			t.Error("kustomize-controller logged a secret")
		}
	})
}

// secretsApp is apps/secrets, with its Secret encrypted for recipient, and the Kustomization
// in clusters/production that decrypts it and substitutes the cluster's variables.
func secretsApp(t *testing.T, recipient string) map[string]string {
	t.Helper()
	secret := `apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: hunter2
  url: postgres://db.${cluster_name}:5432/app
`
	return map[string]string{
		"apps/secrets/kustomization.yaml": "namespace: production\nresources: [db.enc.yaml, info.yaml]\n",
		"apps/secrets/db.enc.yaml":        string(sopstest.Encrypt(t, "db.enc.yaml", []byte(secret), "^(data|stringData)$", recipient)),
		"apps/secrets/info.yaml":          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-info\ndata:\n  cluster: ${cluster_name}\n  region: ${region:=eu-west-1}\n",
		"clusters/production/secrets.yaml": `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: secrets
  namespace: default
spec:
  dependsOn: [{name: platform}]
  interval: 10m
  path: ./apps/secrets
  prune: true
  sourceRef: {kind: GitRepository, name: fleet}
  decryption:
    provider: sops
    secretRef: {name: sops-age}
  postBuild:
    substituteFrom:
      - {kind: ConfigMap, name: cluster-vars}
`,
	}
}

func readyCondition(conds []metav1.Condition) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == meta.ReadyCondition {
			return &conds[i]
		}
	}
	return nil
}

func waitReadyAt(t *testing.T, key client.ObjectKey, revision string, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, func() error {
		ks := &kustomizev1.Kustomization{}
		if err := env.Client.Get(context.Background(), key, ks); err != nil {
			return err
		}
		if c := readyCondition(ks.Status.Conditions); c == nil || c.Status != metav1.ConditionTrue || ks.Status.LastAppliedRevision != revision {
			return fmt.Errorf("%s: ready = %+v, lastApplied %q, want %q", key, c, ks.Status.LastAppliedRevision, revision)
		}
		return nil
	})
}

// waitAvailable waits until the Deployment has rolled out replicas available pods.
func waitAvailable(t *testing.T, ns, name string, replicas int32) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	testenv.Eventually(t, 2*time.Minute, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return err
		}
		s := d.Status
		if s.ObservedGeneration != d.Generation || s.UpdatedReplicas != replicas || s.AvailableReplicas != replicas || s.Replicas != replicas {
			return fmt.Errorf("%s/%s: %+v", ns, name, s)
		}
		return nil
	})
	return d
}

// waitSourceReady waits until the GitRepository's Ready condition has status.
func waitSourceReady(t *testing.T, repo *sourcev1.GitRepository, status metav1.ConditionStatus) {
	t.Helper()
	testenv.Eventually(t, time.Minute, func() error {
		src := &sourcev1.GitRepository{}
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(repo), src); err != nil {
			return err
		}
		if c := readyCondition(src.Status.Conditions); c == nil || c.Status != status {
			return fmt.Errorf("source ready = %+v", c)
		}
		return nil
	})
}

func requestSourceReconcile(t *testing.T, repo *sourcev1.GitRepository) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, time.Now().Format(time.RFC3339Nano))
	if err := env.Client.Patch(context.Background(), repo, client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatal(err)
	}
}
