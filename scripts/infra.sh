#!/usr/bin/env bash
# infra.sh — make sure the servers botserver-go needs answer; start project-local
# ones from the machine's binaries when they do not.
#
#   scripts/infra.sh [up]   ensure Postgres (DATABASE_URL), Redis (REDIS_URL, if set)
#                           and NATS with JetStream (NATS_URL, if set) answer
#   scripts/infra.sh status one line per service: ok / missing / not configured
#   scripts/infra.sh down   stop only what this script started (pid files and
#                           Postgres clusters under INFRA_DIR)
#
# Environment:
#   DATABASE_URL   default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
#   REDIS_URL      unset: Redis is not needed (the app caches in-process)
#   NATS_URL       unset: NATS is not needed (the app embeds NATS with JetStream)
#   INFRA_DIR      where started servers keep data, logs and pid files
#                  (default <repo>/.data/infra)
#   INFRA_FALLBACK_DIR  Postgres data when the postgres OS user cannot reach INFRA_DIR
#                  (default /var/tmp/botserver-go-infra-<uid>)
#   INFRA_NO_INSTALL=1  never apt-get install; only say what to install
#   INFRA_PG_BINDIR, INFRA_REDIS_SERVER, INFRA_NATS_SERVER  use these binaries only
#
# Only servers on a local host (127.0.0.1, localhost, ::1) are ever started.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEFAULT_DATABASE_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
DATABASE_URL=${DATABASE_URL:-$DEFAULT_DATABASE_URL}
REDIS_URL=${REDIS_URL:-}
NATS_URL=${NATS_URL:-}
INFRA_DIR=${INFRA_DIR:-$REPO_ROOT/.data/infra}
INFRA_FALLBACK_DIR=${INFRA_FALLBACK_DIR:-/var/tmp/botserver-go-infra-$(id -u)}
INFRA_NO_INSTALL=${INFRA_NO_INSTALL:-}
PG_OS_USER=${INFRA_PG_OS_USER:-postgres}

say() { printf 'infra: %s\n' "$*"; }
err() { printf 'infra: %s\n' "$*" >&2; }
die() { err "$@"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [[ $(id -u) -eq 0 ]]; }
# Shorten paths under the repo for messages.
rel() { local p=$1; [[ $p == "$REPO_ROOT"/* ]] && p=${p#"$REPO_ROOT"/}; printf '%s' "$p"; }

# ---------------------------------------------------------------- URL parsing
# parse_url URL: sets U_USER U_PASS U_HOST U_PORT U_PATH (percent-decoding user,
# password and path). Handles [ipv6]:port, missing parts, ?query and #fragment.
urldecode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }
parse_url() {
	local url=$1 rest userinfo="" hostport
	if [[ $url == *://* ]]; then rest=${url#*://}; else rest=$url; fi
	rest=${rest%%\?*}
	rest=${rest%%#*}
	if [[ $rest == *@* ]]; then userinfo=${rest%@*}; rest=${rest##*@}; fi
	hostport=${rest%%/*}
	U_PATH=""
	[[ $rest == */* ]] && U_PATH=$(urldecode "${rest#*/}")
	U_USER=$(urldecode "${userinfo%%:*}")
	U_PASS=""
	[[ $userinfo == *:* ]] && U_PASS=$(urldecode "${userinfo#*:}")
	if [[ $hostport == \[*\]* ]]; then
		U_HOST=${hostport#\[}
		U_HOST=${U_HOST%%\]*}
		U_PORT=${hostport##*\]}
		U_PORT=${U_PORT#:}
	else
		U_HOST=${hostport%%:*}
		U_PORT=""
		[[ $hostport == *:* ]] && U_PORT=${hostport##*:}
	fi
	return 0
}
# redact URL: the URL with its password replaced by xxxxx.
redact() {
	local url=$1 rest userinfo
	rest=${url#*://}
	[[ $rest == *@* ]] || { printf '%s' "$url"; return; }
	userinfo=${rest%@*}
	[[ $userinfo == *:* ]] || { printf '%s' "$url"; return; }
	printf '%s' "${url/":${userinfo#*:}@"/":xxxxx@"}"
}
hostport() { if [[ $1 == *:* ]]; then printf '[%s]:%s' "$1" "$2"; else printf '%s:%s' "$1" "$2"; fi; }
is_local() { [[ $1 == localhost || $1 == ::1 || $1 == 127.* ]]; }
# The address a server we start listens on.
bind_addr() { if [[ $1 == localhost ]]; then echo 127.0.0.1; else echo "$1"; fi; }
check_port() { [[ $2 =~ ^[0-9]+$ && $2 -ge 1 && $2 -le 65535 ]] || die "$1: bad port '$2' in URL"; }

# ------------------------------------------------------------------ TCP probes
# tcp_open HOST PORT: something accepts TCP connections there.
tcp_open() { timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null; }
# pg_probe HOST PORT: the server answers the Postgres SSLRequest with S or N.
pg_probe() {
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
		printf "\x00\x00\x00\x08\x04\xd2\x16\x2f" >&3
		IFS= read -r -n1 -t2 c <&3 && [[ $c == S || $c == N ]]' _ "$1" "$2" 2>/dev/null
}
# redis_ping HOST PORT USER PASS: prints the reply to (AUTH and) PING, e.g. +PONG.
redis_ping() {
	timeout 3 bash -c '
		resp() { printf "*%d\r\n" $#; for a in "$@"; do printf "\$%d\r\n%s\r\n" ${#a} "$a"; done; }
		exec 3<>"/dev/tcp/$1/$2" || exit 1
		n=1
		if [[ -n $4 ]]; then
			n=2
			if [[ -n $3 ]]; then resp AUTH "$3" "$4" >&3; else resp AUTH "$4" >&3; fi
		fi
		resp PING >&3
		for ((i = 0; i < n; i++)); do
			IFS= read -r -t2 line <&3 || exit 1
			line=${line%$'\''\r'\''}
			[[ $line == -* ]] && { echo "$line"; exit 0; }
		done
		echo "$line"' _ "$1" "$2" "$3" "$4" 2>/dev/null
}
# nats_info HOST PORT: prints the INFO line a NATS server sends on connect.
nats_info() {
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 1
		IFS= read -r -t2 line <&3 || exit 1
		[[ $line == INFO* ]] && echo "${line%$'\''\r'\''}"' _ "$1" "$2" 2>/dev/null
}
# wait_for SECONDS CMD...: retry CMD every 0.1s.
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# ----------------------------------------------------------------- installing
# install_or_explain WHAT APT_PACKAGE HINT: apt-get install when root (unless
# INFRA_NO_INSTALL), otherwise print the exact fix and exit 1.
install_or_explain() {
	local what=$1 pkg=$2 hint=$3 log
	if is_root && have apt-get && [[ -z $INFRA_NO_INSTALL ]]; then
		mkdir -p "$INFRA_DIR"
		log=$INFRA_DIR/apt-$pkg.log
		say "$what: installing $pkg with apt-get (log: $(rel "$log"))"
		if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg"; } >"$log" 2>&1 </dev/null; then
			tail -n 15 "$log" >&2 || true
			die "$what: apt-get install $pkg failed (log: $log); install it by hand: apt-get update && apt-get install -y $pkg"
		fi
		return 0
	fi
	err "$what: no $hint binaries found on this machine. Fix, one of:"
	if is_root; then err "  apt-get update && apt-get install $pkg"; else err "  sudo apt-get update && sudo apt-get install $pkg"; fi
	[[ -n $INFRA_NO_INSTALL ]] && err "  (INFRA_NO_INSTALL is set, so this script did not install it)"
	case $pkg in
	postgresql) err "  or set DATABASE_URL to a running server, e.g. postgres://USER:PASS@HOST:5432/DB?sslmode=disable" ;;
	redis-server) err "  or set REDIS_URL to a running Redis, or unset REDIS_URL (the app then caches in-process)" ;;
	nats-server) err "  or set NATS_URL to a running NATS with JetStream, or unset NATS_URL (the app then embeds NATS)" ;;
	esac
	exit 1
}

# ----------------------------------------------------------------- Postgres
# run_as USER CMD...: as USER when we are root and USER differs, else as ourselves.
run_as() {
	local u=$1
	shift
	if is_root && [[ $u != root ]]; then
		if have runuser; then (cd / && runuser -u "$u" -- "$@"); else (cd / && su -s /bin/sh "$u" -c 'exec "$0" "$@"' "$@"); fi
	else
		"$@"
	fi
}
pg_major() { "$1/postgres" -V 2>/dev/null | sed -nE 's/.*\(PostgreSQL\) ([0-9]+).*/\1/p'; }
# Candidate bin dirs holding initdb, pg_ctl and postgres, best first.
pg_bindirs() {
	local d c
	if [[ -n ${INFRA_PG_BINDIR:-} ]]; then
		c=("$INFRA_PG_BINDIR")
	else
		c=()
		have pg_config && c+=("$(pg_config --bindir 2>/dev/null || true)")
		for d in $(printf '%s\n' /usr/lib/postgresql/*/bin /usr/pgsql-*/bin | sort -V -r); do c+=("$d"); done
		have initdb && c+=("$(dirname "$(command -v initdb)")")
		c+=(/usr/local/pgsql/bin)
	fi
	for d in "${c[@]}"; do
		[[ -n $d && -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] && echo "$d"
	done
	return 0
}
# A client tool (pg_isready, psql): PATH first, then the server bin dirs.
pg_tool() {
	local d
	if have "$1"; then command -v "$1"; return 0; fi
	for d in $(pg_bindirs); do [[ -x $d/$1 ]] && { echo "$d/$1"; return 0; }; done
	return 1
}
# pg_state HOST PORT USER: 0 accepting, 1 rejecting (starting/stopping), 2 nothing.
pg_state() {
	local t rc=0
	if t=$(pg_tool pg_isready); then
		"$t" -q -t 3 -h "$1" -p "$2" -U "${3:-postgres}" -d postgres || rc=$?
		case $rc in 0 | 1) return $rc ;; *) return 2 ;; esac
	fi
	pg_probe "$1" "$2" && return 0
	return 2
}
pg_up() { local rc=0; pg_state "$@" || rc=$?; [[ $rc -eq 0 ]]; }
pg_down() { local rc=0; pg_state "$@" || rc=$?; [[ $rc -eq 2 ]]; }
# pg_sql HOST PORT USER PASS DB SQL: run SQL, print the tuples-only result.
pg_sql() {
	local psql
	psql=$(pg_tool psql) || return 2
	PGPASSWORD=$4 PGCONNECT_TIMEOUT=5 "$psql" -X -w -q -t -A -v ON_ERROR_STOP=1 \
		-h "$1" -p "$2" -U "$3" -d "$5" -c "$6"
}
# ensure_db HOST PORT USER PASS DB: create DB when it does not exist.
ensure_db() {
	local host=$1 port=$2 user=$3 pass=$4 db=$5 out
	[[ $db == postgres ]] && return 0
	if ! pg_tool psql >/dev/null; then
		err "postgres: psql not found, cannot check that database \"$db\" exists (apt-get install postgresql-client)"
		return 0
	fi
	if ! out=$(pg_sql "$host" "$port" "$user" "$pass" postgres "select 1 from pg_database where datname = '${db//\'/\'\'}'" 2>&1); then
		err "$out"
		die "postgres $(hostport "$host" "$port"): cannot log in as \"$user\" to check database \"$db\"; fix DATABASE_URL (user/password) or the server's pg_hba.conf"
	fi
	[[ $out == 1 ]] && return 0
	if ! out=$(pg_sql "$host" "$port" "$user" "$pass" postgres "create database \"${db//\"/\"\"}\"" 2>&1); then
		err "$out"
		die "postgres $(hostport "$host" "$port"): could not create database \"$db\"; create it: createdb -h $host -p $port -U $user $db"
	fi
	say "postgres $(hostport "$host" "$port"): created database \"$db\""
}
# Where the project-local cluster for PORT lives (existing one first).
pg_cluster_dir() {
	local port=$1 p
	if [[ -f $INFRA_DIR/pg-$port/PG_VERSION ]]; then echo "$INFRA_DIR/pg-$port"; return; fi
	if [[ -f $INFRA_DIR/pg-$port.datadir ]]; then
		p=$(<"$INFRA_DIR/pg-$port.datadir")
		if [[ -f $p/PG_VERSION ]]; then echo "$p"; return; fi
	fi
	echo "$INFRA_DIR/pg-$port"
}
# Every project-local cluster dir this INFRA_DIR knows about.
pg_cluster_dirs() {
	local d
	for d in "$INFRA_DIR"/pg-*; do
		if [[ -d $d && -f $d/PG_VERSION ]]; then echo "$d"; fi
		if [[ -f $d && $d == *.datadir ]]; then
			d=$(<"$d")
			if [[ -f $d/PG_VERSION ]]; then echo "$d"; fi
		fi
	done
	return 0
}
# The bin dir matching a cluster's PG_VERSION.
pg_bindir_for() {
	local v d
	v=$(<"$1/PG_VERSION")
	for d in $(pg_bindirs) /usr/lib/postgresql/"$v"/bin; do
		[[ -x $d/pg_ctl && $(pg_major "$d") == "$v" ]] && { echo "$d"; return 0; }
	done
	return 1
}
pg_owner() { stat -c %U "$1"; }

ensure_postgres() {
	parse_url "$DATABASE_URL"
	local host=${U_HOST:-127.0.0.1} port=${U_PORT:-5432} user=${U_USER:-postgres} pass=$U_PASS
	local db=${U_PATH:-$user} hp bindir dir listen owner out
	[[ $DATABASE_URL == postgres://* || $DATABASE_URL == postgresql://* ]] ||
		die "DATABASE_URL must be a postgres:// URL, e.g. $DEFAULT_DATABASE_URL"
	check_port postgres "$port"
	hp=$(hostport "$host" "$port")

	local rc=0
	pg_state "$host" "$port" "$user" || rc=$?
	if [[ $rc -eq 1 ]]; then
		say "postgres $hp is starting up or shutting down; waiting"
		wait_for 30 pg_up "$host" "$port" "$user" || die "postgres $hp keeps rejecting connections; check its log"
		rc=0
	fi
	if [[ $rc -eq 0 ]]; then
		dir=$(pg_cluster_dir "$port")
		if [[ -f $dir/postmaster.pid ]] && is_local "$host"; then
			say "postgres $hp ok (project-local cluster in $(rel "$dir"))"
		else
			say "postgres $hp ok"
		fi
		ensure_db "$host" "$port" "$user" "$pass" "$db"
		return 0
	fi
	is_local "$host" ||
		die "postgres $hp is not answering and is not on this machine; start it, or set DATABASE_URL to a running server (e.g. $DEFAULT_DATABASE_URL)"
	tcp_open "$host" "$port" &&
		die "postgres $hp: the port is taken by something that is not Postgres; free it, or use another port in DATABASE_URL"

	dir=$(pg_cluster_dir "$port")
	if [[ -f $dir/PG_VERSION ]]; then
		bindir=$(pg_bindir_for "$dir") ||
			die "postgres: the cluster in $dir was made by PostgreSQL $(<"$dir/PG_VERSION") and no such binaries were found; apt-get install postgresql-$(<"$dir/PG_VERSION"), or remove $dir to start over (its data is lost)"
		say "postgres $hp not answering; starting the project-local cluster in $(rel "$dir")"
	else
		bindir=$(pg_bindirs)
		bindir=${bindir%%$'\n'*}
		if [[ -z $bindir ]]; then
			install_or_explain postgres postgresql "PostgreSQL server (initdb, pg_ctl, postgres)"
			# The package may have started the machine's own cluster on this port.
			if pg_up "$host" "$port" "$user"; then
				say "postgres $hp ok (started by the postgresql package)"
				ensure_db "$host" "$port" "$user" "$pass" "$db"
				return 0
			fi
			bindir=$(pg_bindirs)
			bindir=${bindir%%$'\n'*}
			[[ -n $bindir ]] || die "postgres: installed postgresql but still found no initdb/pg_ctl; set INFRA_PG_BINDIR to their directory"
		fi
		dir=$(pg_new_cluster_dir "$port")
		[[ $dir == "$INFRA_DIR"/* ]] ||
			say "postgres: the '$(pg_run_user)' OS user cannot reach $(rel "$INFRA_DIR"); using $INFRA_FALLBACK_DIR instead"
		say "postgres $hp not answering; starting project-local cluster in $(rel "$dir")"
		owner=$(pg_run_user)
		if ! out=$(run_as "$owner" "$bindir/initdb" -D "$dir" -U "$user" -A trust -E UTF8 --locale=C 2>&1); then
			err "$out"
			die "postgres: initdb in $dir failed (see above)"
		fi
	fi

	owner=$(pg_owner "$dir")
	listen=$(bind_addr "$host")
	# Socket dir "." is the data dir (the postmaster runs there): no path-length
	# limit and no need for /var/run/postgresql.
	if ! run_as "$owner" "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
		-o "-p $port -h $listen -k ." start >/dev/null 2>&1; then
		tail -n 15 "$dir/server.log" >&2 2>/dev/null || true
		die "postgres: could not start the cluster in $dir (log: $dir/server.log)"
	fi
	wait_for 30 pg_up "$host" "$port" "$user" || die "postgres $hp started but does not accept connections (log: $dir/server.log)"
	say "postgres $hp ok (started; log: $(rel "$dir")/server.log)"
	ensure_db "$host" "$port" "$user" "$pass" "$db"
}
# The OS user a new cluster runs as: ourselves, or the postgres user when root.
pg_run_user() {
	if is_root; then
		id -u "$PG_OS_USER" >/dev/null 2>&1 ||
			die "postgres: running as root but there is no '$PG_OS_USER' OS user to run PostgreSQL; create one (useradd --system --create-home $PG_OS_USER) or run as a normal user"
		echo "$PG_OS_USER"
	else
		id -un
	fi
}
# Make an empty data dir the cluster user owns and can reach.
pg_new_cluster_dir() {
	local port=$1 owner dir
	owner=$(pg_run_user)
	(umask 022 && mkdir -p "$INFRA_DIR")
	dir=$INFRA_DIR/pg-$port
	if is_root && ! run_as "$owner" test -x "$INFRA_DIR"; then
		(umask 022 && mkdir -p "$INFRA_FALLBACK_DIR")
		chmod 755 "$INFRA_FALLBACK_DIR"
		run_as "$owner" test -x "$INFRA_FALLBACK_DIR" ||
			die "postgres: the '$owner' user can reach neither $INFRA_DIR nor $INFRA_FALLBACK_DIR; set INFRA_DIR to a directory it can reach"
		dir=$INFRA_FALLBACK_DIR/pg-$port
		echo "$dir" >"$INFRA_DIR/pg-$port.datadir"
	fi
	if [[ -e $dir ]] && [[ -n $(ls -A "$dir" 2>/dev/null) ]]; then
		die "postgres: $dir exists but holds no cluster (no PG_VERSION); remove it and retry"
	fi
	mkdir -p "$dir"
	chmod 700 "$dir"
	if is_root; then chown "$owner:$(id -gn "$owner")" "$dir"; fi
	echo "$dir"
}

# -------------------------------------------------------------------- Redis
redis_bin() {
	if [[ -n ${INFRA_REDIS_SERVER:-} ]]; then [[ -x $INFRA_REDIS_SERVER ]] && echo "$INFRA_REDIS_SERVER"; return 0; fi
	command -v redis-server 2>/dev/null || { [[ -x /usr/bin/redis-server ]] && echo /usr/bin/redis-server; } || true
}
redis_pong() { [[ $(redis_ping "$@") == +PONG ]]; }
ensure_redis() {
	[[ -n $REDIS_URL ]] || return 0
	parse_url "$REDIS_URL"
	local host=${U_HOST:-127.0.0.1} port=${U_PORT:-6379} user=$U_USER pass=$U_PASS hp reply bin pidf logf
	check_port redis "$port"
	hp=$(hostport "$host" "$port")
	reply=$(redis_ping "$host" "$port" "$user" "$pass" || true)
	case $reply in
	+PONG)
		if [[ -f $INFRA_DIR/redis-$port.pid ]] && is_local "$host"; then say "redis $hp ok (project-local)"; else say "redis $hp ok"; fi
		return 0
		;;
	-NOAUTH* | -WRONGPASS* | -ERR*AUTH* | -ERR*auth* | -ERR*password*)
		die "redis $hp answers but refuses us ($reply); put the right password in REDIS_URL (redis://:PASSWORD@$hp/0)"
		;;
	-*) die "redis $hp answers with an error: $reply" ;;
	esac
	is_local "$host" ||
		die "redis $hp is not answering and is not on this machine; start it, set REDIS_URL to a running Redis, or unset REDIS_URL"
	tcp_open "$host" "$port" &&
		die "redis $hp: the port is taken by something that is not Redis; free it, or use another port in REDIS_URL"
	bin=$(redis_bin)
	if [[ -z $bin ]]; then
		install_or_explain redis redis-server "Redis server (redis-server)"
		if redis_pong "$host" "$port" "$user" "$pass"; then say "redis $hp ok (started by the redis-server package)"; return 0; fi
		bin=$(redis_bin)
		[[ -n $bin ]] || die "redis: installed redis-server but it is not on PATH; set INFRA_REDIS_SERVER to its path"
	fi
	(umask 022 && mkdir -p "$INFRA_DIR")
	pidf=$INFRA_DIR/redis-$port.pid
	logf=$INFRA_DIR/redis-$port.log
	say "redis $hp not answering; starting redis-server (log: $(rel "$logf"))"
	local extra=()
	[[ -n $pass && -z $user ]] && extra+=(--requirepass "$pass")
	[[ -n $pass && -n $user && $user == default ]] && extra+=(--requirepass "$pass")
	[[ -n $pass && -n $user && $user != default ]] && extra+=(--user "$user" on ">$pass" '~*' '&*' '+@all')
	if ! "$bin" --daemonize yes --port "$port" --bind "$(bind_addr "$host")" --save "" --appendonly no \
		--dir "$INFRA_DIR" --logfile "$logf" --pidfile "$pidf" "${extra[@]}" </dev/null >/dev/null 2>&1; then
		tail -n 15 "$logf" >&2 2>/dev/null || true
		die "redis: redis-server failed to start (log: $logf)"
	fi
	wait_for 15 redis_pong "$host" "$port" "$user" "$pass" || {
		tail -n 15 "$logf" >&2 2>/dev/null || true
		die "redis $hp started but does not answer PING (log: $logf)"
	}
	wait_for 5 test -s "$pidf" || true
	say "redis $hp ok (started, pid $(cat "$pidf" 2>/dev/null || echo ?))"
}

# --------------------------------------------------------------------- NATS
nats_bin() {
	if [[ -n ${INFRA_NATS_SERVER:-} ]]; then [[ -x $INFRA_NATS_SERVER ]] && echo "$INFRA_NATS_SERVER"; return 0; fi
	command -v nats-server 2>/dev/null || { [[ -x /usr/sbin/nats-server ]] && echo /usr/sbin/nats-server; } || true
}
nats_has_js() { [[ $1 == *'"jetstream":true'* ]]; }
nats_answers() { [[ -n $(nats_info "$1" "$2") ]]; }
no_js() {
	die "nats $1 answers but JetStream is not enabled; restart it with JetStream (nats-server -js ...), set NATS_URL to a server with JetStream, or unset NATS_URL (the app then embeds NATS with JetStream)"
}
ensure_nats() {
	[[ -n $NATS_URL ]] || return 0
	parse_url "${NATS_URL%%,*}"
	local host=${U_HOST:-127.0.0.1} port=${U_PORT:-4222} user=$U_USER pass=$U_PASS hp info bin pidf logf
	check_port nats "$port"
	hp=$(hostport "$host" "$port")
	info=$(nats_info "$host" "$port" || true)
	if [[ -n $info ]]; then
		nats_has_js "$info" || no_js "$hp"
		if [[ -f $INFRA_DIR/nats-$port.pid ]] && is_local "$host"; then say "nats $hp ok, JetStream on (project-local)"; else say "nats $hp ok, JetStream on"; fi
		return 0
	fi
	is_local "$host" ||
		die "nats $hp is not answering and is not on this machine; start it (with -js), set NATS_URL to a running server, or unset NATS_URL"
	tcp_open "$host" "$port" &&
		die "nats $hp: the port is taken by something that is not NATS; free it, or use another port in NATS_URL"
	bin=$(nats_bin)
	if [[ -z $bin ]]; then
		install_or_explain nats nats-server "NATS server (nats-server)"
		info=$(nats_info "$host" "$port" || true)
		if [[ -n $info ]]; then
			nats_has_js "$info" || no_js "$hp"
			say "nats $hp ok, JetStream on (started by the nats-server package)"
			return 0
		fi
		bin=$(nats_bin)
		[[ -n $bin ]] || die "nats: installed nats-server but it is not on PATH; set INFRA_NATS_SERVER to its path"
	fi
	(umask 022 && mkdir -p "$INFRA_DIR/nats-$port")
	pidf=$INFRA_DIR/nats-$port.pid
	logf=$INFRA_DIR/nats-$port.log
	say "nats $hp not answering; starting nats-server with JetStream (log: $(rel "$logf"))"
	local extra=()
	[[ -n $user && -n $pass ]] && extra+=(--user "$user" --pass "$pass")
	[[ -n $user && -z $pass ]] && extra+=(--auth "$user")
	rm -f "$pidf"
	# setsid: a Ctrl-C in `make run` must not take the server down with it.
	setsid "$bin" -a "$(bind_addr "$host")" -p "$port" -js -sd "$INFRA_DIR/nats-$port" \
		-P "$pidf" -l "$logf" "${extra[@]}" </dev/null >>"$logf" 2>&1 &
	wait_for 15 nats_answers "$host" "$port" || {
		tail -n 15 "$logf" >&2 2>/dev/null || true
		die "nats: nats-server did not come up on $hp (log: $logf)"
	}
	info=$(nats_info "$host" "$port" || true)
	nats_has_js "$info" || die "nats $hp started but reports no JetStream (log: $logf)"
	wait_for 5 test -s "$pidf" || true
	say "nats $hp ok, JetStream on (started, pid $(cat "$pidf" 2>/dev/null || echo ?))"
}

# ------------------------------------------------------------------- status
status() {
	local bad=0 hp
	parse_url "$DATABASE_URL"
	hp=$(hostport "${U_HOST:-127.0.0.1}" "${U_PORT:-5432}")
	if pg_up "${U_HOST:-127.0.0.1}" "${U_PORT:-5432}" "${U_USER:-postgres}"; then
		say "postgres ok      $(redact "$DATABASE_URL")"
	else
		say "postgres missing $(redact "$DATABASE_URL")"
		bad=1
	fi
	if [[ -z $REDIS_URL ]]; then
		say "redis    not needed (REDIS_URL unset: the app caches in-process)"
	else
		parse_url "$REDIS_URL"
		local reply
		reply=$(redis_ping "${U_HOST:-127.0.0.1}" "${U_PORT:-6379}" "$U_USER" "$U_PASS" || true)
		if [[ $reply == +PONG ]]; then
			say "redis    ok      $(redact "$REDIS_URL")"
		elif [[ $reply == -* ]]; then
			say "redis    error   $(redact "$REDIS_URL") ($reply)"
			bad=1
		else
			say "redis    missing $(redact "$REDIS_URL")"
			bad=1
		fi
	fi
	if [[ -z $NATS_URL ]]; then
		say "nats     not needed (NATS_URL unset: the app embeds NATS)"
	else
		parse_url "${NATS_URL%%,*}"
		local info
		info=$(nats_info "${U_HOST:-127.0.0.1}" "${U_PORT:-4222}" || true)
		if [[ -z $info ]]; then
			say "nats     missing $(redact "$NATS_URL")"
			bad=1
		elif ! nats_has_js "$info"; then
			say "nats     no-jetstream $(redact "$NATS_URL")"
			bad=1
		else
			say "nats     ok      $(redact "$NATS_URL")"
		fi
	fi
	return $bad
}

# --------------------------------------------------------------------- down
# alive PID: running (a zombie waiting for init to reap it counts as gone).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null || true)
	st=${st##*) }
	[[ ${st:0:1} != Z ]]
}
# stop_pidfile NAME PIDFILE PROCESS: stop the process if it is still ours.
stop_pidfile() {
	local name=$1 pidf=$2 proc=$3 pid
	pid=$(cat "$pidf" 2>/dev/null || true)
	if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" &&
		[[ $(cat "/proc/$pid/comm" 2>/dev/null || ps -o comm= -p "$pid" 2>/dev/null) == "$proc"* ]]; then
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_for 15 eval "! alive $pid"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
		say "$name stopped (pid $pid)"
		STOPPED=$((STOPPED + 1))
	fi
	rm -f "$pidf"
}
down() {
	local f dir bindir owner pid port
	STOPPED=0
	for f in "$INFRA_DIR"/redis-*.pid; do
		[[ -e $f ]] || continue
		port=${f##*/redis-}
		stop_pidfile "redis 127.0.0.1:${port%.pid}" "$f" redis-server
	done
	for f in "$INFRA_DIR"/nats-*.pid; do
		[[ -e $f ]] || continue
		port=${f##*/nats-}
		stop_pidfile "nats 127.0.0.1:${port%.pid}" "$f" nats-server
	done
	while IFS= read -r dir; do
		[[ -f $dir/postmaster.pid ]] || continue
		pid=$(head -n1 "$dir/postmaster.pid")
		port=$(sed -n 4p "$dir/postmaster.pid")
		# Only a live postmaster (a stale pid file may name an unrelated process).
		alive "$pid" || continue
		[[ $(cat "/proc/$pid/comm" 2>/dev/null || ps -o comm= -p "$pid" 2>/dev/null) == postgres* ]] || continue
		owner=$(pg_owner "$dir")
		if bindir=$(pg_bindir_for "$dir"); then
			run_as "$owner" "$bindir/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null 2>&1 ||
				die "postgres: pg_ctl stop failed for $dir (log: $dir/server.log)"
		else
			kill -INT "$pid" 2>/dev/null || true
			wait_for 60 eval "! alive $pid" || die "postgres: pid $pid ($dir) did not stop"
		fi
		say "postgres 127.0.0.1:$port stopped (cluster kept in $(rel "$dir"))"
		STOPPED=$((STOPPED + 1))
	done < <(pg_cluster_dirs)
	[[ $STOPPED -gt 0 ]] || say "nothing running that infra.sh started in $(rel "$INFRA_DIR")"
	return 0
}

# --------------------------------------------------------------------- main
cmd=${1:-up}
case $cmd in
up | down)
	# One up/down at a time per INFRA_DIR (make -j, two terminals). flock -o:
	# the servers we start must not inherit the lock.
	if [[ -z ${INFRA_LOCKED:-} ]] && have flock; then
		(umask 022 && mkdir -p "$INFRA_DIR")
		INFRA_LOCKED=1 exec flock -o -w 300 "$INFRA_DIR/.lock" bash "${BASH_SOURCE[0]}" "$@"
	fi
	if [[ $cmd == up ]]; then
		ensure_postgres
		ensure_redis
		ensure_nats
	else
		down
	fi
	;;
status) status ;;
-h | --help | help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' ;;
*) die "unknown command '$cmd'; use: $0 [up|status|down]" ;;
esac
