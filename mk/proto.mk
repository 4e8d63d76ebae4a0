# proto.mk — protobuf tooling for proto/ (buf + local protoc plugins).
#
#   make tools-proto     install pinned buf, protoc-gen-go, protoc-gen-go-grpc into TOOLS_BIN
#   make proto           regenerate the Go code next to each .proto (committed)
#   make proto-lint      buf lint + buf format check
#   make proto-breaking  buf breaking against the main branch (skipped if main has no proto/)
#   make proto-check     proto-lint + proto-breaking + fail if committed generated code is stale
#
# Works included from the top Makefile (include mk/*.mk) and standalone
# (make -f mk/proto.mk ...). Recipes are POSIX sh, so they run the same under
# make's default /bin/sh and under the top Makefile's bash -eu -o pipefail.
# Everything is local: buf plugins are local binaries, nothing from the BSR.

# Resolve paths from this file's location, so the current directory does not matter.
PROTO_MK_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
PROTO_ROOT   := $(patsubst %/,%,$(dir $(PROTO_MK_DIR)))
PROTO_DIR    := $(PROTO_ROOT)/proto

# Tools are cached per machine, shared by every clone of the repo.
TOOLS_BIN ?= $(HOME)/.cache/botserver-go/tools/bin

BUF_VERSION                := v1.75.0
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2

BUF_PKG                := github.com/bufbuild/buf/cmd/buf
PROTOC_GEN_GO_PKG      := google.golang.org/protobuf/cmd/protoc-gen-go
PROTOC_GEN_GO_GRPC_PKG := google.golang.org/grpc/cmd/protoc-gen-go-grpc

BUF := $(TOOLS_BIN)/buf
# TOOLS_BIN first, so buf finds the pinned plugins (buf.gen.yaml uses local: names).
PROTO_PATH_ENV := PATH="$(TOOLS_BIN):$$PATH"

# Branch that proto-breaking compares against.
PROTO_BREAKING_BRANCH ?= main

PROTO_STAMPS := \
	$(TOOLS_BIN)/.stamp-buf-$(BUF_VERSION) \
	$(TOOLS_BIN)/.stamp-protoc-gen-go-$(PROTOC_GEN_GO_VERSION) \
	$(TOOLS_BIN)/.stamp-protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION)

.PHONY: tools-proto proto proto-lint proto-breaking proto-check proto-force-install

tools-proto: $(PROTO_STAMPS)

# One stamp per tool+version: a new pin installs again, the same pin is reused
# by every clone on this machine. A stamp whose binary is gone is redone.
# $(1)=stamp name, $(2)=binary, $(3)=package, $(4)=version
define proto_tool_rule
$(TOOLS_BIN)/.stamp-$(1)-$(4): $(if $(wildcard $(TOOLS_BIN)/$(2)),,proto-force-install)
	@mkdir -p "$(TOOLS_BIN)"
	@echo "installing $(3)@$(4) into $(TOOLS_BIN)"
	GOWORK=off GOTOOLCHAIN=local GOBIN="$(TOOLS_BIN)" go install $(3)@$(4)
	@rm -f "$(TOOLS_BIN)"/.stamp-$(1)-v*
	@touch "$$@"
endef
$(eval $(call proto_tool_rule,buf,buf,$(BUF_PKG),$(BUF_VERSION)))
$(eval $(call proto_tool_rule,protoc-gen-go,protoc-gen-go,$(PROTOC_GEN_GO_PKG),$(PROTOC_GEN_GO_VERSION)))
$(eval $(call proto_tool_rule,protoc-gen-go-grpc,protoc-gen-go-grpc,$(PROTOC_GEN_GO_GRPC_PKG),$(PROTOC_GEN_GO_GRPC_VERSION)))

proto-force-install:

# Stale outputs of deleted .proto files are removed first, so they show up in
# proto-check as deletions instead of lingering.
proto: tools-proto
	find "$(PROTO_DIR)" -name '*.pb.go' -type f -delete
	cd "$(PROTO_DIR)" && $(PROTO_PATH_ENV) "$(BUF)" generate
	cd "$(PROTO_DIR)" && { go mod tidy -diff >/dev/null 2>&1 || go mod tidy; }

proto-lint: tools-proto
	cd "$(PROTO_DIR)" && "$(BUF)" lint
	@cd "$(PROTO_DIR)" && "$(BUF)" format -d --exit-code || { echo "proto-lint: .proto files are not formatted: run (cd proto && $(BUF) format -w)"; exit 1; }

# Compares the working tree's proto/ with proto/ on $(PROTO_BREAKING_BRANCH)
# (local branch, else origin/<branch>). Skipped, with a message, when that
# branch does not exist yet or has no proto/buf.yaml (first commit adding it).
proto-breaking: tools-proto
	@cd "$(PROTO_ROOT)" && \
	br="$(PROTO_BREAKING_BRANCH)"; \
	gitdir=$$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null) || gitdir=""; \
	if [ -z "$$gitdir" ]; then echo "proto-breaking: not a git repository: skipped"; exit 0; fi; \
	if git rev-parse -q --verify "refs/heads/$$br^{commit}" >/dev/null; then ref="refs/heads/$$br"; against="branch=$$br"; \
	elif git rev-parse -q --verify "refs/remotes/origin/$$br^{commit}" >/dev/null; then ref="refs/remotes/origin/$$br"; against="ref=$$ref"; \
	else echo "proto-breaking: no branch $$br (nor origin/$$br) yet: skipped"; exit 0; fi; \
	if ! git cat-file -e "$$ref:proto/buf.yaml" 2>/dev/null; then echo "proto-breaking: $$br has no proto/buf.yaml yet: nothing to compare against, skipped"; exit 0; fi; \
	echo "proto-breaking: buf breaking against $$ref:proto"; \
	cd "$(PROTO_DIR)" && "$(BUF)" breaking --against "$$gitdir#$$against,subdir=proto"

# Regenerates into a temporary copy of proto/ (the tree is not touched) and
# fails if that differs from proto/ as it is: stale or hand-edited *.pb.go,
# leftovers of deleted .proto files, untidy go.mod/go.sum. On a clean clone
# (CI) that is exactly "the committed generated code is stale". Also fails on
# generated files that git does not track yet (they would miss the commit).
proto-check: tools-proto proto-lint proto-breaking
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	cp -R "$(PROTO_DIR)" "$$tmp/proto"; \
	find "$$tmp/proto" -name '*.pb.go' -type f -delete; \
	(cd "$$tmp/proto" && $(PROTO_PATH_ENV) "$(BUF)" generate && GOWORK=off go mod tidy) || { echo "proto-check: buf generate failed"; exit 1; }; \
	if ! git diff --no-index --exit-code --name-status -- "$(PROTO_DIR)" "$$tmp/proto"; then \
		echo "proto-check: the generated code under proto/ does not match the .proto files (stale, hand-edited or untidy)."; \
		echo "proto-check: run 'make proto' and commit the result."; \
		exit 1; \
	fi; \
	new=$$(cd "$(PROTO_ROOT)" && git ls-files --others --exclude-standard -- ':(glob)proto/**/*.pb.go' proto/go.mod proto/go.sum); \
	if [ -n "$$new" ]; then \
		echo "proto-check: generated files not tracked by git:"; echo "$$new"; \
		echo "proto-check: run 'make proto', then git add and commit them."; \
		exit 1; \
	fi; \
	echo "proto-check: generated code is up to date"
