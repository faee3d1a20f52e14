// Package medic holds what the whole repository shares at its root: the example
// configuration that ships with medic and that `medic demo` runs.
package medic

import _ "embed"

// ExampleConfig is medic.example.yaml: the runbook's environments and names.
//
//go:embed medic.example.yaml
var ExampleConfig []byte
