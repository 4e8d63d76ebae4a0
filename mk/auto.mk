# auto.mk — the BASIC language's fuzz targets (botauto).
#
#   make fuzz            run every fuzz target for FUZZTIME each
#
# Crashers are written to the package's testdata/fuzz and fail the run; commit
# them with the fix so they stay regression tests. FUZZTIME is a count of
# executions, not a duration: Go 1.26's fuzz coordinator can fail a target
# with a bare "context deadline exceeded" when a duration ends while a worker
# is busy (go.dev/issue/75804, fixed in Go 1.27), which on a loaded 2-core CI
# machine is a flake, not a finding.

FUZZTIME ?= 30000x
FUZZ_TARGETS := \
	./basic/syntax:FuzzLex \
	./basic/syntax:FuzzParse \
	./basic/compiler:FuzzCompileRun

.PHONY: fuzz
fuzz:
	@cd botauto && for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		go test $$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -timeout 5m >/tmp/fuzz-$$fn.log 2>&1 || { cat /tmp/fuzz-$$fn.log; exit 1; }; \
	done
