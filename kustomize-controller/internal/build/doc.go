// Package build runs kustomize over an artifact tree the way Flux's kustomize-controller does,
// without ever writing to that tree (it is shared, read-only, by every Kustomization on the
// same revision) and without reading outside it: a missing kustomization.yaml is generated in
// memory, the Kustomization's overrides (targetNamespace, prefix, suffix, patches, images,
// components, commonMetadata) are applied through an in-memory overlay, and every file access
// is confined to the artifact root.
package build
