package sandbox

import (
	"maps"
	"strings"
	"time"

	"github.com/medic-ops/medic/sandbox/githubfake"
)

// TerraformDir is where the service repository keeps its Terraform configuration.
const TerraformDir = "infrastructure/terraform"

// terraformMain is the sandbox's stand-in for the service's infrastructure: one built-in
// terraform_data resource per Lambda function and one for the DynamoDB table, so
// `terraform init` needs no provider download. The backend settings come from
// `-backend-config` (the sandbox's tfstate server).
const terraformMain = `terraform {
  required_version = ">= 1.4.0"

  # Settings come from -backend-config at init.
  backend "BACKEND" {}
}

variable "environment" {
  type        = string
  description = "The environment: dev, preprod or prod."
}

variable "model_version" {
  type        = string
  description = "The git SHA whose Lambda packages are deployed."
}

variable "apply_delay" {
  type        = number
  default     = 0
  description = "Seconds an apply waits before deploying the functions (0: no wait)."
}

locals {
  functions = toset(["ingestion", "analysis", "dashboard"])
}

# Only when apply_delay > 0: holds an apply (and its state lock) open.
resource "terraform_data" "apply_delay" {
  count            = var.apply_delay > 0 ? 1 : 0
  triggers_replace = [var.model_version]

  provisioner "local-exec" {
    command = "sleep ${var.apply_delay}"
  }
}

resource "terraform_data" "lambda" {
  for_each = local.functions

  input = {
    function = "${var.environment}-sentiment-${each.key}"
    s3_key   = "${each.key}/lambda-${var.model_version}.zip"
  }
  triggers_replace = [var.model_version]

  depends_on = [terraform_data.apply_delay]
}

resource "terraform_data" "items_table" {
  input = {
    name      = "${var.environment}-sentiment-items"
    hash_key  = "source_id"
    range_key = "timestamp"
  }
}

output "model_version" {
  value = var.model_version
}

output "functions" {
  value = [for f in terraform_data.lambda : f.output.function]
}
`

// RepositoryFiles returns the service repository's infrastructure/terraform/ files
// (path → content, paths from the repository root), as the sandbox's GitHub serves them,
// with the state in the sandbox's http backend.
func RepositoryFiles() map[string]string { return RepositoryFilesFor("http") }

// RepositoryFilesFor is RepositoryFiles with the state in backend: "http" (the sandbox's
// tfstate server) or "s3" (the runbook's S3 bucket with a DynamoDB lock table, on the
// sandbox's AWS).
func RepositoryFilesFor(backend string) map[string]string {
	files := map[string]string{
		TerraformDir + "/main.tf": strings.Replace(terraformMain, "BACKEND", backend, 1),
		TerraformDir + "/README.md": "# Infrastructure\n\n" +
			"Deploy with `terraform init -backend-config=<the environment's state server>` then " +
			"`terraform apply -var-file=<env>.tfvars -var model_version=<git SHA>`.\n",
	}
	for _, env := range []string{"dev", "preprod", "prod"} {
		files[TerraformDir+"/"+env+".tfvars"] = "environment = \"" + env + "\"\n"
	}
	// A slow apply (one minute) for the tests that stop medic or cancel a job while
	// Terraform runs.
	files[TerraformDir+"/prod-slow.tfvars"] = "environment = \"prod\"\napply_delay = 60\n"
	return files
}

// SeedRepository commits RepositoryFiles at each of shas (40 hex digits), oldest first,
// onto the sandbox GitHub's main branch, an hour apart and ending an hour before now,
// so the tarball at any of them holds the Terraform configuration. A SHA already
// committed (Seed commits every GoodDeploys SHA with these files) is left as it is.
func SeedRepository(sb *Sandbox, shas ...string) {
	now := sb.now()
	for i, sha := range shas {
		if _, _, ok := sb.GitHub.CommitMessage(sha); ok {
			continue
		}
		sb.GitHub.AddCommit(githubfake.Commit{
			SHA: sha, Message: "Deploy " + sha[:min(7, len(sha))], Branch: "main",
			Files: maps.Clone(RepositoryFiles()), When: now.Add(-time.Duration(len(shas)-i) * time.Hour),
		})
	}
}
