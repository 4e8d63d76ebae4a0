# webchat.mk — the web chat's browser test and the chat load tool.
#
#   make chromium      install Debian's chromium for botserver's browser test
#                      (a failure only prints why; the test then skips, naming the command)
#   make botbench      build the chat load tool into bin/botbench
#   make bench-chat    run it against a running server: URL=http://localhost:8080 BOT=sample SESSIONS=100 DURATION=20s

WEBCHAT_MK_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
WEBCHAT_ROOT   := $(patsubst %/,%,$(dir $(WEBCHAT_MK_DIR)))

.PHONY: chromium botbench bench-chat

chromium:
	@"$(WEBCHAT_ROOT)/scripts/chromium.sh" || echo "chromium could not be installed: the web chat browser test will skip"

# The workspace's tests include the browser test.
test-go: chromium

botbench:
	$(GOBUILD) -o bin/botbench ./botcore/cmd/botbench

URL      ?= http://localhost:8080
SESSIONS ?= 100
DURATION ?= 20s
bench-chat: botbench
	./bin/botbench -url "$(URL)" -bot "$(or $(BOT),sample)" -sessions $(SESSIONS) -duration $(DURATION)
