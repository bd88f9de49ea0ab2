// Package artifact is the consumer side of source-controller's artifacts: it downloads an
// artifact, checks its digest, and extracts it safely (no absolute paths, no '..', no links,
// only regular files and directories, and size limits enforced while reading, so that a small
// archive that inflates to gigabytes is refused before it is written out).
package artifact
