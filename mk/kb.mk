# kb.mk — knowledge base quality and performance (botvectordb).
#
#   make kb-eval    recall@5 (and @1) of the local embedder, full-text and hybrid
#                   search on botvectordb's own evaluation set (needs Postgres)
#   make kb-bench   ingestion throughput and search latency (p50/p99 at 10k and
#                   100k chunks, and the time to build the 100k graph, which
#                   searches do not wait for); takes several minutes
.PHONY: kb-eval kb-bench

KB_MK_ROOT := $(patsubst %/,%,$(dir $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))))

kb-eval:
	@cd "$(KB_MK_ROOT)/botvectordb" && out=$$(go test -count=1 -v -run '^TestRecallAt5$$' ./eval 2>&1) \
		|| { echo "$$out"; exit 1; }; echo "$$out" | grep '^kb-eval'

kb-bench:
	cd "$(KB_MK_ROOT)/botvectordb" && go test -run '^$$' -bench 'BenchmarkIngestThroughput' -benchtime 3x ./eval | grep -v '^{'
	cd "$(KB_MK_ROOT)/botvectordb" && go test -run '^$$' -bench 'BenchmarkSearch' -benchtime 500x -timeout 30m -v ./eval \
		| grep -v -e '^{' -e '^Benchmark[^ ]*$$'   # -v: the graph build times (b.Logf)
	cd "$(KB_MK_ROOT)/botstate" && go test -run '^$$' -bench 'BenchmarkLocalEmbed' ./embed
