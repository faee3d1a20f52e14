#!/usr/bin/env bash
# Builds OpenTofu for the OpenTofu runs of medic's Terraform tests, into the same cache
# outside the repository as scripts/tools.sh, so it is built once per machine:
#
#   OpenTofu v1.12.6, unless an OpenTofu >= 1.6 is already on PATH (as tofu) or in the
#   cache. It is built from source with only the Go module proxy, but not with
#   `go install …@v1.12.6`: OpenTofu's go.mod replaces hashicorp/hcl with its own fork,
#   and `go install pkg@version` refuses modules with replace directives. So the module
#   is fetched with `go mod download` and ./cmd/tofu built in its directory, with its
#   own go.mod and go.sum, and with the release's version flag (without it the binary
#   says v1.12.6-dev). A cold build takes several minutes on two cores: see the README.
#
# It prints the path of the tofu binary the tests will use. Set MEDIC_TOFU to make the
# tests use another binary.
set -euo pipefail

GO=${GO:-go}
TOFU_VERSION=v1.12.6
TOOLS_DIR=${TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/medic-tools}
TOFU_DIR=$TOOLS_DIR/tofu-$TOFU_VERSION
TOFU_BIN=$TOFU_DIR/tofu

# tofu_ok BIN succeeds when BIN runs and reports OpenTofu >= 1.6 (its first stable
# release; medic's own check, deploy/terraform.MinOpenTofuVersion, is the same).
tofu_ok() {
	local out major minor
	# The whole output, then its first line: `| head -n 1` would make tofu's second write
	# fail (SIGPIPE) and, with pipefail, the check fail now and then.
	out=$(TF_CLI_CONFIG_FILE=/dev/null "$1" version 2>/dev/null) || return 1
	out=${out%%$'\n'*}
	# "OpenTofu v1.12.6"; a prerelease of 1.6.0 is older than 1.6.0.
	if [[ $out =~ ^OpenTofu\ v([0-9]+)\.([0-9]+)\.[0-9]+(-[^ ]+)?$ ]]; then
		major=${BASH_REMATCH[1]}
		minor=${BASH_REMATCH[2]}
		if [[ -n ${BASH_REMATCH[3]} ]]; then
			((major > 1 || (major == 1 && minor >= 7)))
			return
		fi
		((major > 1 || (major == 1 && minor >= 6)))
		return
	fi
	return 1
}

if [[ -n ${MEDIC_TOFU:-} ]]; then
	if tofu_ok "$MEDIC_TOFU"; then
		echo "tofu: $MEDIC_TOFU (from MEDIC_TOFU)"
		exit 0
	fi
	echo "MEDIC_TOFU=$MEDIC_TOFU is not an OpenTofu >= 1.6 binary" >&2
	exit 1
fi

if on_path=$(command -v tofu 2>/dev/null) && tofu_ok "$on_path"; then
	echo "tofu: $on_path (on PATH)"
	exit 0
fi

if [[ -x $TOFU_BIN ]] && tofu_ok "$TOFU_BIN"; then
	echo "tofu: $TOFU_BIN (cached)"
	exit 0
fi

echo "building OpenTofu $TOFU_VERSION into $TOFU_DIR (takes several minutes)" >&2
start=$SECONDS
mkdir -p "$TOFU_DIR"
# Outside any module, so the download touches no go.mod.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
src=$(cd "$scratch" && GOFLAGS=-mod=mod "$GO" mod download -json "github.com/opentofu/opentofu@$TOFU_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [[ -z $src || ! -d $src/cmd/tofu ]]; then
	echo "go mod download github.com/opentofu/opentofu@$TOFU_VERSION gave no source directory" >&2
	exit 1
fi
(cd "$src" && GOFLAGS=-mod=readonly "$GO" build -trimpath \
	-ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" \
	-o "$TOFU_BIN.new" ./cmd/tofu)
mv -f "$TOFU_BIN.new" "$TOFU_BIN"
if ! tofu_ok "$TOFU_BIN"; then
	echo "the build produced $TOFU_BIN but it does not run as OpenTofu >= 1.6" >&2
	exit 1
fi
echo "tofu: $TOFU_BIN (built in $((SECONDS - start))s)"
