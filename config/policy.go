package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/medic-ops/medic/recovery"
)

// protectedOf is whether environment name is protected: its protected key, else
// whether it is named prod or production (the runbook's production).
func protectedOf(name string, e Environment) bool {
	if e.Protected != nil {
		return *e.Protected
	}
	return name == "prod" || name == "production"
}

// allowDestructiveOf is whether environment name may be destroyed and recreated and
// have its test data cleaned: its allow_destructive key, else whether it is named
// preprod (the runbook's) and is not protected.
func allowDestructiveOf(name string, e Environment) bool {
	if e.AllowDestructive != nil {
		return *e.AllowDestructive
	}
	return name == "preprod" && !protectedOf(name, e)
}

// validateEnvPolicy refuses an environment both protected and open to destructive
// actions; add takes keys relative to the environment.
func validateEnvPolicy(name string, e Environment, add func(key, msg, fix string)) {
	if !allowDestructiveOf(name, e) {
		return
	}
	// Production is never destroyed, whatever protected says: by its name, or by its
	// rating (HIGH or above, like prod by default).
	if name == "prod" || name == "production" {
		add(".allow_destructive", fmt.Sprintf("is true on %s: production is never destroyed and never has its data cleaned", name),
			"remove allow_destructive from "+name)
		return
	}
	if sev := severityOf(name, e.Severity); sev >= recovery.SeverityHigh {
		add(".allow_destructive", fmt.Sprintf("is true on %s, rated %s: an environment rated HIGH or above is never destroyed", name, sev),
			fmt.Sprintf("remove allow_destructive from %s, or rate it lower (severity) if it really is a test environment", name))
		return
	}
	if !protectedOf(name, e) {
		return
	}
	why := "protected: true"
	if e.Protected == nil {
		why = fmt.Sprintf("protected by default, being named %s", name)
	}
	add(".allow_destructive", fmt.Sprintf("is true on an environment that is %s; a protected environment is never destroyed", why),
		fmt.Sprintf("remove allow_destructive from %s, or set protected: false there if it may really be destroyed and recreated", name))
}

// Warnings are what a config may say but likely should not: `medic config check`
// prints them and still passes. Each names its key and how to fix it, like a Problem.
func (c *Config) Warnings() []Problem {
	var ws []Problem
	if len(c.Environments) > 0 && !c.anyProtected() {
		ws = append(ws, Problem{Key: "environments",
			Msg: "no environment is protected: none is sure to need a second person's approval for every recovery action",
			Fix: "set protected: true on the production environment (environments.<name>.protected)"})
	}
	if missing := c.defaultsWithoutTheirEnvironments(); len(missing) > 0 {
		ws = append(ws, Problem{Key: "pipeline",
			Msg: fmt.Sprintf("the runbook's default %s name environments this config does not have (%s): what they say of those environments does nothing",
				strings.Join(missing[1:], ", "), missing[0]),
			Fix: "spell them out for your environments: pipeline.jobs, pipeline.rules and escalation.matrix (see the README's configuration reference)"})
	}
	return ws
}

// defaultsWithoutTheirEnvironments lists, when the runbook's default job stages, rules
// or escalation matrix are in use and there is no prod (environments named otherwise),
// the missing environments (first) and the defaults that name them. An install without
// dev or preprod is common; one without prod has renamed it.
func (c *Config) defaultsWithoutTheirEnvironments() []string {
	if _, ok := c.Environments["prod"]; ok || len(c.Environments) == 0 {
		return nil
	}
	absent := []string{"prod"}
	if _, ok := c.Environments["preprod"]; !ok {
		absent = []string{"preprod", "prod"}
	}
	var defaults []string
	if maps.Equal(c.Pipeline.Jobs, recovery.DefaultJobEnvs()) {
		defaults = append(defaults, "job stages (pipeline.jobs)")
	}
	if len(c.Pipeline.Rules) == 0 {
		defaults = append(defaults, "rules (pipeline.rules)")
	}
	if len(c.Escalation.Matrix) == 0 {
		defaults = append(defaults, "escalation matrix (escalation.matrix)")
	}
	if len(defaults) == 0 {
		return nil
	}
	return append([]string{strings.Join(absent, ", ")}, defaults...)
}

func (c *Config) anyProtected() bool {
	for name, e := range c.Environments {
		if protectedOf(name, e) {
			return true
		}
	}
	return false
}

// validateDestructiveResources refuses an environment open to destructive actions
// whose resources are another environment's: its table (the same, or one named after
// the other environment, "<other>-…"), its AWS role, its Terraform backend, variables
// or lock table. Destroy & recreate and Clean test data act on these.
func (c *Config) validateDestructiveResources() Problems {
	var ps Problems
	for _, name := range sortedKeys(c.Environments) {
		e := c.Environments[name]
		if !allowDestructiveOf(name, e) {
			continue
		}
		for _, other := range sortedKeys(c.Environments) {
			if other == name {
				continue
			}
			for _, clash := range sharedResources(name, e, other, c.Environments[other]) {
				ps = append(ps, Problem{Key: "environments." + name + "." + clash.key,
					Msg: fmt.Sprintf("%s is %s's too, and %s allows destructive actions", clash.what, other, name),
					Fix: fmt.Sprintf("give %s its own, or remove allow_destructive from %s", name, name)})
			}
		}
	}
	return ps
}

type clash struct{ key, what string }

// sharedResources lists what destructive environment name shares with other.
func sharedResources(name string, e Environment, other string, o Environment) []clash {
	var out []clash
	// A table is named after the environment whose name is its longest prefix.
	if t := e.DynamoDBTable; t != "" && (t == o.DynamoDBTable ||
		(strings.HasPrefix(t, other+"-") && !(strings.HasPrefix(t, name+"-") && len(name) > len(other)))) {
		out = append(out, clash{"dynamodb_table", fmt.Sprintf("the table %q", t)})
	}
	if r := e.AWS.RoleARN; r != "" && r == o.AWS.RoleARN {
		out = append(out, clash{"aws.role_arn", fmt.Sprintf("the role %q", r)})
	}
	if l := e.Terraform.LockTable; l != "" && l == o.Terraform.LockTable {
		out = append(out, clash{"terraform.lock_table", fmt.Sprintf("the lock table %q", l)})
	}
	if v := e.Terraform.VarFile; v != "" && v == o.Terraform.VarFile && e.Terraform.Dir == o.Terraform.Dir {
		out = append(out, clash{"terraform.var_file", fmt.Sprintf("the variables file %q", v)})
	}
	if b := e.Terraform.BackendConfig; len(b) > 0 && slices.Equal(b, o.Terraform.BackendConfig) && e.Terraform.Dir == o.Terraform.Dir {
		out = append(out, clash{"terraform.backend_config", fmt.Sprintf("the backend %q", strings.Join(b, " "))})
	}
	return out
}
