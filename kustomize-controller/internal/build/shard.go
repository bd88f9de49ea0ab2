package build

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/yaml"
)

// kustomize's resource map checks every object it adds, transforms or drops against every
// other one, computing each one's id from its YAML anew (kustomize#5084): a build of n objects
// costs n² of those in each of several passes (accumulating, the namespace transformer,
// dropping local configs, and again in an overlay). At 5,000 objects that is 45 CPU-seconds;
// at 20,000, sixteen times as much.
//
// A big kustomization is usually a list of manifest files and nothing else (or a directory
// of them, for which one is generated), and the overrides a Kustomization adds to it are
// usually targetNamespace, commonMetadata and images. Every one of those acts on each object
// alone, so building the documents in shards of a few, each shard with the overrides, and
// joining the shards in order gives kustomize's result at a fraction of the cost (5,000
// objects: 0.8 s instead of 57). The one check that spans objects, that no two have the same
// id, is made once on the joined result. Anything else (generators, patches, name prefixes, which rename references across
// objects, components, directories of their own) is built whole, as before.

// shardDocs and shardBytes bound a shard: at most this many documents and, unless it is one
// file that cannot be split, about this much YAML. The documents of a file are split at the
// '---' lines into files of their own, in memory, so that a file of thousands of documents
// is sharded too.
// A build of fewer than shardMin documents is not sharded: the quadratic cost is small there.
var (
	shardDocs        = 16
	shardBytes int64 = 32 << 10
	shardMin         = 256
)

// shards returns the resource files of the kustomization in dir in groups of at most
// shardDocs documents, when it may be built in shards (see above); otherwise, or when it is
// small enough for one group, nil. The documents of files it split are written in memory
// beside them, and named in place of them in the groups.
func shards(fsys *confinedFS, dir string, o Options) ([][]string, error) {
	if o.NamePrefix != "" || o.NameSuffix != "" || len(o.Patches) > 0 || len(o.Components) > 0 || len(o.BuildMetadata) > 0 {
		return nil, nil
	}
	var file string
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if p := filepath.Join(dir, name); fsys.Exists(p) {
			file = p
			break
		}
	}
	if file == "" {
		return nil, nil
	}
	data, err := fsys.ReadFile(file)
	if err != nil {
		return nil, nil // kustomize reports it
	}
	var k types.Kustomization
	if yaml.UnmarshalStrict(data, &k) != nil {
		return nil, nil // nor is this one for shards
	}
	if k.Kind != "" && k.Kind != types.KustomizationKind {
		return nil, nil
	}
	resources := k.Resources
	k.TypeMeta, k.Resources = types.TypeMeta{}, nil
	if !reflect.DeepEqual(k, types.Kustomization{}) {
		return nil, nil
	}
	type unit struct {
		path string
		docs int
		size int64
	}
	var units []unit
	for _, r := range resources {
		if isRemote(r) {
			return nil, nil
		}
		p, err := fsys.confine(filepath.Join(dir, filepath.FromSlash(r)))
		if err != nil {
			return nil, nil // kustomize reports it
		}
		if info, err := os.Stat(p); err != nil || !info.Mode().IsRegular() {
			return nil, nil
		}
		data, err := fsys.ReadFile(p) // decrypted, when it is encrypted
		if err != nil {
			return nil, nil
		}
		docs := splitDocuments(data)
		if docs == nil { // not to be split: a shard of its own
			units = append(units, unit{path: p, docs: shardDocs, size: int64(len(data))})
			continue
		}
		if len(docs) == 1 {
			units = append(units, unit{path: p, docs: 1, size: int64(len(data))})
			continue
		}
		for i, d := range docs {
			part := fmt.Sprintf("%s.driftless-document-%d", p, i+1)
			if err := fsys.WriteFile(part, d); err != nil {
				return nil, err
			}
			units = append(units, unit{path: part, docs: 1, size: int64(len(d))})
		}
	}
	total := 0
	for _, u := range units {
		total += u.docs
	}
	if total < shardMin {
		return nil, nil
	}
	var groups [][]string
	var docs int
	var size int64
	for _, u := range units {
		if len(groups) == 0 || docs+u.docs > shardDocs || (docs > 0 && size+u.size > shardBytes) {
			groups = append(groups, nil)
			docs, size = 0, 0
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], u.path)
		docs += u.docs
		size += u.size
	}
	if len(groups) < 2 {
		return nil, nil
	}
	return groups, nil
}

// splitDocuments splits a YAML stream at its document markers: lines that are exactly '---'.
// Documents that hold nothing but comments and blank lines are dropped, as kustomize drops
// them. A stream that it cannot split safely (a directive, an end marker, a marker with
// something after it) is nil.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	empty := true
	flush := func() {
		if !empty {
			docs = append(docs, cur)
		}
		cur, empty = nil, true
	}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		text := strings.TrimRight(string(line), " \t\r\n")
		switch {
		case text == "---":
			flush()
			continue
		case strings.HasPrefix(text, "---"), strings.HasPrefix(text, "..."), strings.HasPrefix(text, "%"):
			return nil
		}
		if t := strings.TrimSpace(text); t != "" && !strings.HasPrefix(t, "#") {
			empty = false
		}
		cur = append(cur, line...)
	}
	flush()
	if len(docs) == 0 {
		return nil
	}
	return docs
}

// buildShards builds each group of files with the overrides, in order, and hands each
// shard's objects to join, refusing two objects with the same id as kustomize does.
func buildShards(fsys *confinedFS, groups [][]string, o Options, join func([]*resource.Resource) error) error {
	seen := map[resid.ResId]bool{}
	for i, files := range groups {
		dir := filepath.Join(fsys.overlay, fmt.Sprintf("shard-%05d", i))
		k := overrides(o)
		for _, f := range files {
			rel, err := filepath.Rel(dir, f)
			if err != nil {
				return err
			}
			k.Resources = append(k.Resources, filepath.ToSlash(rel))
		}
		if err := writeKustomization(fsys, dir, &k); err != nil {
			return err
		}
		resources, err := kustomizeBuild(fsys, dir)
		if err != nil {
			return err
		}
		for _, r := range resources {
			id := r.CurId()
			if seen[id] {
				return fmt.Errorf("kustomize build failed: may not add resource with an already registered id: %s", id)
			}
			seen[id] = true
		}
		if err := join(resources); err != nil {
			return err
		}
	}
	return nil
}
