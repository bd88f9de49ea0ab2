package action

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"helm.sh/helm/v4/pkg/kube"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftless-dev/driftless/pkg/apis/kustomize"
	"github.com/driftless-dev/driftless/pkg/runtime/cel"
)

// Readiness tells how a release's objects are doing from one watch that every release shares
// (the owner-labelled objects of each kind), instead of the watches Helm's own waiter opens for
// each action on every object of the kinds in the namespace: with many releases in a
// namespace, each of those would decode the events of all of them.
type Readiness interface {
	// Track starts watching the kinds; Synced reports whether their watch has listed.
	Track(gvks ...schema.GroupVersionKind) error
	// Get returns the watched object (nil when it does not exist); known is false when the
	// kind is not watched or not listed yet.
	Get(gvk schema.GroupVersionKind, key types.NamespacedName) (obj *unstructured.Unstructured, known bool)
	// Changes returns a channel that receives when an object of the kinds changes, and a
	// function that stops it.
	Changes() (<-chan struct{}, func())
}

// WaitBackstop is how often a wait looks again without an event to wake it: events do, this
// only guards against a missed one.
var WaitBackstop = 5 * time.Second

// kubeClient is Helm's client with readiness read from the shared watch for the kstatus wait.
type kubeClient struct {
	*kube.Client
	readiness Readiness
	checks    []kustomize.CustomHealthCheck
}

// GetWaiter implements kube.Interface.
func (c kubeClient) GetWaiter(ws kube.WaitStrategy) (kube.Waiter, error) {
	return c.GetWaiterWithOptions(ws)
}

// GetWaiterWithOptions implements kube.InterfaceWaitOptions: the kstatus strategy waits on the
// shared watch; the others are Helm's.
func (c kubeClient) GetWaiterWithOptions(ws kube.WaitStrategy, opts ...kube.WaitOption) (kube.Waiter, error) {
	w, err := c.Client.GetWaiterWithOptions(ws, opts...)
	if err != nil || ws != kube.StatusWatcherStrategy {
		return w, err
	}
	return watchWaiter{Waiter: w, readiness: c.readiness, checks: c.checks}, nil
}

// watchWaiter waits for objects to be Current (kstatus) as the shared watch sees them, woken
// by its events. Deletions and hooks keep Helm's waiter.
type watchWaiter struct {
	kube.Waiter
	readiness Readiness
	// checks are healthCheckExprs: CEL in place of kstatus for the kinds they name.
	checks []kustomize.CustomHealthCheck
}

// Wait implements kube.Waiter: Jobs are not waited for.
func (w watchWaiter) Wait(resources kube.ResourceList, timeout time.Duration) error {
	return w.wait(resources, timeout, false)
}

// WaitWithJobs implements kube.Waiter.
func (w watchWaiter) WaitWithJobs(resources kube.ResourceList, timeout time.Duration) error {
	return w.wait(resources, timeout, true)
}

// judgedFromWatch reports whether the wait can tell a kind's readiness from the shared watch.
// It keeps only the metadata of ConfigMaps, Secrets and CRDs: the first two are ready once they
// exist, but a CRD only once established, which Helm's waiter checks.
func judgedFromWatch(gk schema.GroupKind) bool {
	return gk != schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
}

func (w watchWaiter) wait(resources kube.ResourceList, timeout time.Duration, jobs bool) error {
	type target struct {
		gvk schema.GroupVersionKind
		key types.NamespacedName
	}
	var targets []target
	seen := map[schema.GroupVersionKind]bool{}
	var gvks []schema.GroupVersionKind
	for _, info := range resources {
		gvk := info.Mapping.GroupVersionKind
		if !judgedFromWatch(gvk.GroupKind()) {
			return w.Waiter.Wait(resources, timeout) // Helm's waiter checks establishment
		}
		if gvk.GroupKind() == (schema.GroupKind{Group: "batch", Kind: "Job"}) && !jobs {
			continue
		}
		targets = append(targets, target{gvk, types.NamespacedName{Namespace: info.Namespace, Name: info.Name}})
		if !seen[gvk] {
			seen[gvk] = true
			gvks = append(gvks, gvk)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	changes, stop := w.readiness.Changes() // before the first look: no change is missed
	defer stop()
	if err := w.readiness.Track(gvks...); err != nil {
		return w.Waiter.Wait(resources, timeout)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(WaitBackstop)
	defer poll.Stop()
	for {
		var pending []string
		for _, t := range targets {
			msg, err := w.status(t.gvk, t.key)
			if err != nil {
				return err
			}
			if msg != "" {
				pending = append(pending, msg)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-changes:
		case <-poll.C:
		case <-deadline.C:
			sort.Strings(pending)
			return fmt.Errorf("timed out after %s waiting for: %s", timeout, strings.Join(pending, "; "))
		}
	}
}

// status is empty when the object is Current, else what it waits for; an error when it failed.
func (w watchWaiter) status(gvk schema.GroupVersionKind, key types.NamespacedName) (string, error) {
	name := gvk.Kind + "/" + key.Name
	if key.Namespace != "" {
		name = gvk.Kind + "/" + key.Namespace + "/" + key.Name
	}
	obj, known := w.readiness.Get(gvk, key)
	switch {
	case !known:
		return name + " (not watched yet)", nil
	case obj == nil:
		return name + " (not found)", nil
	case gvk.Group == "" && (gvk.Kind == "ConfigMap" || gvk.Kind == "Secret"):
		return "", nil // kept as metadata: it exists
	}
	res, err := &status.Result{}, error(nil)
	if check := cel.HealthCheckFor(w.checks, gvk); check != nil {
		h, err := cel.Health(check, obj.Object, gvk)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		res.Status, res.Message = status.Status(h), "healthCheckExprs"
	} else if res, err = status.Compute(obj); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	switch res.Status {
	case status.CurrentStatus:
		return "", nil
	case status.FailedStatus:
		return "", fmt.Errorf("%s failed: %s", name, res.Message)
	}
	return fmt.Sprintf("%s (%s: %s)", name, res.Status, res.Message), nil
}
