package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/testenv"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

func sourceScenarios() []scenario {
	return []scenario{
		{name: "git-large-repo", note: "one GitRepository, 10,000 files / 200 MB, created to Ready", run: largeRepo},
		{name: "git-100-repos", note: "100 GitRepositories created to all Ready; then no change", runAll: hundredRepos, quick: true},
	}
}

// startSource starts a fresh source-controller with its own storage.
func startSource(h *harness, ns string) (*controller, error) {
	storageAddr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(h.work, ns)
	return startController(h.binDir, "source-controller", h.env.Kubeconfig, h.work, ns,
		"--storage-path="+filepath.Join(dir, "storage"), "--storage-addr="+storageAddr, "--storage-adv-addr="+storageAddr)
}

func gitRepo(ns, name, url string) *sourcev1.GitRepository {
	return &sourcev1.GitRepository{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: sourcev1.GitRepositorySpec{
			URL: url, Interval: meta.Duration{Duration: time.Hour},
			Reference: &sourcev1.GitRepositoryRef{Branch: "main"},
			Timeout:   &meta.Duration{Duration: 5 * time.Minute},
		},
	}
}

func readyCount(list *sourcev1.GitRepositoryList) int {
	n := 0
	for _, o := range list.Items {
		for _, c := range o.Status.Conditions {
			if c.Type == meta.ReadyCondition && c.Status == metav1.ConditionTrue && o.Status.ObservedGeneration == o.Generation {
				n++
			}
		}
	}
	return n
}

// measure runs fn against a fresh controller and returns the controller's resource use.
func measure(ctx context.Context, h *harness, fn func(ns string) error) (result, error) {
	ns, err := h.namespace(ctx)
	if err != nil {
		return result{}, err
	}
	c, err := startSource(h, ns)
	if err != nil {
		return result{}, err
	}
	defer c.stop()
	before, err := c.usage()
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	profiled := c.profile(ns)
	if err := fn(ns); err != nil {
		return result{}, fmt.Errorf("%w (controller log: %s)", err, c.logPath)
	}
	r, err := c.since(before, start)
	c.heapProfile(ns)
	<-profiled
	return r, err
}

func largeRepo(ctx context.Context, h *harness) (result, error) {
	url, err := h.repo("large", 10_000, 20_000)
	if err != nil {
		return result{}, err
	}
	var size int64
	r, err := measure(ctx, h, func(ns string) error {
		if err := h.env.Client.Create(ctx, gitRepo(ns, "large", url)); err != nil {
			return err
		}
		return waitAll(ctx, h, &sourcev1.GitRepositoryList{}, ns, 1, 10*time.Minute, func(l *sourcev1.GitRepositoryList) int {
			n := readyCount(l)
			if n == 1 && l.Items[0].Status.Artifact != nil && l.Items[0].Status.Artifact.Size != nil {
				size = *l.Items[0].Status.Artifact.Size
			}
			return n
		})
	})
	r.Extra = map[string]float64{"artifact MiB": float64(size>>10) / 1024}
	return r, err
}

func createHundred(ctx context.Context, h *harness, ns string) error {
	for i := range 100 {
		url, err := h.repo(fmt.Sprintf("small-%03d", i), 100, 1000)
		if err != nil {
			return err
		}
		if err := h.env.Client.Create(ctx, gitRepo(ns, fmt.Sprintf("repo-%03d", i), url)); err != nil {
			return err
		}
	}
	return nil
}

// hundredRepos measures 100 GitRepositories created until all are Ready, then, with a fresh
// controller over the same storage, a requestedAt on all of them when nothing changed in Git.
func hundredRepos(ctx context.Context, h *harness) ([]result, error) {
	// Create the Git repositories before measuring.
	for i := range 100 {
		if _, err := h.repo(fmt.Sprintf("small-%03d", i), 100, 1000); err != nil {
			return nil, err
		}
	}
	var ns string
	created, err := measure(ctx, h, func(n string) error {
		ns = n
		if err := createHundred(ctx, h, ns); err != nil {
			return err
		}
		return waitAll(ctx, h, &sourcev1.GitRepositoryList{}, ns, 100, 10*time.Minute, readyCount)
	})
	if err != nil {
		return nil, err
	}
	created.Scenario, created.Note = "git-100-repos", "100 GitRepositories (100 repositories of 100 files), created to all Ready"

	// A fresh controller reconciles every object once on start-up (an ls-remote each); once
	// the Git server is quiet, the measured requestedAt round: one request per object.
	c, err := startSource(h, ns)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	if err := waitQuiet(h, 3*time.Second); err != nil {
		return nil, err
	}
	before, err := c.usage()
	if err != nil {
		return nil, err
	}
	packs0, refs0 := h.uploadPacks.Load(), h.refAdvertisements.Load()
	start := time.Now()
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("repo-%03d", i)
	}
	err = requestAll(ctx, h, func(name string) client.Object {
		return &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Name: name}}
	},
		names, &sourcev1.GitRepositoryList{}, ns, func(l *sourcev1.GitRepositoryList, token string) int {
			n := 0
			for _, o := range l.Items {
				if o.Status.LastHandledReconcileAt == token {
					n++
				}
			}
			return n
		})
	if err != nil {
		return nil, err
	}
	idle, err := c.since(before, start)
	if err != nil {
		return nil, err
	}
	idle.Scenario, idle.Note = "git-no-change", "requestedAt on all 100 Ready GitRepositories, until all handled"
	idle.Extra = map[string]float64{
		"clones":     float64(h.uploadPacks.Load() - packs0),
		"ls-remotes": float64(h.refAdvertisements.Load() - refs0),
	}
	return []result{created, idle}, nil
}

// waitQuiet waits until the Git server has seen no request for the given period.
func waitQuiet(h *harness, period time.Duration) error {
	last := h.refAdvertisements.Load() + h.uploadPacks.Load()
	quietSince := time.Now()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		now := h.refAdvertisements.Load() + h.uploadPacks.Load()
		if now != last {
			last, quietSince = now, time.Now()
		}
		if time.Since(quietSince) >= period {
			return nil
		}
	}
	return fmt.Errorf("the Git server never went quiet")
}
