# llm.mk — llama.cpp's llama-server for botllm's integration test.
#
#   make llama-server      build it once (≈5 min on 2 cores) into the machine cache
#   make llama-server-try  the same, but a failed build only prints why
#                          (botllm's llama test then skips, naming what is missing)
#
# The source comes from the npm package node-llama-cpp (a git bundle of
# llama.cpp); see scripts/llama-server.sh. The binary is cached per version
# under $(LLAMA_CACHE)/<version>/bin/llama-server, shared by every clone.

LLM_MK_DIR    := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
LLM_ROOT      := $(patsubst %/,%,$(dir $(LLM_MK_DIR)))
LLAMA_VERSION ?= 3.22.1
LLAMA_CACHE   ?= $(HOME)/.cache/botserver-go/llama
LLAMA_SERVER  := $(LLAMA_CACHE)/$(LLAMA_VERSION)/bin/llama-server

.PHONY: llama-server llama-server-try

llama-server: $(LLAMA_SERVER)

$(LLAMA_SERVER):
	NODE_LLAMA_CPP_VERSION=$(LLAMA_VERSION) LLAMA_CACHE_DIR=$(LLAMA_CACHE) "$(LLM_ROOT)/scripts/llama-server.sh"

llama-server-try:
	@NODE_LLAMA_CPP_VERSION=$(LLAMA_VERSION) LLAMA_CACHE_DIR=$(LLAMA_CACHE) "$(LLM_ROOT)/scripts/llama-server.sh" || \
		echo "llama-server could not be built: botllm's llama-server integration test will skip"
