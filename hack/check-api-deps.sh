#!/usr/bin/env bash
# Fails when an API module depends on controller-runtime or client-go, directly or through its
# packages' imports: API types must stay cheap to import for CLIs and other controllers.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for mod in pkg/apis source-controller/api kustomize-controller/api helm-controller/api notification-controller/api; do
	if grep -nE 'sigs.k8s.io/controller-runtime|k8s.io/client-go' "$mod/go.mod"; then
		echo "$mod/go.mod requires controller-runtime or client-go"; status=1
	fi
	deps=$(cd "$mod" && go list -deps -f '{{with .Module}}{{.Path}}{{end}}' ./... | sort -u)
	if bad=$(grep -E '^(sigs.k8s.io/controller-runtime|k8s.io/client-go)$' <<<"$deps"); then
		echo "$mod imports $bad"; status=1
	fi
done
exit $status
