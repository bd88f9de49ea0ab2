package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/e2e/internal/chartrepo"
	helmv2 "github.com/driftless-dev/driftless/helm-controller/api/v2"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	sourcev1 "github.com/driftless-dev/driftless/source-controller/api/v1"
)

// startHelmDemo serves the demo's chart repository on 127.0.0.1.
func startHelmDemo() (*chartrepo.Repo, error) {
	repo, err := chartrepo.Start()
	if err != nil {
		return nil, err
	}
	if err := repo.Publish("hello", "1.0.0", "6.9.0", chartrepo.WebApp); err != nil {
		repo.Close()
		return nil, err
	}
	return repo, nil
}

// applyHelmDemo creates or updates the demo's HelmRepository and a HelmRelease of its chart,
// installed into the namespace demo-helm with drift detection on.
func applyHelmDemo(ctx context.Context, c client.Client, repoURL string) error {
	objects := []client.Object{
		&sourcev1.HelmRepository{
			TypeMeta:   metav1.TypeMeta{APIVersion: sourcev1.GroupVersion.String(), Kind: sourcev1.HelmRepositoryKind},
			ObjectMeta: metav1.ObjectMeta{Name: "demo-charts", Namespace: "default"},
			Spec:       sourcev1.HelmRepositorySpec{URL: repoURL, Interval: meta.Duration{Duration: time.Minute}},
		},
		&helmv2.HelmRelease{
			TypeMeta:   metav1.TypeMeta{APIVersion: helmv2.GroupVersion.String(), Kind: helmv2.HelmReleaseKind},
			ObjectMeta: metav1.ObjectMeta{Name: "demo-helm", Namespace: "default"},
			Spec: helmv2.HelmReleaseSpec{
				Interval:        meta.Duration{Duration: 10 * time.Minute},
				TargetNamespace: "demo-helm", ReleaseName: "hello",
				Chart: &helmv2.HelmChartTemplate{Spec: helmv2.HelmChartTemplateSpec{
					Chart: "hello", Version: "1.x",
					SourceRef: helmv2.CrossNamespaceObjectReference{Kind: sourcev1.HelmRepositoryKind, Name: "demo-charts"},
				}},
				Install:        &helmv2.Install{CreateNamespace: true},
				DriftDetection: &helmv2.DriftDetection{Mode: "enabled"},
				Values:         &runtime.RawExtension{Raw: []byte(`{"replicas":2}`)},
			},
		},
	}
	for _, o := range objects {
		if err := c.Patch(ctx, o, client.Apply, client.FieldOwner("driftless-local"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s: %w", o.GetName(), err)
		}
	}
	return nil
}

// helmProgress prints the demo HelmRelease's Ready message as it changes, until it is Ready.
func helmProgress(ctx context.Context, c client.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := map[string]string{}
	for {
		hr := &helmv2.HelmRelease{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "demo-helm"}, hr); err == nil &&
			report(last, "helmrelease/demo-helm", hr.Generation, hr.Status.ObservedGeneration, hr.Status.Conditions) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the demo HelmRelease is not Ready after %s: see logs/helm-controller.log", timeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
