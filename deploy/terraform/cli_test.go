package terraform_test

import (
	"strings"
	"testing"

	"github.com/medic-ops/medic/deploy/terraform"
)

// TestParseVersionOutput pins how medic tells Terraform from OpenTofu: the first line of
// `version`, as Terraform 1.5.7 and 1.11.4 and OpenTofu 1.12.6 print it (OpenTofu's
// internal/command/views/version.go: "OpenTofu v%s").
func TestParseVersionOutput(t *testing.T) {
	tests := []struct {
		name, out   string
		wantCLI     terraform.CLI
		wantVersion string
		wantErr     string
	}{
		{name: "Terraform", out: "Terraform v1.5.7\non linux_amd64\n", wantCLI: terraform.CLITerraform, wantVersion: "1.5.7"},
		{name: "Terraform, outdated", out: "Terraform v1.11.4\non linux_amd64\n\nYour version of Terraform is out of date! The latest version\nis 1.14.0.\n", wantCLI: terraform.CLITerraform, wantVersion: "1.11.4"},
		{name: "Terraform prerelease", out: "Terraform v1.6.0-alpha20230816\non linux_amd64\n", wantCLI: terraform.CLITerraform, wantVersion: "1.6.0-alpha20230816"},
		{name: "OpenTofu", out: "OpenTofu v1.12.6\non linux_amd64\n", wantCLI: terraform.CLIOpenTofu, wantVersion: "1.12.6"},
		{name: "OpenTofu with providers", out: "OpenTofu v1.6.0\non linux_amd64\n+ provider registry.opentofu.org/hashicorp/aws v5.31.0\n", wantCLI: terraform.CLIOpenTofu, wantVersion: "1.6.0"},
		{name: "leading blank line", out: "\nOpenTofu v1.10.6\n", wantCLI: terraform.CLIOpenTofu, wantVersion: "1.10.6"},
		{name: "JSON", out: `{"terraform_version":"1.12.6","platform":"linux_amd64"}`, wantErr: "neither Terraform nor OpenTofu"},
		{name: "another fork", out: "Terraformer v1.5.7\n", wantErr: `"Terraformer v1.5.7", neither`},
		{name: "lower case", out: "opentofu v1.12.6\n", wantErr: "neither"},
		{name: "not first", out: "warning: something\nOpenTofu v1.12.6\n", wantErr: `"warning: something"`},
		{name: "no patch", out: "OpenTofu v1.12\n", wantErr: "neither"},
		{name: "empty", out: "", wantErr: `says ""`},
		{name: "long", out: strings.Repeat("x", 200), wantErr: strings.Repeat("x", 80) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, v, err := terraform.ParseVersionOutput(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got %s %v, %v; want an error containing %q", cli, v, err, tt.wantErr)
				}
				return
			}
			if err != nil || cli != tt.wantCLI || v.Original() != tt.wantVersion {
				t.Errorf("got %s %v, %v; want %s %s", cli, v, err, tt.wantCLI, tt.wantVersion)
			}
		})
	}
}

func TestMinVersionOfEachCLI(t *testing.T) {
	if got := terraform.CLITerraform.MinVersion(); got != "1.4.0" {
		t.Errorf("Terraform: got %s, want 1.4.0 (terraform_data)", got)
	}
	if got := terraform.CLIOpenTofu.MinVersion(); got != "1.6.0" {
		t.Errorf("OpenTofu: got %s, want 1.6.0 (its first stable release)", got)
	}
}
