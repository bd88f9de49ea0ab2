package meta

// LocalObjectReference names an object in the same namespace as the referrer.
type LocalObjectReference struct {
	// Name of the referent.
	// +required
	Name string `json:"name"`
}

// NamespacedObjectReference names an object, optionally in another namespace.
type NamespacedObjectReference struct {
	// Name of the referent.
	// +required
	Name string `json:"name"`

	// Namespace of the referent; defaults to the referrer's namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// NamespacedObjectKindReference names an object of a given kind, optionally in another namespace.
type NamespacedObjectKindReference struct {
	// APIVersion of the referent; the group's preferred version when empty.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Kind of the referent.
	// +required
	Kind string `json:"kind"`

	// Name of the referent.
	// +required
	Name string `json:"name"`

	// Namespace of the referent; defaults to the referrer's namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// SecretKeyReference names one key of a Secret in the referrer's namespace.
type SecretKeyReference struct {
	// Name of the Secret.
	// +required
	Name string `json:"name"`

	// Key in the Secret; each kind documents its default.
	// +optional
	Key string `json:"key,omitempty"`
}

// KubeConfigReference points at a kubeconfig for a remote cluster: either a Secret key or a
// ConfigMap describing a cloud provider's cluster.
// +kubebuilder:validation:XValidation:rule="has(self.secretRef) != has(self.configMapRef)",message="exactly one of spec.kubeConfig.secretRef and spec.kubeConfig.configMapRef must be specified"
type KubeConfigReference struct {
	// SecretRef holds the kubeconfig under key 'value' (then 'value.yaml') unless Key is set.
	// +optional
	SecretRef *SecretKeyReference `json:"secretRef,omitempty"`

	// ConfigMapRef names a ConfigMap with the provider, cluster and address of a remote cluster.
	// +optional
	ConfigMapRef *LocalObjectReference `json:"configMapRef,omitempty"`
}

// DependencyReference names an object that must be ready before the referrer is reconciled.
type DependencyReference struct {
	// Name of the dependency.
	// +required
	Name string `json:"name"`

	// Namespace of the dependency; defaults to the referrer's namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// ReadyExpr is a CEL expression that decides readiness in place of the built-in check.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	ReadyExpr string `json:"readyExpr,omitempty"`
}

// ValuesReference names a ConfigMap or Secret key holding Helm values.
type ValuesReference struct {
	// Kind of the values referent.
	// +kubebuilder:validation:Enum=Secret;ConfigMap
	// +required
	Kind string `json:"kind"`

	// Name of the values referent, in the same namespace as the referrer.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// ValuesKey is the data key of the values; defaults to 'values.yaml'.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[\-._a-zA-Z0-9]+$`
	// +optional
	ValuesKey string `json:"valuesKey,omitempty"`

	// TargetPath is the YAML dot path the value is merged at (Helm --set syntax); the whole
	// document is merged at the root when empty.
	// +kubebuilder:validation:MaxLength=250
	// +kubebuilder:validation:Pattern=`^([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+$`
	// +optional
	TargetPath string `json:"targetPath,omitempty"`

	// Optional marks the reference as optional: a missing object or key is not an error.
	// +optional
	Optional bool `json:"optional,omitempty"`

	// Literal merges the value at TargetPath as one string, as 'helm --set-literal' does,
	// instead of parsing it as '--set' syntax (where commas, brackets and dots have meaning).
	// +optional
	Literal bool `json:"literal,omitempty"`
}

// GetValuesKey returns ValuesKey or its default.
func (in ValuesReference) GetValuesKey() string {
	if in.ValuesKey == "" {
		return "values.yaml"
	}
	return in.ValuesKey
}
