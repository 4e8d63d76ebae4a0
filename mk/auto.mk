# auto.mk — the BASIC language's fuzz targets (botauto).
#
#   make fuzz            run every fuzz target for FUZZTIME each (CI: 10s)
#
# Crashers are written to the package's testdata/fuzz and fail the run; commit
# them with the fix so they stay regression tests.

FUZZTIME ?= 10s
FUZZ_TARGETS := \
	./basic/syntax:FuzzLex \
	./basic/syntax:FuzzParse \
	./basic/compiler:FuzzCompileRun

.PHONY: fuzz
fuzz:
	@cd botauto && for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
		go test $$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) >/tmp/fuzz-$$fn.log 2>&1 || { cat /tmp/fuzz-$$fn.log; exit 1; }; \
	done
