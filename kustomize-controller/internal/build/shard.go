package build

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"

	"sigs.k8s.io/kustomize/api/konfig"
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
func shards(fsys *confinedFS, dir string, o Options) ([]shard, error) {
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
		data []byte
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
			units = append(units, unit{path: p, docs: shardDocs, size: int64(len(data)), data: data})
			continue
		}
		if len(docs) == 1 {
			units = append(units, unit{path: p, docs: 1, size: int64(len(data)), data: data})
			continue
		}
		for i, d := range docs {
			part := fmt.Sprintf("%s.driftless-document-%d", p, i+1)
			if err := fsys.WriteFile(part, d); err != nil {
				return nil, err
			}
			units = append(units, unit{path: part, docs: 1, size: int64(len(d)), data: d})
		}
	}
	total := 0
	for _, u := range units {
		total += u.docs
	}
	if total < shardMin {
		return nil, nil
	}
	// A shard's key is what its build depends on: the overrides, and its files' names and
	// contents. Nothing is cached for a build that decrypts: no plaintext outlives its build.
	var prefix []byte
	if o.Decrypt == nil {
		if prefix, err = json.Marshal(overrides(o)); err != nil {
			return nil, err
		}
	}
	var groups []shard
	var h hash.Hash
	var docs int
	var size int64
	for _, u := range units {
		if len(groups) == 0 || docs+u.docs > shardDocs || (docs > 0 && size+u.size > shardBytes) {
			if h != nil {
				groups[len(groups)-1].key = hex.EncodeToString(h.Sum(nil))
			}
			groups = append(groups, shard{})
			docs, size = 0, 0
			if h = nil; prefix != nil {
				h = sha256.New()
				h.Write(prefix)
			}
		}
		g := &groups[len(groups)-1]
		g.files = append(g.files, u.path)
		if h != nil {
			fmt.Fprintf(h, "\x00%s\x00%d\x00", fsys.rel(u.path), len(u.data))
			h.Write(u.data)
		}
		docs += u.docs
		size += u.size
	}
	if h != nil {
		groups[len(groups)-1].key = hex.EncodeToString(h.Sum(nil))
	}
	if len(groups) < 2 {
		return nil, nil
	}
	return groups, nil
}

// shard is a group of files built together, and the key of its build in the shard cache
// (empty: not cached).
type shard struct {
	files []string
	key   string
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

// buildShards builds each shard with the overrides (or finds its build in the cache), in
// order, and hands each shard's objects to join, refusing two objects with the same id as
// kustomize does.
func buildShards(fsys *confinedFS, groups []shard, o Options, join func([]builtObject) error) error {
	seen := map[resid.ResId]bool{}
	for i, g := range groups {
		built, ok := builtShards.get(g.key)
		if !ok {
			dir := filepath.Join(fsys.overlay, fmt.Sprintf("shard-%05d", i))
			k := overrides(o)
			for _, f := range g.files {
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
			if built, err = builtObjects(resources); err != nil {
				return err
			}
			builtShards.put(g.key, built)
		}
		for _, b := range built {
			if seen[b.id] {
				return fmt.Errorf("kustomize build failed: may not add resource with an already registered id: %s", b.id)
			}
			seen[b.id] = true
		}
		if err := join(built); err != nil {
			return err
		}
	}
	return nil
}

// shardCacheBytes bounds the JSON the shard cache holds.
const shardCacheBytes = 64 << 20

// builtShards are the objects of the shards built last, by key: a commit that changes a few
// files of a big kustomization rebuilds only their shards, and Kustomizations that build the
// same files with the same overrides share them. Its entries are never changed: the objects
// are copied out of their JSON.
var builtShards = &shardCache{max: shardCacheBytes, items: map[string]*list.Element{}, order: list.New()}

// shardCache is a cache of shard builds, bounded in bytes, evicting the least recently used.
type shardCache struct {
	mu    sync.Mutex
	max   int
	size  int
	items map[string]*list.Element // of *shardEntry
	order *list.List               // most recently used first
	// hits counts the builds found, for the tests.
	hits int
}

type shardEntry struct {
	key   string
	built []builtObject
	size  int
}

// reset empties the cache.
func (c *shardCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items, c.size = map[string]*list.Element{}, 0
	c.order.Init()
}

// hitCount is how many builds were found so far.
func (c *shardCache) hitCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits
}

func (c *shardCache) get(key string) ([]builtObject, bool) {
	if key == "" {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	c.hits++
	return e.Value.(*shardEntry).built, true
}

func (c *shardCache) put(key string, built []builtObject) {
	if key == "" {
		return
	}
	size := len(key)
	for _, b := range built {
		size += len(b.json) + len(b.id.Name) + len(b.id.Namespace) + 64
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok || size > c.max {
		return
	}
	c.items[key] = c.order.PushFront(&shardEntry{key: key, built: built, size: size})
	c.size += size
	for c.size > c.max {
		last := c.order.Back()
		e := last.Value.(*shardEntry)
		c.order.Remove(last)
		delete(c.items, e.key)
		c.size -= e.size
	}
}
