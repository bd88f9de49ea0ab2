package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// bigSizes are the sizes of the one-Kustomization scenario (-big-sizes).
var bigSizes = "1000,5000,20000"

// profilePhase names the phase of the big scenarios whose CPU profile is taken instead of
// the first -profile-seconds of the run (-profile-phase): first-apply, requested-no-change,
// change-1pct or prune.
var profilePhase string

// closed is a channel that is closed.
var closed = func() <-chan struct{} { c := make(chan struct{}); close(c); return c }()

// perFile is how many ConfigMaps one file of the big repository holds.
const perFile = 100

// bigScenarios measure one Kustomization of many objects, one scenario per size.
func bigScenarios() []scenario {
	var out []scenario
	for _, f := range strings.Split(bigSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2*perFile {
			continue
		}
		n -= n % perFile
		out = append(out, scenario{
			name:   fmt.Sprintf("kustomize-big-%d", n),
			note:   fmt.Sprintf("one Kustomization of %d ConfigMaps", n),
			runAll: func(ctx context.Context, h *harness) ([]result, error) { return bigApp(ctx, h, n) },
			quick:  n <= 1000,
		})
	}
	return out
}

// bigFile is the file of ConfigMaps i*perFile to (i+1)*perFile-1; the first of them carries
// revision.
func bigFile(i int, revision string) string {
	var b strings.Builder
	for j := i * perFile; j < (i+1)*perFile; j++ {
		value := "1"
		if j == i*perFile {
			value = revision
		}
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%05d\n  labels:\n    app.kubernetes.io/part-of: big\ndata:\n  index: \"%d\"\n  revision: %q\n  setting: some-value-of-a-typical-length\n", j, j, value)
	}
	return b.String()
}

// bigKustomization is the kustomization.yaml of the first files files.
func bigKustomization(files int) string {
	var b strings.Builder
	b.WriteString("resources:\n")
	for i := range files {
		fmt.Fprintf(&b, "  - cm-%03d.yaml\n", i)
	}
	return b.String()
}

// bigApp measures one Kustomization of n ConfigMaps (prune, no wait): created → Ready; a
// reconcile.fluxcd.io/requestedAt with nothing changed; a commit changing 1% of the objects;
// a commit removing 1,000 of them (a tenth of a smaller set), which are pruned.
func bigApp(ctx context.Context, h *harness, n int) ([]result, error) {
	files := n / perFile
	var w *worktree
	g, err := h.gitopsOf(ctx, func(ns string) (string, error) {
		content := map[string]string{"big/kustomization.yaml": bigKustomization(files)}
		for i := range files {
			content[fmt.Sprintf("big/cm-%03d.yaml", i)] = bigFile(i, "1")
		}
		var err error
		w, err = h.newWorktree("big-"+ns, content)
		if err != nil {
			return "", err
		}
		return w.URL, nil
	})
	if err != nil {
		return nil, err
	}
	defer g.close()
	ns, kc := g.ns, g.kc
	var profiled <-chan struct{} = closed
	if profilePhase == "" {
		profiled = kc.profile(fmt.Sprintf("big-%d-%s", n, ns))
	}
	name := fmt.Sprintf("kustomize-big-%d", n)
	note := func(s string) string {
		if kustomizeArgs != "" {
			s += " (" + kustomizeArgs + ")"
		}
		return s
	}
	key := types.NamespacedName{Namespace: ns, Name: "big"}
	ks := &kustomizev1.Kustomization{}
	watcher, err := client.NewWithWatch(h.env.Config, client.Options{Scheme: h.env.Client.Scheme()})
	if err != nil {
		return nil, err
	}
	// wait watches the Kustomization until it is Ready at its generation and done says so:
	// a status of thousands of inventory entries is too large to poll often, and a poll
	// would add its period to every figure.
	wait := func(what string, done func(*kustomizev1.Kustomization) bool) error {
		finished := func(k *kustomizev1.Kustomization) bool {
			ready := false
			for _, c := range k.Status.Conditions {
				ready = ready || (c.Type == meta.ReadyCondition && c.Status == metav1.ConditionTrue)
			}
			return ready && k.Status.ObservedGeneration == k.Generation && done(k)
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		defer cancel()
		for {
			list := &kustomizev1.KustomizationList{}
			if err := h.env.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
				return err
			}
			for i := range list.Items {
				if list.Items[i].Name == key.Name && finished(&list.Items[i]) {
					list.Items[i].DeepCopyInto(ks)
					return nil
				}
			}
			w, err := watcher.Watch(ctx, &kustomizev1.KustomizationList{}, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
			if err != nil {
				return err
			}
			for ev := range w.ResultChan() {
				if k, ok := ev.Object.(*kustomizev1.Kustomization); ok && k.Name == key.Name && finished(k) {
					k.DeepCopyInto(ks)
					w.Stop()
					return nil
				}
			}
			w.Stop() // the watch ended (expired, or the deadline): list again
			if ctx.Err() != nil {
				return fmt.Errorf("%s: not done after 30m (controller log: %s)", what, kc.logPath)
			}
		}
	}
	entries := func(k *kustomizev1.Kustomization) int {
		if k.Status.Inventory == nil {
			return 0
		}
		return len(k.Status.Inventory.Entries)
	}
	// phase makes a change with prepare (not measured: a git push, say), then measures fn,
	// which announces it, until wait's condition holds.
	phase := func(scenario, what string, prepare, fn func() error, done func(*kustomizev1.Kustomization) bool) (result, error) {
		if prepare != nil {
			if err := prepare(); err != nil {
				return result{}, err
			}
		}
		before, err := kc.usage()
		if err != nil {
			return result{}, err
		}
		prof := closed
		if profilePhase != "" && strings.HasSuffix(scenario, "-"+profilePhase) {
			prof = kc.profile(scenario)
		}
		start := time.Now()
		if err := fn(); err != nil {
			return result{}, err
		}
		if err := wait(what, done); err != nil {
			return result{}, err
		}
		<-prof
		kc.debugRequests()
		r, err := kc.since(before, start)
		r.Scenario, r.Note = scenario, note(what)
		return r, err
	}

	// 1. Created → Ready.
	first, err := phase(name+"-first-apply", fmt.Sprintf("one Kustomization of %d ConfigMaps (prune, no wait), created to Ready", n), nil, func() error {
		return h.env.Client.Create(ctx, &kustomizev1.Kustomization{
			ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: ns},
			Spec: kustomizev1.KustomizationSpec{
				Interval: meta.Duration{Duration: time.Hour}, Path: "./big", Prune: true,
				Timeout:         &meta.Duration{Duration: 30 * time.Minute},
				TargetNamespace: ns,
				SourceRef:       kustomizev1.CrossNamespaceSourceReference{Kind: sourcev1.GitRepositoryKind, Name: "monorepo"},
			},
		})
	}, func(k *kustomizev1.Kustomization) bool { return entries(k) == n })
	if err != nil {
		return nil, err
	}
	first.Extra = map[string]float64{"objects/s": float64(int(float64(n) / first.WallSec))}
	revision := ks.Status.LastAppliedRevision

	// 2. requestedAt with nothing changed, as `flux reconcile kustomization` sends it.
	requestedAt := time.Now().Format(time.RFC3339Nano)
	verify, err := phase(name+"-requested-no-change", fmt.Sprintf("reconcile.fluxcd.io/requestedAt on the Ready Kustomization of %d ConfigMaps, nothing changed, until handled", n), nil, func() error {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, requestedAt)
		return h.env.Client.Patch(ctx, ks, client.RawPatch(types.MergePatchType, []byte(patch)))
	}, func(k *kustomizev1.Kustomization) bool { return k.Status.LastHandledReconcileAt == requestedAt })
	if err != nil {
		return nil, err
	}
	verify.Extra = map[string]float64{"of first apply (%)": percentOf(verify.WallSec, first.WallSec)}

	// 3. A commit changing one object in a hundred.
	// announce asks source-controller for the pushed commit, as a webhook Receiver does, and
	// notes when the GitRepository has its artifact: the rest is kustomize-controller's.
	var fetched time.Duration
	announce := func() error {
		start := time.Now()
		repo := &sourcev1.GitRepository{}
		key := client.ObjectKey{Namespace: ns, Name: "monorepo"}
		if err := h.env.Client.Get(ctx, key, repo); err != nil {
			return err
		}
		old := repo.Status.Artifact.Revision
		if err := requestReconcile(ctx, h, ns, "monorepo"); err != nil {
			return err
		}
		err := poll(ctx, 5*time.Minute, func() (bool, error) {
			err := h.env.Client.Get(ctx, key, repo)
			return err == nil && repo.Status.Artifact != nil && repo.Status.Artifact.Revision != old, err
		})
		fetched = time.Since(start)
		return err
	}
	// ownShare is the part of a phase after source-controller had the artifact.
	ownShare := func(r result) map[string]float64 {
		own := r.WallSec - fetched.Seconds()
		return map[string]float64{
			"of first apply (%)":                       percentOf(r.WallSec, first.WallSec),
			"source-controller fetched at (s)":         round(fetched.Seconds()),
			"kustomize-controller's part (s)":          round(own),
			"kustomize-controller's part of first (%)": percentOf(own, first.WallSec),
		}
	}
	changed, err := phase(name+"-change-1pct", fmt.Sprintf("a commit changing %d of the %d ConfigMaps, from its announcement with requestedAt on the GitRepository (after the push) until Ready at the new revision", files, n), func() error {
		for i := range files {
			if err := w.write(fmt.Sprintf("big/cm-%03d.yaml", i), bigFile(i, "2")); err != nil {
				return err
			}
		}
		return w.push("one in a hundred")
	}, announce, func(k *kustomizev1.Kustomization) bool { return k.Status.LastAppliedRevision != revision })
	if err != nil {
		return nil, err
	}
	changed.Extra = ownShare(changed)
	revision = ks.Status.LastAppliedRevision

	// 4. A commit removing 1,000 objects (a tenth of a set under 5,000), pruned.
	removed := 1000
	if n < 5*removed {
		removed = n / 10
	}
	pruned, err := phase(name+"-prune", fmt.Sprintf("a commit removing %d of the %d ConfigMaps, from its announcement until pruned and Ready", removed, n), func() error {
		if err := w.write("big/kustomization.yaml", bigKustomization(files-removed/perFile)); err != nil {
			return err
		}
		return w.push("remove some")
	}, announce, func(k *kustomizev1.Kustomization) bool {
		return k.Status.LastAppliedRevision != revision && entries(k) == n-removed
	})
	if err != nil {
		return nil, err
	}
	pruned.Extra = ownShare(pruned)
	kc.heapProfile(fmt.Sprintf("big-%d-%s", n, ns))
	<-profiled
	return []result{first, verify, changed, pruned}, nil
}

func percentOf(part, whole float64) float64 {
	if whole <= 0 {
		return 0
	}
	return float64(int(1000*part/whole)) / 10
}
