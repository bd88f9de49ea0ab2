package build

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkBuild5000 builds one kustomization of 5,000 ConfigMaps in 50 files with a
// targetNamespace, whole (as kustomize alone does), in shards of shardDocs documents, and
// again from the shard cache (the revision's files unchanged).
func BenchmarkBuild5000(b *testing.B) {
	root := b.TempDir()
	var files []string
	for f := range 50 {
		var doc strings.Builder
		for i := f * 100; i < (f+1)*100; i++ {
			fmt.Fprintf(&doc, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%05d\ndata:\n  index: \"%d\"\n", i, i)
		}
		name := fmt.Sprintf("cm-%03d.yaml", f)
		files = append(files, name)
		if err := os.WriteFile(filepath.Join(root, name), []byte(doc.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "kustomization.yaml"), []byte("resources: ["+strings.Join(files, ", ")+"]\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	for name, docs := range map[string]int{"whole": 1 << 30, "sharded": shardDocs, "cached": shardDocs} {
		b.Run(name, func(b *testing.B) {
			was, wasMin := shardDocs, shardMin
			shardDocs = docs
			if docs == 1<<30 {
				shardMin = docs
			}
			defer func() { shardDocs, shardMin = was, wasMin }()
			for b.Loop() {
				if name != "cached" {
					builtShards.reset()
				}
				objs, err := Build(Options{Root: root, Path: ".", TargetNamespace: "team", Name: "big", Namespace: "flux-system"})
				if err != nil || len(objs) != 5000 {
					b.Fatal(len(objs), err)
				}
			}
		})
	}
}
