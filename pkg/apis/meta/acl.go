package meta

// AccessFrom lists the namespaces whose objects may refer to the object that carries it.
type AccessFrom struct {
	// NamespaceSelectors: an object in a namespace matched by any of them is granted access.
	// +required
	NamespaceSelectors []NamespaceSelector `json:"namespaceSelectors"`
}

// NamespaceSelector selects namespaces by label.
type NamespaceSelector struct {
	// MatchLabels is a map of {key,value} pairs that a namespace's labels must all contain.
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}
