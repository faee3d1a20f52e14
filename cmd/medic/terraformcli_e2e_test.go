package main

import (
	"testing"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/internal/tftest"
	"github.com/medic-ops/medic/sandbox"
)

// forEachCLI runs test once per CLI medic runs (Terraform, then OpenTofu), as subtests
// named after them ("terraform", "tofu"), with terraform.bin set to the CLI's binary
// (withTerraformBin; pass it before options that read terraform.bin). A missing CLI
// skips or fails its subtest as tftest.CLI.Binary says: Terraform is required under CI,
// OpenTofu only with MEDIC_REQUIRE_TOFU (`make test-tofu`).
//
// Only the end-to-end tests that prove a Terraform action's wiring on each CLI use it
// (a rollback on the S3 backend with force-unlock, force-unlock then apply on the http
// backend, a stale plan refused): the rest run on Terraform alone, so OpenTofu does not
// double the suite's time. deploy/terraform's tests run every command on both.
func forEachCLI(t *testing.T, test func(t *testing.T, cli tftest.CLI, bin e2eOption)) {
	for _, cli := range tftest.CLIs() {
		t.Run(cli.Name, func(t *testing.T) { test(t, cli, withTerraformBin(cli.Binary(t))) })
	}
}

// withTerraformBin makes medic run the terraform binary at path (terraform.bin).
func withTerraformBin(path string) e2eOption {
	return func(_ *sandbox.World, cfg *config.Config) { cfg.Terraform.Bin = path }
}
