package build

import (
	"bytes"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/kio"
)

// The documents splitDocuments finds are the ones kustomize's reader finds in the whole
// stream, in order.
func FuzzSplitDocuments(f *testing.F) {
	for _, seed := range shardFixture() {
		f.Add([]byte(seed))
	}
	f.Add([]byte("---\n---\n# c\n---\na: 1\n---   \nb: |\n  ---\n...\n"))
	f.Add([]byte("%YAML 1.2\n---\na: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs := splitDocuments(data)
		if docs == nil {
			return // built whole
		}
		whole, err := kio.FromBytes(data)
		if err != nil {
			return // kustomize refuses it whole; in parts it is refused too, or differently
		}
		var parts []string
		for _, d := range docs {
			if bytes.Contains(append([]byte("\n"), d...), []byte("\n---\n")) {
				t.Fatalf("a document holds a marker: %q", d)
			}
			nodes, err := kio.FromBytes(d)
			if err != nil {
				t.Fatalf("a document of a stream that parses does not: %q: %v", d, err)
			}
			for _, n := range nodes {
				parts = append(parts, n.MustString())
			}
		}
		var all []string
		for _, n := range whole {
			all = append(all, n.MustString())
		}
		if len(all) != len(parts) {
			t.Fatalf("%d documents whole, %d in parts", len(all), len(parts))
		}
		for i := range all {
			if all[i] != parts[i] {
				t.Fatalf("document %d differs:\nwhole %q\npart  %q", i, all[i], parts[i])
			}
		}
	})
}
