# deploy.mk — container images, compose and the Kubernetes chart (deploy/).
#
#   make deploy-tools  install the pinned helm into TOOLS_BIN
#   make deploy-check  helm lint of the chart, then deploy/'s Go tests: the chart
#                      rendered (all services, chat set) and decoded strictly into
#                      Kubernetes types, compose.yaml loaded with compose-go
#                      (profiles all, chat, allinone, each service), the
#                      Dockerfile parsed with BuildKit's parser, healthprobe
#   make deploy-lint   gofmt, go vet and go.mod tidiness of the deploy module
#   make images-bin    every image's binary into bin/images/, built as
#                      deploy/Dockerfile builds it (static, -trimpath, stamped)
#   make images        the images themselves (needs a Docker engine with BuildKit)
#
# Works included from the top Makefile (include mk/*.mk) and standalone
# (make -f mk/deploy.mk ...). Recipes are POSIX sh, so they run the same under
# make's default /bin/sh and under the top Makefile's bash -eu -o pipefail.

# Resolve paths from this file's location, so the current directory does not matter.
DEPLOY_MK_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
DEPLOY_ROOT   := $(patsubst %/,%,$(dir $(DEPLOY_MK_DIR)))
DEPLOY_DIR    := $(DEPLOY_ROOT)/deploy
DEPLOY_CHART  := $(DEPLOY_DIR)/helm/botserver

# Tools are cached per machine, shared by every clone of the repo.
TOOLS_BIN ?= $(HOME)/.cache/botserver-go/tools/bin

# helm v3: `helm lint`, and `helm template` in deploy/helm_test.go. Builds with
# Go 1.26 in about 3 minutes cold (2 CPUs), once per machine and version.
HELM_VERSION := v3.22.0
HELM_PKG     := helm.sh/helm/v3/cmd/helm
HELM         := $(TOOLS_BIN)/helm

# deploy/ runs in the workspace when go.work uses ./deploy, alone otherwise.
DEPLOY_GOWORK := $(if $(shell grep -Eq '^[[:space:]]*(use[[:space:]]+)?\./deploy[[:space:]]*$$' $(DEPLOY_ROOT)/go.work 2>/dev/null && echo yes),,GOWORK=off)

# The images' binaries: every <dir>/cmd/<dir> of the workspace (the services and
# botserver, the all-in-one), plus the chat-only all-in-one and healthprobe.
IMAGE_BINARIES := $(sort $(foreach n,$(notdir $(patsubst %/main.go,%,$(wildcard $(DEPLOY_ROOT)/*/cmd/*/main.go))),$(if $(wildcard $(DEPLOY_ROOT)/$(n)/cmd/$(n)/main.go),$(n))))
IMAGES_BIN     := $(DEPLOY_ROOT)/bin/images
VERSION        ?= $(shell git -C "$(DEPLOY_ROOT)" describe --always --dirty 2>/dev/null || echo dev)
# Exactly the Dockerfile's build (deploy/dockerfile_test.go checks both).
IMAGE_LDFLAGS  := -s -w -X github.com/botserver-go/botserver-go/botstate/app.Version=$(VERSION)
IMAGE_GOBUILD  := CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags "$(IMAGE_LDFLAGS)"

# docker build settings for `make images`.
IMAGE_REGISTRY ?= botserver-go
IMAGE_TAG      ?= $(VERSION)
DOCKER         ?= docker

.PHONY: deploy-tools deploy-check deploy-lint deploy-test helm-lint images-bin images deploy-force-install

deploy-tools: $(TOOLS_BIN)/.stamp-helm-$(HELM_VERSION)

# One stamp per tool+version: a new pin installs again, the same pin is reused
# by every clone on this machine. A stamp whose binary is gone is redone.
$(TOOLS_BIN)/.stamp-helm-$(HELM_VERSION): $(if $(wildcard $(HELM)),,deploy-force-install)
	@mkdir -p "$(TOOLS_BIN)"
	@echo "installing $(HELM_PKG)@$(HELM_VERSION) into $(TOOLS_BIN)"
	GOWORK=off GOTOOLCHAIN=local GOBIN="$(TOOLS_BIN)" go install $(HELM_PKG)@$(HELM_VERSION)
	@rm -f "$(TOOLS_BIN)"/.stamp-helm-v*
	@touch "$@"

deploy-force-install:

deploy-check: helm-lint deploy-test

# --strict: warnings fail too. ci/test-values.yaml holds the values the chart
# requires (a database and NATS); values.schema.json rejects unknown keys.
helm-lint: deploy-tools
	"$(HELM)" lint --strict "$(DEPLOY_CHART)" -f "$(DEPLOY_CHART)/ci/test-values.yaml"
	"$(HELM)" lint --strict "$(DEPLOY_CHART)" -f "$(DEPLOY_CHART)/ci/test-values.yaml" -f "$(DEPLOY_CHART)/values-chat.yaml"

deploy-test: deploy-tools
	cd "$(DEPLOY_DIR)" && HELM="$(HELM)" $(DEPLOY_GOWORK) go test -count=1 -timeout 5m ./...

deploy-lint:
	@out=$$(gofmt -l "$(DEPLOY_DIR)"); if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi
	cd "$(DEPLOY_DIR)" && $(DEPLOY_GOWORK) go vet ./...
	@cd "$(DEPLOY_DIR)" && GOWORK=off go mod tidy -diff >/dev/null || { echo "go.mod/go.sum of deploy are not tidy: run (cd deploy && GOWORK=off go mod tidy)"; exit 1; }

# Built in the workspace like `make build`; the Dockerfile drops ./deploy from
# go.work first, which changes no version (TestImageBuildListWithoutDeploy).
# `go version -m` proves each binary is static (CGO_ENABLED=0) and trimmed.
images-bin:
	@mkdir -p "$(IMAGES_BIN)"
	@cd "$(DEPLOY_ROOT)" && for b in $(IMAGE_BINARIES); do \
		echo "images-bin: $$b"; \
		$(IMAGE_GOBUILD) -o "$(IMAGES_BIN)/$$b" ./$$b/cmd/$$b || exit 1; \
	done
	cd "$(DEPLOY_ROOT)" && $(IMAGE_GOBUILD) -tags minimal -o "$(IMAGES_BIN)/botserver-minimal" ./botserver/cmd/botserver
	cd "$(DEPLOY_DIR)" && GOWORK=off CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags "-s -w" -o "$(IMAGES_BIN)/healthprobe" ./healthprobe
	@for f in "$(IMAGES_BIN)"/*; do \
		info=$$(go version -m "$$f") || exit 1; \
		echo "$$info" | grep -q 'CGO_ENABLED=0' || { echo "images-bin: $$f is not static (CGO_ENABLED is not 0)"; exit 1; }; \
		echo "$$info" | grep -q -- '-trimpath=true' || { echo "images-bin: $$f was not built with -trimpath"; exit 1; }; \
	done
	@echo "images-bin: $(IMAGE_BINARIES) botserver-minimal healthprobe in $(IMAGES_BIN) (version $(VERSION))"

# One image per binary, then the chat-only all-in-one. Needs a Docker engine.
images:
	@cd "$(DEPLOY_ROOT)" && for b in $(IMAGE_BINARIES); do \
		$(DOCKER) build -f deploy/Dockerfile --build-arg SERVICE=$$b --build-arg VERSION=$(VERSION) \
			-t $(IMAGE_REGISTRY)/$$b:$(IMAGE_TAG) . || exit 1; \
	done
	cd "$(DEPLOY_ROOT)" && $(DOCKER) build -f deploy/Dockerfile --build-arg SERVICE=botserver --build-arg BUILD_TAGS=minimal \
		--build-arg VERSION=$(VERSION) -t $(IMAGE_REGISTRY)/botserver:$(IMAGE_TAG)-minimal .
