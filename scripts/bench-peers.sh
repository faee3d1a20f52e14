#!/usr/bin/env bash
# bench-peers: medic against its two peer bots on the same traffic, in one run.
#
# Builds medic and runs `slackdriver bench` (../shared/bench) on medic serve, the
# slack-go peer and the Bolt-JS peer, alternating them for ROUNDS rounds, then prints
# one table. Each medic run gets a fresh `medic sandbox` (GitHub, AWS and health
# in-process, no real service), whose count of the calls medic made is that run's.
# A peer whose tools are missing (node/npm for Bolt-JS, or its packages) is skipped with
# a message saying why. Never part of `make test`.
#
# Settings (environment): N (envelopes, 500), C (in flight, 500), ROUNDS (1), WARMUP (20),
# BENCH_DIR (../shared/bench), BENCH_CACHE (~/.cache/medic-bench: the Bolt peer's
# node_modules), KEEP=1 keeps the work directory (logs, JSON figures).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
N=${N:-500}
C=${C:-500}
ROUNDS=${ROUNDS:-1}
WARMUP=${WARMUP:-20}
BENCH_DIR=$(cd "${BENCH_DIR:-$ROOT/../shared/bench}" && pwd)
BENCH_CACHE=${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/medic-bench}
GO=${GO:-go}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/medic-bench-peers.XXXXXX")
SANDBOX_PID=

cleanup() {
	if [[ -n $SANDBOX_PID ]] && kill -0 "$SANDBOX_PID" 2>/dev/null; then
		kill -TERM "$SANDBOX_PID" 2>/dev/null || true
		wait "$SANDBOX_PID" 2>/dev/null || true
	fi
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "bench-peers: work directory kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

say() { echo "bench-peers: $*" >&2; }

say "building medic, slackdriver and the slack-go peer"
CGO_ENABLED=0 "$GO" build -trimpath -o "$WORK/medic" ./cmd/medic
(cd "$BENCH_DIR/slackdriver" && "$GO" build -o "$WORK/slackdriver" .)
(cd "$BENCH_DIR/peers/slackgo-min" && "$GO" build -o "$WORK/slackgo-min" .)

# The Bolt-JS peer: its packages are installed once into a copy under BENCH_CACHE (the
# shared directory is left as it is).
BOLT=
if ! command -v node >/dev/null; then
	say "skipping the Bolt-JS peer: node is not installed (it needs Node.js >= 18 and npm)"
elif [[ -d $BENCH_DIR/peers/bolt/node_modules/@slack/bolt ]]; then
	BOLT=$BENCH_DIR/peers/bolt
else
	bolt_copy=$BENCH_CACHE/bolt
	if [[ ! -d $bolt_copy/node_modules/@slack/bolt ]]; then
		if ! command -v npm >/dev/null; then
			say "skipping the Bolt-JS peer: npm is not installed to fetch @slack/bolt"
			bolt_copy=
		else
			say "installing the Bolt-JS peer's packages into $bolt_copy (npm ci, once)"
			mkdir -p "$bolt_copy"
			cp "$BENCH_DIR/peers/bolt/app.js" "$BENCH_DIR/peers/bolt/package.json" "$BENCH_DIR/peers/bolt/package-lock.json" "$bolt_copy/"
			if ! (cd "$bolt_copy" && npm ci --no-audit --no-fund >"$WORK/npm.log" 2>&1); then
				say "skipping the Bolt-JS peer: npm ci failed (no registry access?); its last lines:"
				tail -5 "$WORK/npm.log" >&2
				rm -rf "$bolt_copy/node_modules"
				bolt_copy=
			fi
		fi
	fi
	if [[ -n $bolt_copy ]]; then
		cp "$BENCH_DIR/peers/bolt/app.js" "$bolt_copy/app.js"
		BOLT=$bolt_copy
	fi
fi

# start_sandbox starts a fresh `medic sandbox` for one medic run, so the calls it counts
# are that run's alone (its warm-up included); stop_sandbox stops it and keeps its
# summary in $1.world.
start_sandbox() {
	"$WORK/medic" sandbox --print-config "$WORK/medic.yaml" >"$WORK/sandbox.env" 2>"$WORK/sandbox.err" &
	SANDBOX_PID=$!
	for _ in $(seq 100); do
		grep -q '^# ready' "$WORK/sandbox.env" 2>/dev/null && break
		kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$WORK/sandbox.err" >&2; exit 1; }
		sleep 0.1
	done
	grep -q '^# ready' "$WORK/sandbox.env" || { say "medic sandbox did not get ready in 10s"; exit 1; }
	# The pollers off: the calls counted are those behind the /status answers.
	sed -i -E 's/^(  (alarm_)?poll_interval:) [^#]*/\1 0 /' "$WORK/medic.yaml"
	grep -qE '^  poll_interval: 0 ' "$WORK/medic.yaml" && grep -qE '^  alarm_poll_interval: 0 ' "$WORK/medic.yaml" ||
		{ say "could not turn the pollers off in $WORK/medic.yaml"; exit 1; }
	sandbox_env=()
	while IFS= read -r line; do
		[[ -z $line || $line == \#* ]] && continue
		sandbox_env+=(-env "$line")
	done <"$WORK/sandbox.env"
}
stop_sandbox() {
	kill -TERM "$SANDBOX_PID"
	wait "$SANDBOX_PID" || true
	SANDBOX_PID=
	sed -n 's/^medic sandbox: stopped; served //p' "$WORK/sandbox.err" >"$1.world"
}

# medic takes commands in the sandbox's ops channel: the fake Slack's default channel is
# made that one, for every bot alike.
printf '{"channels":[{"id":"C0MEDICOPS","name":"ops"}]}\n' >"$WORK/directory.json"

bots=(medic slackgo-min)
[[ -n $BOLT ]] && bots+=(bolt)
bench() { # name round
	local name=$1 round=$2 out=$WORK/$1.$2
	local -a cmd extra=()
	case $name in
	medic)
		start_sandbox
		cmd=("$WORK/medic" serve --config "$WORK/medic.yaml")
		extra=("${sandbox_env[@]}")
		;;
	slackgo-min) cmd=("$WORK/slackgo-min") ;;
	bolt) cmd=(node "$BOLT/app.js") ;;
	esac
	say "round $round: $name"
	if ! "$WORK/slackdriver" bench -n "$N" -c "$C" -warmup "$WARMUP" -directory "$WORK/directory.json" "${extra[@]}" \
		-json "$out.json" -app-log "$out.log" -- "${cmd[@]}" >"$out.txt" 2>"$out.err"; then
		say "$name failed in round $round:"
		tail -20 "$out.err" "$out.log" >&2
		return 1
	fi
	if [[ $name == medic ]]; then
		stop_sandbox "$out"
	fi
}
for round in $(seq "$ROUNDS"); do
	for name in "${bots[@]}"; do
		bench "$name" "$round"
	done
done

echo
echo "bench-peers: $N × /status prod, at most $C in flight, $ROUNDS round(s), $(nproc) CPUs; one row per bot and round"
printf '%-12s %6s %11s %11s %11s %13s %10s %10s  %s\n' bot round ack_p50_ms ack_p99_ms unacked idle_rss_MiB peak_MiB conn_ms "API calls behind the answers (Slack)"
for round in $(seq "$ROUNDS"); do
	for name in "${bots[@]}"; do
		f=$WORK/$name.$round
		calls=$(sed -n 's/^followups: *\([0-9]*\) *# *\(.*\)$/\1: \2/p' "$f.txt")
		jq -r --arg name "$name" --arg round "$round" --arg calls "${calls:-0}" \
			'[$name, $round, .ack_p50_ms, .ack_p99_ms, .unacked_within_3s, (.idle_vmrss_kb/1024*10|round/10), (.vmhwm_kb/1024*10|round/10), .start_to_connected_ms, $calls] | @tsv' "$f.json" |
			awk -F'\t' '{ printf "%-12s %6s %11s %11s %11s %13s %10s %10s  %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }'
	done
done
echo
for round in $(seq "$ROUNDS"); do
	echo "medic's calls to GitHub, AWS and health in round $round ($N + $WARMUP warm-up /status prod): $(cat "$WORK/medic.$round.world")"
done
if [[ -z $BOLT ]]; then
	echo "(the Bolt-JS peer was skipped: see the message above)"
fi

# The goals medic holds itself to (the crowd issue), per round, against the slack-go peer
# of the same round: met or not, with the figure.
echo
echo "medic against its goals (per round; ratios against the slack-go peer of the same round):"
for round in $(seq "$ROUNDS"); do
	m=$WORK/medic.$round.json p=$WORK/slackgo-min.$round.json
	calls=$(sed -n 's/^GitHub \([0-9]*\) calls.*AWS \([0-9]*\) (.*health \([0-9]*\) (.*/\1 \2 \3/p' "$WORK/medic.$round.world" | awk '{print $1+$2+$3}')
	jq -r -n --slurpfile m "$m" --slurpfile p "$p" --arg round "$round" --arg calls "${calls:-?}" --arg n "$N" '
		def verdict(ok): if ok then "met" else "NOT met" end;
		$m[0] as $m | $p[0] as $p |
		"  round \($round): ack p99 \($m.ack_p99_ms) ms (goal <= 15): \(verdict($m.ack_p99_ms <= 15)); " +
		"ack p99 / slack-go p99 = \(($m.ack_p99_ms / $p.ack_p99_ms * 100 | round) / 100) (goal <= 0.25): \(verdict($m.ack_p99_ms <= 0.25 * $p.ack_p99_ms)); " +
		"unacked within 3 s \($m.unacked_within_3s): \(verdict($m.unacked_within_3s == 0)); " +
		"answers \($m.followups // 0 | tostring) of \($n); " +
		"idle RSS \(($m.idle_vmrss_kb / 1024 * 10 | round) / 10) MiB (goal <= 25): \(verdict($m.idle_vmrss_kb <= 25 * 1024)); " +
		"start -> connected \($m.start_to_connected_ms) ms (goal <= 50): \(verdict($m.start_to_connected_ms <= 50)); " +
		"GitHub+AWS+health calls \($calls) incl. warm-up (goal <= 12): \(verdict(($calls | tonumber? // 999) <= 12))"'
done
