#!/usr/bin/env bash
# Builds Flux's own CLI, at the version Driftless is compatible with, from the Go module proxy
# into $1, for the e2e tests that drive Driftless with it (`flux get alerts`, `flux create
# receiver`, ...). The module's zip leaves out cmd/flux/manifests (Flux's release bundles,
# embedded for `flux install`); an empty placeholder stands in, so this CLI cannot install
# Flux, which nothing here asks of it.
set -euo pipefail
out=$1 version=$2
src=$(GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/fluxcd/flux2/v2@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
mkdir -p "$work/cmd/flux/manifests"
echo "# placeholder: this build of the flux CLI embeds no release manifests" > "$work/cmd/flux/manifests/placeholder.yaml"
cd "$work"
GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w -X main.VERSION=${version#v}" -o "$out" ./cmd/flux
