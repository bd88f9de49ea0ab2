package meta

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Artifact is the record of a source revision packed and stored by source-controller.
// Consumers download URL and verify Digest before they use the contents.
type Artifact struct {
	// Path is the artifact's location relative to the storage root,
	// '<kind>/<namespace>/<name>/<file>'.
	// +required
	Path string `json:"path"`

	// URL is the HTTP address of the artifact on source-controller's artifact server.
	// +required
	URL string `json:"url"`

	// Revision is the source revision the artifact was built from, for example
	// 'main@sha1:<commit>' for a Git branch.
	// +required
	Revision string `json:"revision"`

	// Digest is '<algorithm>:<hex>' of the artifact file.
	// +kubebuilder:validation:Pattern="^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"
	// +required
	Digest string `json:"digest"`

	// LastUpdateTime is when the artifact was last written.
	// +required
	LastUpdateTime metav1.Time `json:"lastUpdateTime"`

	// Size is the artifact file's size in bytes.
	// +optional
	Size *int64 `json:"size,omitempty"`

	// Metadata holds upstream annotations, for example an OCI manifest's.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
}

// HasRevision reports whether the artifact records the given revision.
func (in *Artifact) HasRevision(revision string) bool {
	return in != nil && in.Revision == revision
}

// HasDigest reports whether the artifact records the given digest.
func (in *Artifact) HasDigest(digest string) bool {
	return in != nil && in.Digest == digest
}

// ArtifactDir returns the storage directory of an object's artifacts.
func ArtifactDir(kind, namespace, name string) string {
	return strings.ToLower(kind) + "/" + namespace + "/" + name
}

// ArtifactPath returns the storage path of an object's artifact file.
func ArtifactPath(kind, namespace, name, filename string) string {
	return ArtifactDir(kind, namespace, name) + "/" + filename
}

// OCIRevisionAnnotation is the OCI manifest annotation naming the source revision an artifact
// was built from ('flux push artifact --revision'); source-controller copies it into the
// artifact's metadata.
const OCIRevisionAnnotation = "org.opencontainers.image.revision"
