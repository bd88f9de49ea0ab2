package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
)

// The latency scenario is small on purpose: it measures how long a change takes to travel,
// not how long many objects take to apply.
const (
	latencyApps    = 10
	latencySamples = 5
	// latencyInterval is every object's interval: nothing periodic can happen during a
	// sample, so what is measured is the reaction to the push or to the drift.
	latencyInterval = time.Hour
)

// latency measures, on the kwok cluster with -objects objects per app: push → applied, from
// a commit pushed and announced with reconcile.fluxcd.io/requestedAt on the GitRepository (as
// a webhook Receiver does) until the change is in the cluster and every Kustomization is
// Ready at the new revision; and drift → healed, from a kubectl scale or delete of an applied
// object until it is restored.
func latency(ctx context.Context, h *harness) ([]result, error) {
	g, err := h.gitops(ctx, "latency", latencyApps)
	if err != nil {
		return nil, err
	}
	defer g.close()
	ns, change, src, kc := g.ns, g.change, g.src, g.kc
	for i := range latencyApps {
		if err := h.env.Client.Create(ctx, appKustomization(ns, i, latencyInterval)); err != nil {
			return nil, err
		}
	}
	revision := ""
	setup := time.Now()
	if err := waitAll(ctx, h, &kustomizev1.KustomizationList{}, ns, latencyApps, 5*time.Minute, func(l *kustomizev1.KustomizationList) int {
		return readyAt(l, &revision)
	}); err != nil {
		return nil, fmt.Errorf("%w (controller log: %s)", err, kc.logPath)
	}
	debugf("latency: apps Ready in %s", time.Since(setup).Round(time.Millisecond))

	// 1. Push → applied.
	kcBefore, err := kc.usage()
	if err != nil {
		return nil, err
	}
	srcBefore, err := src.usage()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var applied, ready []float64
	for i := range latencySamples {
		value := fmt.Sprintf("push-%d", i)
		if err := change(value); err != nil {
			return nil, err
		}
		pushed := time.Now()
		if err := requestReconcile(ctx, h, ns, "monorepo"); err != nil {
			return nil, err
		}
		cm := &corev1.ConfigMap{}
		if err := poll(ctx, 2*time.Minute, func() (bool, error) {
			err := h.env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app-000-web"}, cm)
			return err == nil && cm.Data["greeting"] == value, client.IgnoreNotFound(err)
		}); err != nil {
			return nil, fmt.Errorf("push %d not applied: %w (controller log: %s)", i, err, kc.logPath)
		}
		applied = append(applied, time.Since(pushed).Seconds())
		previous := revision
		if err := waitAll(ctx, h, &kustomizev1.KustomizationList{}, ns, latencyApps, 2*time.Minute, func(l *kustomizev1.KustomizationList) int {
			if n := readyAt(l, &revision); revision != previous {
				return n
			}
			return 0
		}); err != nil {
			return nil, fmt.Errorf("push %d not Ready: %w (controller log: %s)", i, err, kc.logPath)
		}
		ready = append(ready, time.Since(pushed).Seconds())
	}
	push, err := kc.since(kcBefore, start)
	if err != nil {
		return nil, err
	}
	srcAfter, err := src.usage()
	if err != nil {
		return nil, err
	}
	push.Scenario = "push-to-applied"
	push.Note = fmt.Sprintf("a commit to the base of %d apps × %d objects, pushed and announced with requestedAt (as a Receiver does), until the first app's ConfigMap changed; median of %d pushes", latencyApps, objects, latencySamples)
	push.WallSec = medianOf(applied)
	push.Extra = map[string]float64{
		"all Ready at new revision (s)":    round(medianOf(ready)),
		"slowest push applied (s)":         round(slices.Max(applied)),
		"source-controller CPU (s)":        round(srcAfter.CPUSeconds - srcBefore.CPUSeconds),
		"source-controller API requests":   srcAfter.Requests - srcBefore.Requests,
		"source-controller peak RSS (MiB)": float64(int(srcAfter.PeakRSSMiB)),
	}

	// 2. The same, announced by a GitHub push webhook to a Receiver.
	webhook, err := webhookPushes(ctx, h, g)
	if err != nil {
		return nil, err
	}

	// 3. Drift → healed: kubectl scale of a Deployment, kubectl delete of a ConfigMap.
	kcBefore, err = kc.usage()
	if err != nil {
		return nil, err
	}
	start = time.Now()
	var scaled, deleted []float64
	for i := range latencySamples {
		app := fmt.Sprintf("app-%03d-web", i)
		d := &appsv1.Deployment{}
		if err := h.env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: app}, d); err != nil {
			return nil, err
		}
		scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 3}}
		if err := h.env.Client.SubResource("scale").Update(ctx, d, client.WithSubResourceBody(scale), client.FieldOwner("kubectl")); err != nil {
			return nil, err
		}
		drifted := time.Now()
		if err := poll(ctx, 2*time.Minute, func() (bool, error) {
			err := h.env.Client.Get(ctx, client.ObjectKeyFromObject(d), d)
			return err == nil && *d.Spec.Replicas == 1, err
		}); err != nil {
			return nil, fmt.Errorf("scale of %s not undone: %w (controller log: %s)", app, err, kc.logPath)
		}
		scaled = append(scaled, time.Since(drifted).Seconds())

		cm := &corev1.ConfigMap{}
		if err := h.env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: app}, cm); err != nil {
			return nil, err
		}
		uid := cm.UID
		if err := h.env.Client.Delete(ctx, cm); err != nil {
			return nil, err
		}
		drifted = time.Now()
		if err := poll(ctx, 2*time.Minute, func() (bool, error) {
			err := h.env.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil && cm.UID != uid, err
		}); err != nil {
			return nil, fmt.Errorf("delete of %s not undone: %w (controller log: %s)", app, err, kc.logPath)
		}
		deleted = append(deleted, time.Since(drifted).Seconds())
	}
	heal, err := kc.since(kcBefore, start)
	if err != nil {
		return nil, err
	}
	heal.Scenario = "drift-to-healed"
	heal.Note = fmt.Sprintf("kubectl scale of a Deployment and kubectl delete of a ConfigMap, %d of each, until restored (interval %s); median", latencySamples, latencyInterval)
	heal.WallSec = medianOf(append(slices.Clone(scaled), deleted...))
	heal.Extra = map[string]float64{
		"scale undone (s)":  round(medianOf(scaled)),
		"delete undone (s)": round(medianOf(deleted)),
		"slowest (s)":       round(max(slices.Max(scaled), slices.Max(deleted))),
	}
	return []result{push, webhook, heal}, nil
}

// poll calls done every 10 ms until it reports true or an error, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, done func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// medianOf is the middle value of v (the upper one of an even count).
func medianOf(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

// round keeps three decimals: the figures are read in milliseconds.
func round(v float64) float64 { return float64(int(v*1000+0.5)) / 1000 }
