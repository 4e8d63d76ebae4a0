# drive.mk — botdrive's tools and helpers.
#
#   make tools-drive    install the S3 test server (versitygw) into TOOLS_BIN, once per machine
#   make push-bot BOT=mybot [DIR=bots/mybot.gbai] [API=http://localhost:8080] [TOKEN=...]
#                       zip a local .gbai folder and deploy it through the API
#
# The botdrive tests start a real S3 server process; `make test-go` installs
# it first (the tests would install it themselves, with the same pin, if run
# alone). versitygw is one static Go binary with a small dependency tree
# (about 2 minutes to build here; MinIO's is several times larger).

DRIVE_MK_DIR  := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
DRIVE_ROOT    := $(patsubst %/,%,$(dir $(DRIVE_MK_DIR)))
TOOLS_BIN     ?= $(HOME)/.cache/botserver-go/tools/bin
# Keep in step with botdrive/storage/s3store/s3test.Version.
VERSITYGW_VERSION := v1.8.0
VERSITYGW_PKG     := github.com/versity/versitygw/cmd/versitygw

.PHONY: tools-drive push-bot drive-force-install

tools-drive: $(TOOLS_BIN)/.stamp-versitygw-$(VERSITYGW_VERSION)

$(TOOLS_BIN)/.stamp-versitygw-$(VERSITYGW_VERSION): $(if $(wildcard $(TOOLS_BIN)/versitygw),,drive-force-install)
	@mkdir -p "$(TOOLS_BIN)"
	@echo "installing $(VERSITYGW_PKG)@$(VERSITYGW_VERSION) into $(TOOLS_BIN)"
	GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$(TOOLS_BIN)" go install $(VERSITYGW_PKG)@$(VERSITYGW_VERSION)
	@rm -f "$(TOOLS_BIN)"/.stamp-versitygw-v*
	@touch "$@"

drive-force-install:

# The workspace's tests need the S3 server binary.
test-go: tools-drive

BOT ?=
DIR ?= $(if $(BOT),bots/$(BOT).gbai,)
API ?= http://localhost:$${PUBLIC_PORT:-8080}
push-bot:
	@test -n "$(BOT)" || { echo "usage: make push-bot BOT=<name> [DIR=<folder>.gbai] [API=<gateway URL>] [TOKEN=<admin token>]"; exit 2; }
	cd "$(DRIVE_ROOT)" && go run ./botdrive/cmd/botpush -bot "$(BOT)" -dir "$(DIR)" -api "$(API)" $(if $(TOKEN),-token "$(TOKEN)",)
