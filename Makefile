# Driftless. `make run` starts the whole system locally; `make test` runs every test.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

BIN          := $(CURDIR)/bin
KUBE_VERSION := v1.37.2
KUBE_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=37 \
	-X k8s.io/component-base/version.gitTreeState=clean
# The tools modules stay out of go.work so that their requirements never reach the controllers.
TOOLS_GO     := GOWORK=off CGO_ENABLED=0 go

CONTROL_PLANE := $(BIN)/etcd $(BIN)/kube-apiserver $(BIN)/kubectl
CLUSTER       := $(CONTROL_PLANE) $(BIN)/kube-controller-manager $(BIN)/kube-scheduler $(BIN)/kwok $(BIN)/kwok-stages.yaml
CONTROLLERS   := source-controller kustomize-controller helm-controller notification-controller
# The flux CLI that the e2e tests drive Driftless with: Flux's own, at the version whose APIs
# Driftless matches.
FLUX_VERSION  := v2.9.5

.PHONY: help
help: ## Show the targets.
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-16s %s\n",$$1,$$2}'

##@ Everyday

.PHONY: run
run: cluster build ## Run the whole system: a local control plane (or the cluster of KUBECONFIG), the CRDs and the four controllers.
	@go build -o $(BIN)/driftless-local ./e2e/cmd/driftless-local
	@$(BIN)/driftless-local --bin-dir=$(BIN) --state-dir=.run

.PHONY: test
test: cluster build $(BIN)/flux ## Run every test against the real control plane (e2e: with kwok's simulated nodes, and Flux's CLI); builds what it needs first.
	DRIFTLESS_BIN_DIR=$(BIN) go test -count=1 -timeout 30m $(addsuffix /...,$(MODULES))

FUZZTIME ?= 1m
.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 1m); make test runs their seeds only.
	@for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' $(MODULES) | xargs -n1 dirname | sort -u); do \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$dir/*_test.go); do \
			echo "== $$dir $$target ($(FUZZTIME))"; \
			(cd $$dir && go test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) .) || exit 1; \
		done; \
	done

.PHONY: build
build: ## Build the four controllers into bin/.
	go build -o $(BIN)/ $(addprefix ./,$(CONTROLLERS))

##@ Control plane (built from the Go module proxy into bin/, only when missing)

.PHONY: control-plane
control-plane: $(CONTROL_PLANE) ## Build etcd, kube-apiserver and kubectl into bin/.

.PHONY: cluster
cluster: $(CLUSTER) ## Also build kube-controller-manager, kube-scheduler and kwok (simulated nodes) for e2e and bench.

$(BIN)/etcd: tools/etcd/go.mod
	cd tools/etcd && $(TOOLS_GO) build -trimpath -ldflags "-s -w" -o $@ go.etcd.io/etcd/server/v3

$(BIN)/kube-apiserver $(BIN)/kubectl $(BIN)/kube-controller-manager $(BIN)/kube-scheduler: tools/kube/go.mod
	cd tools/kube && $(TOOLS_GO) build -trimpath -ldflags "$(KUBE_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/$(notdir $@)

$(BIN)/kwok: tools/kwok/go.mod
	cd tools/kwok && $(TOOLS_GO) build -trimpath -ldflags "-s -w" -o $@ sigs.k8s.io/kwok/cmd/kwok

$(BIN)/kwok-stages.yaml: tools/kwok/go.mod tools/kwok/stages/main.go
	cd tools/kwok && $(TOOLS_GO) run ./stages > $@.tmp && mv $@.tmp $@

.PHONY: flux
flux: $(BIN)/flux ## Build Flux's CLI ($(FLUX_VERSION)) into bin/, which the e2e tests drive Driftless with.

$(BIN)/flux: hack/build-flux.sh
	hack/build-flux.sh $@ $(FLUX_VERSION)

$(BIN)/controller-gen: tools/codegen/go.mod
	cd tools/codegen && $(TOOLS_GO) build -trimpath -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

##@ Code generation and checks

API_DIRS := ./pkg/apis/... ./source-controller/api/... ./kustomize-controller/api/... \
	./helm-controller/api/... ./notification-controller/api/...
MODULES  := $(shell go work edit -json | sed -n 's/.*"DiskPath": "\(.*\)".*/\1/p')

.PHONY: generate
generate: $(BIN)/controller-gen ## Generate deepcopy functions and CRDs (manifests/crds).
	$(BIN)/controller-gen object:headerFile=hack/boilerplate.go.txt $(addprefix paths=,$(API_DIRS))
	rm -f manifests/crds/*.toolkit.fluxcd.io_*.yaml
	$(BIN)/controller-gen crd:maxDescLen=400 $(addprefix paths=,$(API_DIRS)) output:crd:artifacts:config=manifests/crds
	cd manifests/crds && { echo "apiVersion: kustomize.config.k8s.io/v1beta1"; echo "kind: Kustomization"; echo "resources:"; ls *.toolkit.fluxcd.io_*.yaml | sed 's/^/  - /'; } > kustomization.yaml

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -w $(MODULES) tools

.PHONY: vet
vet: ## Run go vet on every module.
	go vet $(addsuffix /...,$(MODULES))

GENERATED = find manifests/crds $(API_DIRS:/...=) -name 'zz_generated*.go' -o -name '*.yaml' | sort | xargs sha256sum

.PHONY: verify
verify: $(BIN)/controller-gen ## Fail when generated files are stale, code is unformatted, vet complains or an API module pulls in controller-runtime.
	@$(GENERATED) > $(BIN)/.generated.before
	@$(MAKE) --no-print-directory generate >/dev/null
	@$(GENERATED) > $(BIN)/.generated.after
	@if ! diff -q $(BIN)/.generated.before $(BIN)/.generated.after >/dev/null; then \
		echo "generated files were stale (now regenerated; commit them):"; \
		diff $(BIN)/.generated.before $(BIN)/.generated.after | sed -n 's/^> [0-9a-f]*  /  /p'; exit 1; fi
	@out=$$(gofmt -l $(MODULES) tools); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(MAKE) --no-print-directory vet
	hack/check-api-deps.sh

##@ Benchmarks

.PHONY: bench bench-quick
bench: cluster build ## Measure the controllers on a kwok cluster (every scenario, median of 3 runs, about 30 min); writes bench/results/results.{json,md}.
	go run ./bench --bin-dir=$(BIN) --out=bench/results $(BENCH_ARGS)

bench-quick: cluster build ## The quick set (under 10 min on 2 cores): 100 repositories, 100 apps × 20 objects, latencies.
	go run ./bench --quick --bin-dir=$(BIN) --out=bench/results/quick $(BENCH_ARGS)
