# infra.mk — the infrastructure check that `make run` and `make test` call first.
#
#   make infra          Postgres (DATABASE_URL) answers, and Redis (REDIS_URL) and
#                       NATS with JetStream (NATS_URL) when those are set; starts
#                       project-local servers on local ports when they do not
#   make infra-status   one line per service: ok / missing
#   make infra-down     stop only what `make infra` started (data kept in .data/infra)
#   make infra-test     the real test of scripts/infra.sh on free high ports
#
# Works included from the top Makefile and standalone (make -f mk/infra.mk ...).

INFRA_MK_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
INFRA_ROOT   := $(patsubst %/,%,$(dir $(INFRA_MK_DIR)))

.PHONY: infra infra-status infra-down infra-test

infra:
	@"$(INFRA_ROOT)/scripts/infra.sh" up

infra-status:
	@"$(INFRA_ROOT)/scripts/infra.sh" status

infra-down:
	@"$(INFRA_ROOT)/scripts/infra.sh" down

infra-test:
	@"$(INFRA_ROOT)/scripts/infra_test.sh"
