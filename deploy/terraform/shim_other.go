//go:build !linux

package terraform

import "errors"

// runShim refuses: the shim's confinement (Landlock, the user switch) is Linux's, and
// a Runner only uses a shim where it can (see Options.Shim).
func runShim(string) error {
	return errors.New("the terraform shim runs on Linux only")
}

func landlockABI() int { return 0 }
