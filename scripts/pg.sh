#!/usr/bin/env bash
# A throwaway PostgreSQL for medic's tests: a fresh cluster in a temporary directory,
# listening on 127.0.0.1 only, trust authentication, fsync off. Nothing is kept.
#
#   eval "$(scripts/pg.sh start)"   # prints export lines: MEDIC_TEST_POSTGRES_URL, MEDIC_PG_DIR
#   go test ./store/
#   scripts/pg.sh stop              # stops the server in $MEDIC_PG_DIR and deletes it
#
# `stop DIR` stops the server started in DIR. The server binaries (initdb, pg_ctl,
# postgres) are taken from PATH, then /usr/lib/postgresql/*/bin; when neither has them
# and we are root, `apt-get install -y postgresql` installs them. initdb refuses to run
# as root, so as root the cluster belongs to the postgres user (created if missing).
# Progress goes to stderr; stdout carries only the export lines.
set -euo pipefail

log() { echo "pg.sh: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# find_bindir prints the directory holding initdb, pg_ctl and postgres.
find_bindir() {
	local d
	if d=$(command -v initdb 2>/dev/null) && command -v pg_ctl >/dev/null && command -v postgres >/dev/null; then
		dirname "$(readlink -f "$d")"
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
		if [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]]; then
			echo "$d"
			return
		fi
	done
	return 1
}

install_server() {
	[[ $(id -u) == 0 ]] || die "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found; install the postgresql package"
	log "no PostgreSQL server binaries found: installing the postgresql package"
	# Binaries only: no cluster of the distribution's own, no service started.
	mkdir -p /etc/postgresql-common
	[[ -e /etc/postgresql-common/createcluster.conf ]] || echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q postgresql >&2; then
		apt-get update -q >&2
		apt-get install -y -q postgresql >&2
	fi
}

# as_owner runs a command as the cluster's owner: postgres when we are root, else us.
as_owner() {
	if [[ $(id -u) == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# port_free succeeds when nothing listens on 127.0.0.1:$1.
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
	local bindir dir base port url attempt
	bindir=$(find_bindir) || {
		install_server
		bindir=$(find_bindir) || die "postgresql installed but initdb, pg_ctl and postgres are still missing"
	}
	base=${TMPDIR:-/tmp}
	if [[ $(id -u) == 0 ]]; then
		id postgres >/dev/null 2>&1 || useradd --system --user-group --no-create-home --shell /bin/false postgres
		# The postgres user must be able to reach the directory.
		runuser -u postgres -- test -x "$base" 2>/dev/null || base=/tmp
	fi
	dir=$(mktemp -d "$base/medic-pg.XXXXXX")
	[[ $(id -u) == 0 ]] && chown postgres: "$dir"
	chmod 700 "$dir"
	as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
		{
			cat "$dir/initdb.log" >&2
			rm -rf "$dir"
			die "initdb failed"
		}
	echo "$bindir" >"$dir/bindir"
	for attempt in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		port_free "$port" || continue
		if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start -o \
			"-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null; then
			url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			echo "$url" >"$dir/url"
			log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir"
			printf "export MEDIC_TEST_POSTGRES_URL='%s'\nexport MEDIC_PG_DIR='%s'\n" "$url" "$dir"
			return 0
		fi
		log "start attempt $attempt on port $port failed:"
		tail -n 5 "$dir/server.log" >&2 || true
	done
	rm -rf "$dir"
	die "could not start PostgreSQL"
}

stop() {
	local dir=${1:-${MEDIC_PG_DIR:-}} bindir pid
	[[ -n $dir ]] || die "usage: pg.sh stop DIR (or set MEDIC_PG_DIR)"
	[[ -d $dir ]] || return 0
	[[ -e $dir/bindir && -d $dir/data ]] || die "$dir is not a directory made by pg.sh start"
	bindir=$(cat "$dir/bindir")
	if [[ -f $dir/data/postmaster.pid ]]; then
		if ! as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 20 stop >/dev/null 2>&1; then
			pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
			[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	rm -rf "$dir"
}

case ${1:-} in
start) start ;;
stop) stop "${2:-}" ;;
*) die "usage: pg.sh start | pg.sh stop [DIR]" ;;
esac
