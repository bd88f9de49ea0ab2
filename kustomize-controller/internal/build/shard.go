package build

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"

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
// alone, so building the files in shards of about shardBytes, each shard with the overrides,
// and joining the shards in order gives kustomize's result at a fraction of the cost. The
// one check that spans objects, that no two have the same id, is made once on the joined
// result. Anything else (generators, patches, name prefixes, which rename references across
// objects, components, directories of their own) is built whole, as before.

// shardBytes is about how much YAML one shard holds: a hundred or so typical objects.
var shardBytes int64 = 32 << 10

// shards returns the resource files of the kustomization in dir in groups of about
// shardBytes, when it may be built in shards (see above); otherwise, or when it is small
// enough for one group, nil.
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
	if !reflect.DeepEqual(k, types.Kustomization{}) || len(resources) < 2 {
		return nil, nil
	}
	var groups [][]string
	var size int64
	for _, r := range resources {
		if isRemote(r) {
			return nil, nil
		}
		p, err := fsys.confine(filepath.Join(dir, filepath.FromSlash(r)))
		if err != nil {
			return nil, nil // kustomize reports it
		}
		info, err := os.Stat(p)
		if err != nil || !info.Mode().IsRegular() {
			return nil, nil
		}
		if len(groups) == 0 || (size > 0 && size+info.Size() > shardBytes) {
			groups = append(groups, nil)
			size = 0
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], p)
		size += info.Size()
	}
	if len(groups) < 2 {
		return nil, nil
	}
	return groups, nil
}

// buildShards builds each group of files with the overrides, in order, and joins the results,
// refusing two objects with the same id as kustomize does.
func buildShards(fsys *confinedFS, groups [][]string, o Options) ([]*resource.Resource, error) {
	var out []*resource.Resource
	seen := map[resid.ResId]bool{}
	for i, files := range groups {
		dir := filepath.Join(fsys.overlay, fmt.Sprintf("shard-%05d", i))
		k := overrides(o)
		for _, f := range files {
			rel, err := filepath.Rel(dir, f)
			if err != nil {
				return nil, err
			}
			k.Resources = append(k.Resources, filepath.ToSlash(rel))
		}
		if err := writeKustomization(fsys, dir, &k); err != nil {
			return nil, err
		}
		resources, err := kustomizeBuild(fsys, dir)
		if err != nil {
			return nil, err
		}
		for _, r := range resources {
			id := r.CurId()
			if seen[id] {
				return nil, fmt.Errorf("kustomize build failed: may not add resource with an already registered id: %s", id)
			}
			seen[id] = true
		}
		out = append(out, resources...)
	}
	return out, nil
}
