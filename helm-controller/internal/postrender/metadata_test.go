package postrender

import (
	"bytes"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestMetadataLabelsEveryObject(t *testing.T) {
	in := bytes.NewBufferString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    app: demo\n    helm.toolkit.fluxcd.io/name: spoofed\n  annotations:\n    postrenderer.helm.sh/postrender-filename: templates/a.yaml\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n")
	m := Metadata{Labels: map[string]string{"helm.toolkit.fluxcd.io/name": "demo", "team": "web"}, Annotations: map[string]string{"owner": "platform"}}
	out, err := m.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(out.String(), "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("%d documents:\n%s", len(docs), out)
	}
	for _, d := range docs {
		var obj struct {
			Metadata struct {
				Labels, Annotations map[string]string
			}
		}
		if err := yaml.Unmarshal([]byte(d), &obj); err != nil {
			t.Fatal(err)
		}
		l, a := obj.Metadata.Labels, obj.Metadata.Annotations
		if l["helm.toolkit.fluxcd.io/name"] != "demo" || l["team"] != "web" || a["owner"] != "platform" {
			t.Errorf("metadata: %v %v", l, a)
		}
	}
	if !strings.Contains(docs[0], "app: demo") || !strings.Contains(docs[0], "postrender-filename: templates/a.yaml") {
		t.Errorf("the chart's own metadata was lost:\n%s", docs[0])
	}
}
