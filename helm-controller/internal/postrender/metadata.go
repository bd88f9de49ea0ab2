// Package postrender holds the post-renderers helm-controller runs over every chart's
// manifests.
package postrender

import (
	"bytes"
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/kio"
)

// Metadata adds labels and annotations to every rendered object, over what the chart set: the
// release's owner labels and spec.commonMetadata, as Flux's built-in post-renderer does.
type Metadata struct {
	Labels, Annotations map[string]string
}

// Run implements Helm's postrenderer.PostRenderer.
func (m Metadata) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	nodes, err := kio.FromBytes(in.Bytes())
	if err != nil {
		return nil, fmt.Errorf("reading the rendered manifests: %w", err)
	}
	for _, n := range nodes {
		if len(m.Labels) > 0 {
			labels := n.GetLabels()
			for k, v := range m.Labels {
				labels[k] = v
			}
			if err := n.SetLabels(labels); err != nil {
				return nil, err
			}
		}
		if len(m.Annotations) > 0 {
			ann := n.GetAnnotations()
			for k, v := range m.Annotations {
				ann[k] = v
			}
			if err := n.SetAnnotations(ann); err != nil {
				return nil, err
			}
		}
	}
	out, err := kio.StringAll(nodes)
	if err != nil {
		return nil, err
	}
	return bytes.NewBufferString(out), nil
}
