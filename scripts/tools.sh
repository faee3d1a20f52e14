#!/usr/bin/env bash
# Installs the tools medic's tests need that are not Go modules of the project, into a
# cache outside the repository so they are built once per machine:
#
#   Terraform v1.5.7 (the last MPL-2.0 release), unless a terraform >= 1.4 is already on
#   PATH or in the cache. `go install` builds it from source (about two minutes on two
#   cores); it needs only the Go module proxy.
#
# It prints the path of the terraform binary the tests will use. Set MEDIC_TERRAFORM to
# make the tests use another binary.
set -euo pipefail

GO=${GO:-go}
TERRAFORM_VERSION=v1.5.7
TOOLS_DIR=${TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/medic-tools}
TF_DIR=$TOOLS_DIR/terraform-$TERRAFORM_VERSION
TF_BIN=$TF_DIR/terraform

# terraform_ok BIN succeeds when BIN runs and reports Terraform >= 1.4 (the release that
# added the built-in terraform_data resource the sandbox's configuration uses).
terraform_ok() {
	local out major minor
	# The whole output, then its first line: `| head -n 1` makes terraform's second write
	# fail (SIGPIPE) and, with pipefail, the check fail now and then (11 times in 30).
	out=$(TF_CLI_CONFIG_FILE=/dev/null CHECKPOINT_DISABLE=1 "$1" version 2>/dev/null) || return 1
	out=${out%%$'\n'*}
	# "Terraform v1.5.7"
	if [[ $out =~ ^Terraform\ v([0-9]+)\.([0-9]+)\. ]]; then
		major=${BASH_REMATCH[1]}
		minor=${BASH_REMATCH[2]}
		((major > 1 || (major == 1 && minor >= 4)))
		return
	fi
	return 1
}

if [[ -n ${MEDIC_TERRAFORM:-} ]]; then
	if terraform_ok "$MEDIC_TERRAFORM"; then
		echo "terraform: $MEDIC_TERRAFORM (from MEDIC_TERRAFORM)"
		exit 0
	fi
	echo "MEDIC_TERRAFORM=$MEDIC_TERRAFORM is not a Terraform >= 1.4 binary" >&2
	exit 1
fi

if on_path=$(command -v terraform 2>/dev/null) && terraform_ok "$on_path"; then
	echo "terraform: $on_path (on PATH)"
	exit 0
fi

if [[ -x $TF_BIN ]] && terraform_ok "$TF_BIN"; then
	echo "terraform: $TF_BIN (cached)"
	exit 0
fi

echo "installing Terraform $TERRAFORM_VERSION into $TF_DIR (takes a few minutes)" >&2
mkdir -p "$TF_DIR"
GOBIN=$TF_DIR "$GO" install "github.com/hashicorp/terraform@$TERRAFORM_VERSION"
if ! terraform_ok "$TF_BIN"; then
	echo "go install produced $TF_BIN but it does not run as Terraform >= 1.4" >&2
	exit 1
fi
echo "terraform: $TF_BIN (installed)"
