#!/usr/bin/env bash
# bench-chat.sh — the chat benchmark end to end, on a fresh database:
# start the server (all-in-one, or the chat services as separate processes),
# run botbench against it, print its figures and the CPU the server
# processes and their Postgres backends spent per turn, then stop.
#
#   scripts/bench-chat.sh allinone 1000 20s [botbench flags...]
#   scripts/bench-chat.sh split    1000 20s -think 200ms
#
# BENCH_PROFILE=FILE (allinone) writes the server's CPU profile of the
# measured window to FILE: `make pgo` makes the all-in-one's profile-guided
# build profile (botserver/cmd/botserver/default.pgo) this way.
#
# Needs bin/botserver (allinone) or bin/{botcore,botauth,botchat,botauto,botllm}
# (split) and bin/botbench (make build botbench), PostgreSQL on
# BENCH_PG (default postgres://postgres@127.0.0.1:5432) and, for split,
# NATS with JetStream on NATS_URL (default nats://127.0.0.1:4222).
# CPU per turn is what the processes used in the measured window divided by
# the turns in it: a figure that depends less on what else the machine runs
# than turns/s do.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?allinone or split}; sessions=${2:-100}; duration=${3:-20s}; shift 3 || true
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db=botbench_$$
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	# BENCH_LOGS=dir keeps the servers' logs.
	[ -z "${BENCH_LOGS:-}" ] || { mkdir -p "$BENCH_LOGS"; cp "$work"/*.log "$BENCH_LOGS/" 2>/dev/null || true; }
	psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
psql -q "$pg/postgres" -c "CREATE DATABASE $db" >/dev/null
# BENCH_DB_SET="synchronous_commit=off" (say) tries a database setting.
[ -z "${BENCH_DB_SET:-}" ] || psql -q "$pg/postgres" -c "ALTER DATABASE $db SET ${BENCH_DB_SET%%=*} = '${BENCH_DB_SET#*=}'" >/dev/null

common=(DATABASE_URL="$pg/$db?sslmode=disable" RATE_LIMIT=0 BOTS_DIR="$PWD/bots" BOTS_RELOAD_INTERVAL=0
	LOG_LEVEL=warn DRAIN_DELAY=0s DATA_DIR="$work/data" PUBLIC_ADDR=127.0.0.1:18380)
profile_secs=""
if [ -n "${BENCH_PROFILE:-}" ]; then
	[ "$mode" = allinone ] || { echo "BENCH_PROFILE works with allinone only" >&2; exit 2; }
	case $duration in *[0-9]s) profile_secs=${duration%s} ;; esac
	[[ $profile_secs =~ ^[0-9]+$ ]] || { echo "BENCH_PROFILE needs the duration in whole seconds (20s)" >&2; exit 2; }
	common+=(OPS_PPROF=true)
fi
case $mode in
allinone)
	env "${common[@]}" GRPC_ADDR=127.0.0.1:18390 OPS_ADDR=127.0.0.1:18391 ${BENCH_ENV:-} \
		"${BOTSERVER:-bin/botserver}" --services=core,auth,chat,auto,llm >"$work/botserver.log" 2>&1 &
	pids+=($!)
	;;
split)
	svcs=(botauth botauto botllm botchat botcore)
	addrs=""
	for i in "${!svcs[@]}"; do addrs+="${addrs:+,}${svcs[$i]}=127.0.0.1:$((18400 + i))"; done
	key=$(head -c32 /dev/urandom | base64)
	for i in "${!svcs[@]}"; do
		env "${common[@]}" NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}" SERVICE_ADDRS="$addrs" AUTH_SERVICE_KEY="$key" \
			GRPC_ADDR=127.0.0.1:$((18400 + i)) OPS_ADDR=127.0.0.1:$((18500 + i)) ${BENCH_ENV:-} \
			"bin/${svcs[$i]}" >"$work/${svcs[$i]}.log" 2>&1 &
		pids+=($!)
	done
	;;
*) echo "mode must be allinone or split" >&2; exit 2 ;;
esac

base=http://127.0.0.1:18380
for _ in $(seq 150); do
	# Ready when a visitor session for the sample bot opens (the bot is loaded and registered).
	code=$(curl -s -o /dev/null -w '%{http_code}' -d '{"bot":"sample"}' "$base/api/v1/sessions" || true)
	[ "$code" = 201 ] && break
	sleep 0.2
done
[ "$code" = 201 ] || { echo "the server did not come up:"; tail -n 20 "$work"/*.log; exit 1; }

# CPU ticks of the server processes, and of each of the benchmark
# database's backends (pid:ticks), which come and go with the pools.
server_ticks() {
	local s=0 pid
	for pid in "${pids[@]}"; do
		[ -r "/proc/$pid/stat" ] && s=$((s + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
	done
	echo "$s"
}
backend_ticks() {
	local pid
	for pid in $(psql -At "$pg/postgres" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$db'"); do
		[ -r "/proc/$pid/stat" ] && echo "$pid:$(awk '{print $14 + $15}' "/proc/$pid/stat")"
	done
}
# backend_delta START END: ticks the backends alive at the end spent since
# the start (all of them for the ones that connected meanwhile; a backend
# that left during the window is not counted).
backend_delta() {
	awk -v start="$1" -v end="$2" 'BEGIN {
		n = split(start, a, " "); for (i = 1; i <= n; i++) { split(a[i], kv, ":"); s[kv[1]] = kv[2] }
		n = split(end, b, " "); for (i = 1; i <= n; i++) { split(b[i], kv, ":"); d += kv[2] - ((kv[1] in s) ? s[kv[1]] : 0) }
		print d + 0 }'
}
hz=$(getconf CLK_TCK)
bin/botbench -url "$base" -bot sample -sessions "$sessions" -duration "$duration" "$@" >"$work/bench.txt" 2>&1 &
bench=$!
# Sample the CPU at botbench's window markers (after its ramp and warm-up).
mark() { until grep -q "^window: $1" "$work/bench.txt" 2>/dev/null; do kill -0 "$bench" 2>/dev/null || return 1; sleep 0.05; done; }
mark start || { cat "$work/bench.txt"; exit 1; }
profiler=""
if [ -n "$profile_secs" ]; then
	curl -sf -o "$BENCH_PROFILE" "http://127.0.0.1:18391/debug/pprof/profile?seconds=$profile_secs" &
	profiler=$!
fi
s0=$(server_ticks); p0=$(backend_ticks | tr '\n' ' ')
sess0=$(psql -At "$pg/postgres" -c "SELECT sessions FROM pg_stat_database WHERE datname = '$db'")
mark end || { cat "$work/bench.txt"; exit 1; }
s1=$(server_ticks); p1=$(backend_ticks | tr '\n' ' ')
sess1=$(psql -At "$pg/postgres" -c "SELECT sessions FROM pg_stat_database WHERE datname = '$db'")
wait "$bench" || { cat "$work/bench.txt"; exit 1; }
if [ -n "$profiler" ]; then
	wait "$profiler" || { echo "the CPU profile could not be read" >&2; exit 1; }
	echo "CPU profile of the measured window: $BENCH_PROFILE"
fi
grep -v '^window:' "$work/bench.txt"
turns=$(sed -n 's/^turns: *\([0-9]*\) .*/\1/p' "$work/bench.txt")
pg_ticks=$(backend_delta "$p0" "$p1")
per_turn() { awk -v c="$1" -v t="$turns" -v hz="$hz" 'BEGIN { printf "%.2f", c * 1000 / hz / t }'; }
echo "mode $mode: CPU per turn $(per_turn $((s1 - s0 + pg_ticks))) ms = server processes $(per_turn $((s1 - s0))) + Postgres $(per_turn "$pg_ticks"); $((sess1 - sess0)) new Postgres connections; load $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
