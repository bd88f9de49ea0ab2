// Package sourceignore decides which files of a source go into its artifact, as Flux does:
// '.git' and Git's own metadata files are always excluded; Flux's default list (images,
// archives, CI configuration) applies unless spec.ignore replaces it; '.sourceignore' files in
// the tree add gitignore-style rules for their directory.
package sourceignore
