#!/usr/bin/env bash
# infra_test.sh — a real test of scripts/infra.sh: starts Postgres, Redis and
# NATS (JetStream) on free high ports with a temporary INFRA_DIR, checks they
# answer, that `up` is idempotent, that `down` stops them and `up` brings them
# back, and the error branches (nothing to start with, no JetStream, port taken).
# Never touches the machine's servers on 5432/6379/4222. Whatever happens, the
# EXIT trap stops everything it started and removes the temporary directory.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INFRA=$REPO_ROOT/scripts/infra.sh
T0=$(date +%s%N)
FAILS=0
PASSES=0

pass() { echo "PASS: $*"; PASSES=$((PASSES + 1)); }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
contains() { [[ $1 == *"$2"* ]]; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# ------------------------------------------------------------------ probes
tcp_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }
closed() { ! tcp_open "$1"; }
# Wait (up to 10s) until nothing listens on the port.
gone() { local i; for ((i = 0; i < 100; i++)); do closed "$1" && return 0; sleep 0.1; done; return 1; }
PSQL=$(command -v psql || ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n1 || true)
pg_ok() { # PORT DB
	if [[ -n $PSQL ]]; then
		[[ $(PGCONNECT_TIMEOUT=5 "$PSQL" -X -w -tA -h 127.0.0.1 -p "$1" -U postgres -d "$2" -c 'select 1' 2>/dev/null) == 1 ]]
	else
		pg_isready -q -h 127.0.0.1 -p "$1"
	fi
}
redis_ok() {
	local r
	if command -v redis-cli >/dev/null; then
		r=$(timeout 3 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null || true)
	else
		r=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf "PING\r\n" >&3; IFS= read -r -t2 l <&3; echo "${l%$'\''\r'\''}"' _ "$1" 2>/dev/null || true)
		r=${r#+}
	fi
	[[ $r == PONG ]]
}
nats_info() { timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; IFS= read -r -t2 l <&3; echo "$l"' _ "$1" 2>/dev/null || true; }
nats_js_ok() { local i; i=$(nats_info "$1"); [[ $i == INFO* && $i == *'"jetstream":true'* ]]; }

# A free port at or above START that is not in the already-picked list.
PICKED=" "
pick_port() {
	local p=$1 i
	for ((i = 0; i < 500; i++, p++)); do
		[[ $PICKED == *" $p "* ]] && continue
		if closed "$p"; then PICKED+="$p "; echo "$p"; return 0; fi
	done
	echo "no free port from $1" >&2
	return 1
}

# --------------------------------------------------------- setup and cleanup
TMP=$(mktemp -d /tmp/botserver-infra-test.XXXXXX)
chmod 755 "$TMP" # the postgres OS user (when we are root) must reach it
INFRA_DIRS=("$TMP/infra" "$TMP/explain" "$TMP/private/infra")
NOJS_PID=""
cleanup() {
	local d f pid
	for d in "${INFRA_DIRS[@]}"; do
		[[ -d $d ]] && env -u INFRA_LOCKED INFRA_DIR="$d" bash "$INFRA" down >/dev/null 2>&1 || true
	done
	[[ -n $NOJS_PID ]] && kill "$NOJS_PID" 2>/dev/null || true
	# Belt and braces: anything still running from $TMP is ours.
	while IFS= read -r f; do
		pid=$(head -n1 "$f" 2>/dev/null || true)
		[[ $pid =~ ^[0-9]+$ ]] || continue
		[[ $(cat "/proc/$pid/comm" 2>/dev/null) =~ ^(postgres|redis-server|nats-server) ]] || continue
		kill -TERM "$pid" 2>/dev/null || true
	done < <(find "$TMP" \( -name postmaster.pid -o -name '*.pid' \) 2>/dev/null)
	sleep 0.2
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PGP=$(pick_port 55432)
RP=$(pick_port 56379)
NP=$(pick_port 54222)
PG2=$(pick_port 55500)
RP2=$(pick_port 56400)
NP2=$(pick_port 54300)
NP3=$(pick_port 54400)
PG3=$(pick_port 55600)
echo "infra_test: ports postgres $PGP, redis $RP, nats $NP (error cases: $PG2 $RP2 $NP2 $NP3, fallback $PG3); INFRA_DIR=$TMP/infra"

DB=botserver_infra_test
MAIN=(INFRA_DIR="$TMP/infra"
	"DATABASE_URL=postgres://postgres@127.0.0.1:$PGP/$DB?sslmode=disable"
	"REDIS_URL=redis://127.0.0.1:$RP/0"
	"NATS_URL=nats://127.0.0.1:$NP")

# run VAR=VALUE... -- ARGS: run infra.sh with only these settings; sets OUT, ERR, RC, MS.
run() {
	local envs=() t
	while [[ $1 != -- ]]; do envs+=("$1"); shift; done
	shift
	t=$(date +%s%N)
	RC=0
	env -u DATABASE_URL -u REDIS_URL -u NATS_URL -u INFRA_DIR -u INFRA_FALLBACK_DIR -u INFRA_NO_INSTALL \
		-u INFRA_PG_BINDIR -u INFRA_REDIS_SERVER -u INFRA_NATS_SERVER -u INFRA_LOCKED \
		"${envs[@]}" bash "$INFRA" "$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
	MS=$(ms_since "$t")
	OUT=$(<"$TMP/out")
	ERR=$(<"$TMP/err")
	echo "  \$ infra.sh $* -> exit $RC in ${MS}ms"
	sed 's/^/    | /' "$TMP/out" "$TMP/err"
}

# ---------------------------------------------------------------- 1. up
run "${MAIN[@]}" -- up
check "up: exit 0" test "$RC" -eq 0
check "up: starts a project-local Postgres cluster" contains "$OUT" "starting project-local cluster"
check "up: starts redis-server" contains "$OUT" "starting redis-server"
check "up: starts nats-server" contains "$OUT" "starting nats-server"
check "up: creates the URL's database" contains "$OUT" "created database \"$DB\""
check "postgres :$PGP answers select 1 in $DB" pg_ok "$PGP" "$DB"
check "redis :$RP answers PING" redis_ok "$RP"
check "nats :$NP answers INFO with JetStream" nats_js_ok "$NP"
check "cluster lives in INFRA_DIR/pg-$PGP" test -f "$TMP/infra/pg-$PGP/PG_VERSION"

# ------------------------------------------------------ 2. up is idempotent
run "${MAIN[@]}" -- up
check "up again: exit 0" test "$RC" -eq 0
check "up again: starts nothing" eval '! contains "$OUT" starting'
check "up again: three ok lines" test "$(grep -c ' ok' <<<"$OUT")" -eq 3
check "up again: fast (${MS}ms < 5000ms)" test "$MS" -lt 5000
check "postgres still answers" pg_ok "$PGP" "$DB"

# ------------------------------------------------------------- 3. status
run "${MAIN[@]}" -- status
check "status: exit 0" test "$RC" -eq 0
check "status: postgres/redis/nats ok" test "$(grep -cE '^infra: (postgres|redis|nats) +ok ' <<<"$OUT")" -eq 3
run "${MAIN[@]}" "DATABASE_URL=postgres://postgres:s3cret@127.0.0.1:$PGP/$DB" -- status
check "status: password redacted" eval '! contains "$OUT$ERR" s3cret && contains "$OUT" "postgres:xxxxx@"'

# --------------------------------------------------------------- 4. down
run "${MAIN[@]}" -- down
check "down: exit 0" test "$RC" -eq 0
check "down: postgres :$PGP stopped" gone "$PGP"
check "down: redis :$RP stopped" gone "$RP"
check "down: nats :$NP stopped" gone "$NP"
check "down: pid files removed" eval '! ls "$TMP"/infra/*.pid >/dev/null 2>&1'
run "${MAIN[@]}" -- status
check "status after down: exit 1, all missing" eval '[[ $RC -eq 1 && $(grep -c missing <<<"$OUT") -eq 3 ]]'

# ------------------------------------------- 5. up brings them back again
run "${MAIN[@]}" -- up
check "up after down: exit 0" test "$RC" -eq 0
check "up after down: restarts the existing cluster" contains "$OUT" "starting the project-local cluster"
check "up after down: postgres back, $DB kept" pg_ok "$PGP" "$DB"
check "up after down: redis back" redis_ok "$RP"
check "up after down: nats back with JetStream" nats_js_ok "$NP"

# ------------------------------------- 6. nothing to start with: explain
run INFRA_DIR="$TMP/explain" INFRA_NO_INSTALL=1 INFRA_PG_BINDIR=/nonexistent \
	"DATABASE_URL=postgres://postgres@127.0.0.1:$PG2/postgres" -- up
check "no postgres binaries: exit 1" test "$RC" -eq 1
check "no postgres binaries: stderr says apt-get install postgresql" contains "$ERR" "apt-get install postgresql"
check "no postgres binaries: stderr mentions DATABASE_URL" contains "$ERR" "DATABASE_URL"
check "no postgres binaries: nothing on :$PG2" closed "$PG2"

run INFRA_DIR="$TMP/explain" INFRA_NO_INSTALL=1 INFRA_REDIS_SERVER=/nonexistent \
	"DATABASE_URL=postgres://postgres@127.0.0.1:$PGP/$DB" "REDIS_URL=redis://127.0.0.1:$RP2" -- up
check "no redis-server: exit 1, says apt-get install redis-server" \
	eval '[[ $RC -eq 1 ]] && contains "$ERR" "apt-get install redis-server"'

run INFRA_DIR="$TMP/explain" INFRA_NO_INSTALL=1 INFRA_NATS_SERVER=/nonexistent \
	"DATABASE_URL=postgres://postgres@127.0.0.1:$PGP/$DB" "NATS_URL=nats://127.0.0.1:$NP2" -- up
check "no nats-server: exit 1, says apt-get install nats-server" \
	eval '[[ $RC -eq 1 ]] && contains "$ERR" "apt-get install nats-server"'

# ----------------------------------------- 7. a NATS without JetStream
NATS_BIN=$(command -v nats-server || echo /usr/sbin/nats-server)
if [[ -x $NATS_BIN ]]; then
	"$NATS_BIN" -a 127.0.0.1 -p "$NP3" </dev/null >"$TMP/nojs.log" 2>&1 &
	NOJS_PID=$!
	for ((i = 0; i < 50; i++)); do [[ $(nats_info "$NP3") == INFO* ]] && break; sleep 0.1; done
	run INFRA_DIR="$TMP/explain" "DATABASE_URL=postgres://postgres@127.0.0.1:$PGP/$DB" "NATS_URL=nats://127.0.0.1:$NP3" -- up
	check "nats without JetStream: exit 1 and says so" eval '[[ $RC -eq 1 ]] && contains "$ERR" "JetStream is not enabled"'
	kill "$NOJS_PID" 2>/dev/null || true
	NOJS_PID=""
else
	echo "SKIP: nats without JetStream (no nats-server binary)"
fi

# ---------------------------------------- 8. port taken by something else
run INFRA_DIR="$TMP/explain" "DATABASE_URL=postgres://postgres@127.0.0.1:$RP/postgres" -- up
check "postgres port taken by redis: exit 1, says not Postgres" eval '[[ $RC -eq 1 ]] && contains "$ERR" "not Postgres"'

# ---------- 9. root: INFRA_DIR the postgres user cannot reach -> fallback dir
if [[ $(id -u) -eq 0 ]]; then
	mkdir -p "$TMP/private/infra"
	chmod 700 "$TMP/private"
	run INFRA_DIR="$TMP/private/infra" INFRA_FALLBACK_DIR="$TMP/fallback" \
		"DATABASE_URL=postgres://postgres@127.0.0.1:$PG3/postgres" -- up
	check "unreachable INFRA_DIR: exit 0, says it falls back" eval '[[ $RC -eq 0 ]] && contains "$OUT$ERR" "using $TMP/fallback"'
	check "unreachable INFRA_DIR: postgres :$PG3 answers" pg_ok "$PG3" postgres
	check "unreachable INFRA_DIR: cluster in the fallback dir" test -f "$TMP/fallback/pg-$PG3/PG_VERSION"
	run INFRA_DIR="$TMP/private/infra" INFRA_FALLBACK_DIR="$TMP/fallback" \
		"DATABASE_URL=postgres://postgres@127.0.0.1:$PG3/postgres" -- down
	check "unreachable INFRA_DIR: down stops it" gone "$PG3"
else
	echo "SKIP: fallback data dir (only when run as root)"
fi

# ------------------------------------------------------------ 10. final down
run "${MAIN[@]}" -- down
check "final down: all stopped" eval 'gone "$PGP" && gone "$RP" && gone "$NP"'

echo "infra_test: $PASSES passed, $FAILS failed in $(($(ms_since "$T0") / 1000))s"
if [[ $FAILS -ne 0 ]]; then
	echo "FAIL: infra_test"
	exit 1
fi
echo "PASS: infra_test"
