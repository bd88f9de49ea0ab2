package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// demoFiles is a small multi-environment app: a base and dev/production overlays.
var demoFiles = map[string]string{
	"apps/demo/base/kustomization.yaml": "resources: [deployment.yaml, service.yaml, config.yaml]\n",
	"apps/demo/base/deployment.yaml": `apiVersion: apps/v1
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
      containers:
        - name: web
          image: ghcr.io/stefanprodan/podinfo:6.9.0
          ports:
            - containerPort: 9898
`,
	"apps/demo/base/service.yaml":                      "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}\n  ports:\n    - port: 80\n      targetPort: 9898\n",
	"apps/demo/base/config.yaml":                       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  greeting: hello from Git\n",
	"apps/demo/overlays/dev/kustomization.yaml":        "namespace: demo-dev\nresources: [namespace.yaml, ../../base]\n",
	"apps/demo/overlays/dev/namespace.yaml":            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo-dev\n",
	"apps/demo/overlays/production/kustomization.yaml": "namespace: demo-production\nresources: [namespace.yaml, ../../base]\npatches:\n  - target: {kind: Deployment, name: web}\n    patch: |\n      - op: replace\n        path: /spec/replicas\n        value: 3\n",
	"apps/demo/overlays/production/namespace.yaml":     "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo-production\n",
}

// demo serves a demo repository from the state directory (created on the first run, reused
// after), and points a GitRepository and two Kustomizations at it.
type demo struct {
	server  *gittestserver.GitServer
	gitRoot string
	workdir string
}

func startDemo(stateDir string) (*demo, error) {
	gitRoot, err := filepath.Abs(filepath.Join(stateDir, "git"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(gitRoot, 0o755); err != nil {
		return nil, err
	}
	d := &demo{server: gittestserver.NewGitServer(gitRoot), gitRoot: gitRoot}
	if d.workdir, err = filepath.Abs(filepath.Join(stateDir, "demo")); err != nil {
		return nil, err
	}
	bare := filepath.Join(gitRoot, "demo.git")
	if _, err := os.Stat(bare); os.IsNotExist(err) {
		if err := d.create(bare); err != nil {
			return nil, fmt.Errorf("creating the demo repository: %w", err)
		}
	}
	if err := d.identify(); err != nil {
		return nil, err
	}
	if err := d.server.StartHTTP(); err != nil {
		return nil, err
	}
	return d, nil
}

// The demo's committer, for its first commit and for a machine where git knows none.
const demoUserName, demoUserEmail = "Driftless demo", "demo@driftless.invalid"

// identify gives the working copy a committer when git has none (a fresh machine), so that
// the commit that make run suggests works as printed.
func (d *demo) identify() error {
	for key, value := range map[string]string{"user.name": demoUserName, "user.email": demoUserEmail} {
		if out, err := exec.Command("git", "-C", d.workdir, "config", "--get", key).Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
			continue
		}
		if err := git("-C", d.workdir, "config", key, value); err != nil {
			return err
		}
	}
	return nil
}

// git runs a git command; its error carries the command and git's output.
func git(args ...string) error {
	if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (d *demo) create(bare string) error {
	_ = os.RemoveAll(d.workdir)
	for p, content := range demoFiles {
		path := filepath.Join(d.workdir, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		{"-C", d.workdir, "init", "-q", "-b", "main"},
		{"-C", d.workdir, "add", "-A"},
		{"-C", d.workdir, "-c", "user.name=" + demoUserName, "-c", "user.email=" + demoUserEmail, "commit", "-q", "-m", "A demo app"},
		{"clone", "-q", "--bare", d.workdir, bare},
		{"-C", d.workdir, "remote", "add", "origin", bare},
	} {
		if err := git(args...); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) stop() { d.server.StopHTTP() }

func (d *demo) url() string { return d.server.HTTPAddress() + "/demo.git" }

// apply creates or updates the demo's GitRepository and Kustomizations (the Git server's
// port changes from one run to the next).
func (d *demo) apply(ctx context.Context, c client.Client) error {
	objects := []client.Object{
		&sourcev1.GitRepository{
			TypeMeta:   metav1.TypeMeta{APIVersion: sourcev1.GroupVersion.String(), Kind: sourcev1.GitRepositoryKind},
			ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default"},
			Spec: sourcev1.GitRepositorySpec{
				URL: d.url(), Interval: meta.Duration{Duration: 15 * time.Second},
				Reference: &sourcev1.GitRepositoryRef{Branch: "main"},
			},
		},
	}
	for _, env := range []string{"dev", "production"} {
		objects = append(objects, &kustomizev1.Kustomization{
			TypeMeta:   metav1.TypeMeta{APIVersion: kustomizev1.GroupVersion.String(), Kind: kustomizev1.KustomizationKind},
			ObjectMeta: metav1.ObjectMeta{Name: "demo-" + env, Namespace: "default"},
			Spec: kustomizev1.KustomizationSpec{
				Interval: meta.Duration{Duration: time.Minute}, Path: "./apps/demo/overlays/" + env,
				Prune: true, Wait: true, Timeout: &meta.Duration{Duration: 2 * time.Minute},
				SourceRef: kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "demo"},
			},
		})
	}
	for _, o := range objects {
		if err := c.Patch(ctx, o, client.Apply, client.FieldOwner("driftless-local"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s: %w", o.GetName(), err)
		}
	}
	return nil
}

// progress prints the demo objects' Ready messages as they change, until all are Ready.
func (d *demo) progress(ctx context.Context, c client.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := map[string]string{}
	for {
		done := true
		repo := &sourcev1.GitRepository{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "demo"}, repo); err == nil {
			done = report(last, "gitrepository/demo", repo.Generation, repo.Status.ObservedGeneration, repo.Status.Conditions) && done
		}
		for _, env := range []string{"dev", "production"} {
			ks := &kustomizev1.Kustomization{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "demo-" + env}, ks); err == nil {
				done = report(last, "kustomization/demo-"+env, ks.Generation, ks.Status.ObservedGeneration, ks.Status.Conditions) && done
			} else {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the demo is not Ready after %s: see the controller logs", timeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// report prints an object's readiness when it changed, and whether it is Ready. Until the
// controller has seen the object's latest spec (on a second run, the demo's new Git URL), its
// conditions are about the old one and are not shown.
func report(last map[string]string, name string, generation, observed int64, conds []metav1.Condition) bool {
	status, msg := "Unknown", "waiting for the controller"
	for _, c := range conds {
		if c.Type == meta.ReadyCondition && observed == generation {
			status, msg = string(c.Status), c.Message
		}
	}
	line := fmt.Sprintf("  %-28s Ready=%-7s %s", name, status, msg)
	if last[name] != line {
		fmt.Println(line)
		last[name] = line
	}
	return status == "True"
}

// replicas reads the base Deployment's replicas from the working copy (1 when it cannot), so
// that the suggested change is a change on every run.
func (d *demo) replicas() int {
	data, err := os.ReadFile(filepath.Join(d.workdir, "apps/demo/base/deployment.yaml"))
	if err != nil {
		return 1
	}
	m := regexp.MustCompile(`(?m)^  replicas: (\d+)$`).FindSubmatch(data)
	if m == nil {
		return 1
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil || n < 1 {
		return 1
	}
	return n
}
