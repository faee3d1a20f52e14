//go:build !unix

package terraform

import (
	"errors"
	"os"
)

// lockDir is unix's; elsewhere workspaces are never swept.
func lockDir(string) (*os.File, error) { return nil, errors.New("workspace locks are unix's") }
