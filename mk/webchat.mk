# webchat.mk — the web chat's browser test and the chat load tool.
#
#   make chromium      install Debian's chromium for botserver's browser test
#                      (a failure only prints why; the test then skips, naming the command)
#   make botbench      build the chat load tool into bin/botbench
#   make bench-chat    run it against a running server: URL=http://localhost:8080 BOT=sample SESSIONS=100 DURATION=20s
#   make bench-chat-allinone / bench-chat-split
#                      start the all-in-one (or the chat services as five processes) on a fresh
#                      database, run botbench, print turns/s, latency and CPU per turn; SESSIONS,
#                      DURATION, BENCH_FLAGS (e.g. "-ramp 10s -think 200ms")
#   make pgo           remake botserver/cmd/botserver/default.pgo, the CPU profile Go's
#                      profile-guided build of the all-in-one uses: 1,000 sessions of the
#                      sample bot's dialog, 30 s (commit it when the hot path changed)

WEBCHAT_MK_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
WEBCHAT_ROOT   := $(patsubst %/,%,$(dir $(WEBCHAT_MK_DIR)))

.PHONY: chromium botbench bench-chat bench-chat-allinone bench-chat-split pgo

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

BENCH_FLAGS ?= -ramp 5s
bench-chat-allinone: infra botbench build-botserver
	"$(WEBCHAT_ROOT)/scripts/bench-chat.sh" allinone $(SESSIONS) $(DURATION) $(BENCH_FLAGS)

bench-chat-split: infra botbench build-botcore build-botauth build-botchat build-botauto build-botllm
	"$(WEBCHAT_ROOT)/scripts/bench-chat.sh" split $(SESSIONS) $(DURATION) $(BENCH_FLAGS)

pgo: infra botbench build-botserver
	BENCH_PROFILE="$(WEBCHAT_ROOT)/botserver/cmd/botserver/default.pgo" "$(WEBCHAT_ROOT)/scripts/bench-chat.sh" allinone 1000 30s -ramp 5s
