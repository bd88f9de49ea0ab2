// Package git talks to Git servers for source-controller: it lists a remote's references
// (ls-remote) to learn where a ref points without cloning, resolves GitRepository refs to a
// commit with Flux's precedence and revision format, and clones exactly that commit, shallow
// where the ref allows it. Credentials come from the Secret keys Flux documents.
package git
