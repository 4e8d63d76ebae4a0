# botserver-go — one Makefile for the whole workspace.
#   make run    build and run the all-in-one on http://localhost:8080
#   make test   start/check Postgres, Redis and NATS, then test every module
#   make lint   gofmt, go vet, go mod tidy check, buf lint/format/breaking
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

SERVICES := botcore botauth botchat botauto botllm botvectordb botdrive botmail bottasks botcontacts botcompliance botvideo
MODULES  := botstate proto $(SERVICES) botserver
MINIMAL  := botcore botauth botchat botauto botllm botvectordb botdrive
PKG      := github.com/botserver-go/botserver-go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# The same flags the Dockerfile uses: static, reproducible, stamped.
GOBUILD  := CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X $(PKG)/botstate/app.Version=$(VERSION)"
TOOLS_BIN ?= $(HOME)/.cache/botserver-go/tools/bin

# Defaults for a laptop or CI machine; override in the environment.
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
TEST_NATS_URL  ?= nats://127.0.0.1:4222

include $(wildcard mk/*.mk)

.PHONY: help run test test-go lint fmt vet tidy-check build build-minimal buildtimes ci clean $(addprefix build-,$(SERVICES) botserver)

help:
	@echo "make run            run the all-in-one (every service) on http://localhost:8080"
	@echo "make test           infrastructure check, then every module's tests"
	@echo "make lint           gofmt, go vet, go.mod tidiness, buf lint/format/breaking"
	@echo "make proto          regenerate Go code from proto/"
	@echo "make build          every binary into bin/"
	@echo "make build-minimal  the chat-only all-in-one into bin/botserver-minimal"
	@echo "make buildtimes     cold and incremental build time per binary (README table)"
	@echo "make infra          make sure Postgres (and Redis/NATS when configured) answer"
	@echo "make deploy-check   helm lint + render/compose/Dockerfile validation (deploy/)"
	@echo "make images-bin     build every image's binary as the Dockerfile does"

run: infra build-botserver
	@echo "botserver: http://localhost:$${PUBLIC_PORT:-8080}/  (health: /healthz, Ctrl-C to stop)"
	PUBLIC_ADDR=:$${PUBLIC_PORT:-8080} DATA_DIR=$${DATA_DIR:-.data} LOG_FORMAT=$${LOG_FORMAT:-text} \
		./bin/botserver --services=$${SERVICES:-all}

# REDIS_URL/NATS_URL are set for the infra check and the tests that use the
# machine's servers; tests that need isolation start an embedded NATS each.
test: export REDIS_URL := $(TEST_REDIS_URL)
test: export NATS_URL := $(TEST_NATS_URL)
test: infra infra-test llama-server-try test-go fuzz deploy-check

test-go:
	go test -count=1 -timeout 15m $(addsuffix /...,$(addprefix ./,$(MODULES)))

lint: fmt vet tidy-check proto-check deploy-lint

fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt: these files need formatting:"; echo "$$out"; exit 1; fi

vet:
	go vet $(addsuffix /...,$(addprefix ./,$(MODULES)))

tidy-check:
	@for m in $(MODULES); do (cd $$m && go mod tidy -diff >/dev/null) || { echo "go.mod/go.sum of $$m are not tidy: run (cd $$m && go mod tidy)"; exit 1; }; done

build: $(addprefix build-,$(SERVICES) botserver)

$(addprefix build-,$(SERVICES)): build-%:
	$(GOBUILD) -o bin/$* ./$*/cmd/$*

build-botserver:
	$(GOBUILD) -o bin/botserver ./botserver/cmd/botserver

build-minimal:
	$(GOBUILD) -tags minimal -o bin/botserver-minimal ./botserver/cmd/botserver
	@bad=$$(go list -deps -tags minimal ./botserver/cmd/botserver | grep -E '$(PKG)/bot(mail|tasks|contacts|compliance|video)(/|$$)' || true); \
		if [ -n "$$bad" ]; then echo "build-minimal links excluded services:"; echo "$$bad"; exit 1; fi
	@echo "bin/botserver-minimal: $(MINIMAL)"

buildtimes:
	scripts/buildtimes.sh $(SERVICES) botserver

# What CI runs on a clean clone (.ci/run).
ci: lint build build-minimal images-bin test

clean:
	rm -rf bin

# The README's settings table is generated; a test fails when it is stale.
.PHONY: readme-settings
readme-settings:
	go run ./botserver/cmd/botserver settings > .settings.md
	awk 'BEGIN { while ((getline l < ".settings.md") > 0) t = t l "\n" } \
		/^\| setting \| default \| description \|/ { printf "%s", t; skip = 1; next } \
		skip && /^\|/ { next } { skip = 0; print }' README.md > README.md.new
	mv README.md.new README.md; rm -f .settings.md
