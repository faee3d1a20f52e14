#!/usr/bin/env bash
# Mutation testing: gremlins plants one-line bugs (a < made <=, a condition negated,
# a + made -) in each package, one at a time, and runs the package's own tests against
# each. A mutant no test kills ("lived") is a rule nothing pins. For each package this
# prints its mutant coverage (the mutants some test ran) and efficacy (those a test
# killed), after setting aside the equivalent mutants of mutation/equivalent.txt, and
# lists the lived mutants left. It fails when ./recovery is below its goal.
#
#   scripts/mutation.sh [package ...]     (default: ./recovery ./bot ./handlers ./config)
#
# Environment: GREMLINS (the binary), MUTATION_WORKERS (default: the CPUs),
# MUTATION_OUT (where the JSON results go; default a temporary directory).
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
GREMLINS=${GREMLINS:?GREMLINS must name the gremlins binary (make mutation installs it)}
WORKERS=${MUTATION_WORKERS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
OUT=${MUTATION_OUT:-$(mktemp -d)}
mkdir -p "$OUT"
pkgs=("$@")
if ((${#pkgs[@]} == 0)); then
	pkgs=(./recovery ./bot ./handlers ./config)
fi

# goal PKG prints the minimum coverage and efficacy a package must reach.
goal() {
	case $1 in
	recovery) echo "80 85" ;;
	*) echo "0 0" ;;
	esac
}

$GO build -o "$OUT/mutreport" ./internal/mutation/mutreport || exit 1
rc=0
summary=()
for p in "${pkgs[@]}"; do
	name=${p#./}
	name=${name%/}
	start=$(date +%s)
	mkdir -p "$(dirname "$OUT/$name")" # a nested package (store/memstore)
	echo "== gremlins on ./$name ($WORKERS workers)"
	# Only the package's own files are mutated, not its subpackages' (recovery's
	# test fakes in recovery/recoverytest).
	exclude=()
	while IFS= read -r sub; do
		exclude+=(--exclude-files "^${sub#"./$name/"}/")
	done < <(find "./$name" -mindepth 1 -type d -not -name testdata -not -path '*/testdata/*')
	# A mutant's tests may take 30 times as long as the unmutated run before they
	# count as timed out (a mutant that makes a loop spin).
	if ! "$GREMLINS" unleash --workers "$WORKERS" --timeout-coefficient 30 "${exclude[@]}" \
		--output "$OUT/$name.json" --output-statuses klt "./$name" >"$OUT/$name.log" 2>&1; then
		echo "gremlins failed on ./$name; its output:" >&2
		tail -n 30 "$OUT/$name.log" >&2
		rc=1
		continue
	fi
	secs=$(($(date +%s) - start))
	read -r cov eff < <(goal "$name")
	report=$("$OUT/mutreport" -pkg "$name" -result "$OUT/$name.json" -equivalent mutation/equivalent.txt \
		-min-coverage "$cov" -min-efficacy "$eff" 2>&1) || rc=1
	echo "$report"
	summary+=("$(head -n 1 <<<"$report") [${secs}s]")
done
echo
echo "mutation testing (results in $OUT):"
printf '  %s\n' "${summary[@]}"
exit $rc
