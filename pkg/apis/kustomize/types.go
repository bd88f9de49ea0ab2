package kustomize

// Selector picks the resources a patch applies to. Every set field must match.
type Selector struct {
	// Group of the API resource.
	// +optional
	Group string `json:"group,omitempty"`

	// Version of the API resource.
	// +optional
	Version string `json:"version,omitempty"`

	// Kind of the API resource.
	// +optional
	Kind string `json:"kind,omitempty"`

	// Namespace of the resource.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Name of the resource (a regular expression).
	// +optional
	Name string `json:"name,omitempty"`

	// AnnotationSelector is a Kubernetes selector over the resource's annotations.
	// +optional
	AnnotationSelector string `json:"annotationSelector,omitempty"`

	// LabelSelector is a Kubernetes selector over the resource's labels.
	// +optional
	LabelSelector string `json:"labelSelector,omitempty"`
}

// Patch is a strategic merge patch or a JSON 6902 patch, applied to the resources its target
// selects (or, for a strategic merge patch without target, to the resource it names).
type Patch struct {
	// Patch is the patch document, inline.
	// +required
	Patch string `json:"patch"`

	// Target selects the resources to patch.
	// +optional
	Target *Selector `json:"target,omitempty"`
}

// Image overrides an image's name, tag or digest, as kustomize's images field does.
type Image struct {
	// Name is the image to match (without tag).
	// +required
	Name string `json:"name"`

	// NewName replaces the image name.
	// +optional
	NewName string `json:"newName,omitempty"`

	// NewTag replaces the image tag.
	// +optional
	NewTag string `json:"newTag,omitempty"`

	// Digest replaces the image tag with a digest; it takes precedence over NewTag.
	// +optional
	Digest string `json:"digest,omitempty"`
}

// CustomHealthCheck gives CEL expressions that compute the health of a custom kind.
type CustomHealthCheck struct {
	// APIVersion of the custom resource.
	// +required
	APIVersion string `json:"apiVersion"`

	// Kind of the custom resource; every kind of APIVersion when empty.
	// +optional
	Kind string `json:"kind,omitempty"`

	HealthCheckExpressions `json:",inline"`
}

// HealthCheckExpressions are CEL expressions over the object; the first that is true decides.
type HealthCheckExpressions struct {
	// Current is true when the resource is healthy.
	// +required
	// +kubebuilder:validation:MaxLength=4096
	Current string `json:"current"`

	// InProgress is true when the resource is still reconciling.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	InProgress string `json:"inProgress,omitempty"`

	// Failed is true when the resource failed.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Failed string `json:"failed,omitempty"`
}
