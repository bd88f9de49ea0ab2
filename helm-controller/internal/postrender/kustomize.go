package postrender

import (
	"bytes"
	"fmt"

	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"

	"github.com/driftless-dev/driftless/pkg/apis/kustomize"
)

// Kustomize patches the rendered manifests and overrides their images, as a kustomization over
// them would. It builds in memory: it reads no file and opens no connection.
type Kustomize struct {
	Patches []kustomize.Patch
	Images  []kustomize.Image
}

// Run implements Helm's postrenderer.PostRenderer.
func (k Kustomize) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	kus := kustypes.Kustomization{
		TypeMeta:  kustypes.TypeMeta{APIVersion: kustypes.KustomizationVersion, Kind: kustypes.KustomizationKind},
		Resources: []string{"helm-output.yaml"},
	}
	for _, p := range k.Patches {
		patch := kustypes.Patch{Patch: p.Patch}
		if t := p.Target; t != nil {
			patch.Target = &kustypes.Selector{
				ResId:              resid.NewResIdWithNamespace(resid.Gvk{Group: t.Group, Version: t.Version, Kind: t.Kind}, t.Name, t.Namespace),
				AnnotationSelector: t.AnnotationSelector, LabelSelector: t.LabelSelector,
			}
		}
		kus.Patches = append(kus.Patches, patch)
	}
	for _, i := range k.Images {
		kus.Images = append(kus.Images, kustypes.Image{Name: i.Name, NewName: i.NewName, NewTag: i.NewTag, Digest: i.Digest})
	}
	manifest, err := yaml.Marshal(kus)
	if err != nil {
		return nil, err
	}
	fs := filesys.MakeFsInMemory()
	if err := fs.WriteFile("/helm/kustomization.yaml", manifest); err != nil {
		return nil, err
	}
	if err := fs.WriteFile("/helm/helm-output.yaml", in.Bytes()); err != nil {
		return nil, err
	}
	opts := krusty.MakeDefaultOptions()
	opts.PluginConfig = kustypes.DisabledPluginConfig()
	resources, err := krusty.MakeKustomizer(opts).Run(fs, "/helm")
	if err != nil {
		return nil, fmt.Errorf("kustomize post-renderer: %w", err)
	}
	out, err := resources.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize post-renderer: %w", err)
	}
	return bytes.NewBuffer(out), nil
}

// Chain runs post-renderers in order, each over the output of the one before.
type Chain []interface {
	Run(*bytes.Buffer) (*bytes.Buffer, error)
}

// Run implements Helm's postrenderer.PostRenderer.
func (c Chain) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	var err error
	for _, pr := range c {
		if in, err = pr.Run(in); err != nil {
			return nil, err
		}
	}
	return in, nil
}
