package terraform

import (
	"fmt"
	"regexp"

	version "github.com/hashicorp/go-version"
)

// CLI is the command-line tool a Runner runs: Terraform, or OpenTofu, its fork. Both
// take the commands, flags, environment (TF_CLI_CONFIG_FILE, TF_DATA_DIR, TF_LOG …),
// configuration language and backends medic uses, and print the same diagnostics
// ("Error acquiring the state lock", "Saved plan is stale"): medic runs either through
// terraform-exec.
type CLI string

const (
	// CLITerraform is HashiCorp's Terraform.
	CLITerraform CLI = "Terraform"
	// CLIOpenTofu is OpenTofu (opentofu.org), Terraform's fork.
	CLIOpenTofu CLI = "OpenTofu"
)

// MinVersion is the oldest Terraform medic runs: 1.4 added the built-in terraform_data
// resource the sandbox's configuration uses.
const MinVersion = "1.4.0"

// MinOpenTofuVersion is the oldest OpenTofu medic runs: 1.6.0, its first stable release
// (it has terraform_data, and the S3 backend's `endpoints` settings of Terraform 1.6).
const MinOpenTofuVersion = "1.6.0"

// Supported names what medic runs, for messages.
const Supported = "Terraform >= " + MinVersion + " or OpenTofu >= " + MinOpenTofuVersion

// MinVersion is the oldest release of c medic runs.
func (c CLI) MinVersion() string {
	if c == CLIOpenTofu {
		return MinOpenTofuVersion
	}
	return MinVersion
}

// versionLine is the first line of `terraform version` and `tofu version`:
// "Terraform v1.5.7", "OpenTofu v1.12.6", "Terraform v1.6.0-alpha20230816".
var versionLine = regexp.MustCompile(`^(Terraform|OpenTofu) v(\d+\.\d+\.\d+\S*)$`)

// ParseVersionOutput reads which CLI printed out, the human form of `version`, and its
// version. It tells the two apart by the first line: `version -json` (what
// terraform-exec's Version reads) says "terraform_version" in both and names neither.
func ParseVersionOutput(out string) (CLI, *version.Version, error) {
	first := firstLine(out)
	m := versionLine.FindStringSubmatch(first)
	if m == nil {
		return "", nil, fmt.Errorf("its version says %q, neither Terraform nor OpenTofu", truncate(first, 80))
	}
	v, err := version.NewVersion(m[2])
	if err != nil {
		return "", nil, fmt.Errorf("its version says %q: %w", first, err)
	}
	return CLI(m[1]), v, nil
}

// checkCLIVersion refuses a CLI older than the oldest medic runs; execPath names the
// binary in the message.
func checkCLIVersion(execPath string, cli CLI, v *version.Version) error {
	if v.LessThan(version.Must(version.NewVersion(cli.MinVersion()))) {
		return fmt.Errorf("terraform: %s is %s %s; medic needs %s >= %s (it runs %s; `make tools` builds Terraform v1.5.7)",
			execPath, cli, v, cli, cli.MinVersion(), Supported)
	}
	return nil
}

// truncate cuts s to n bytes (a line of stdout can be long).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
