package terraform

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// Terraform runs code of the repository (providers, provisioners, external data
// sources), so medic treats it as an untrusted process. With Options.Shim set, each
// Terraform command starts as medic's own binary in "shim" mode (ShimMain), which,
// before it execs the real terraform:
//
//   - sets no_new_privs, so nothing Terraform starts gains privileges (no setuid);
//   - confines the filesystem with Landlock (Linux 5.13 and later) to the system's
//     read-only directories, the terraform binary, the configured provider
//     directories and the command's own workspace: medic's store, its configuration
//     directory, home directory, other workspaces and any secret mounted on the
//     machine are out of reach, and so is ptrace of medic (Landlock forbids ptrace of
//     processes outside the domain);
//   - switches to Options.RunAs (when medic runs as root), so Terraform has none of
//     medic's privileges either.
//
// The shim's settings travel in these environment variables, which it removes before
// Terraform starts.
const (
	envShimExec = "MEDIC_TERRAFORM_SHIM_EXEC"
	envShimRW   = "MEDIC_TERRAFORM_SHIM_RW"
	envShimRO   = "MEDIC_TERRAFORM_SHIM_RO"
	envShimUser = "MEDIC_TERRAFORM_SHIM_USER"
)

// shimName is the name a Runner starts its shim by (a link to Options.Shim in the work
// root): a medic started any other way never becomes a shim, whatever its environment
// holds.
const shimName = "medic-terraform-shim"

// ShimMain runs the Terraform shim and never returns when the process was started as
// one (by a Runner with Options.Shim); otherwise it returns at once. Call it first thing
// in main (and in TestMain of tests that give a Runner a shim).
func ShimMain() {
	real := os.Getenv(envShimExec)
	if real == "" || filepath.Base(os.Args[0]) != shimName {
		return
	}
	err := runShim(real)
	fmt.Fprintf(os.Stderr, "medic terraform shim: %v\n", err)
	os.Exit(126)
}

// shimSettings reads and removes the shim's variables from the environment.
func shimSettings() (rw, ro []string, id *Identity, env []string, err error) {
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case envShimExec:
		case envShimRW:
			for _, p := range strings.Split(v, "\n") {
				if p != "" {
					rw = append(rw, p)
				}
			}
		case envShimRO:
			for _, p := range strings.Split(v, "\n") {
				if p != "" {
					ro = append(ro, p)
				}
			}
		case envShimUser:
			if v != "" {
				if id, err = parseIdentity(v); err != nil {
					return nil, nil, nil, nil, err
				}
			}
		default:
			env = append(env, kv)
		}
	}
	if len(rw) == 0 {
		return nil, nil, nil, nil, fmt.Errorf("%s is not set", envShimRW)
	}
	return rw, ro, id, env, nil
}

// Identity is a user and group Terraform runs as.
type Identity struct {
	UID, GID int
	// Name is how to call it in messages ("nobody").
	Name string
}

func (id Identity) String() string { return fmt.Sprintf("%d:%d", id.UID, id.GID) }

func parseIdentity(s string) (*Identity, error) {
	u, g, ok := strings.Cut(s, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return nil, fmt.Errorf("%q is not uid:gid", s)
	}
	return &Identity{UID: uid, GID: gid, Name: s}, nil
}

// LookupIdentity resolves a user for Options.RunAs: a name ("nobody") or "uid:gid".
func LookupIdentity(spec string) (*Identity, error) {
	if id, err := parseIdentity(spec); err == nil {
		return id, nil
	}
	u, err := user.Lookup(spec)
	if err != nil {
		return nil, fmt.Errorf("looking up user %q: %w", spec, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("user %q: uid %q: %w", spec, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("user %q: gid %q: %w", spec, u.Gid, err)
	}
	return &Identity{UID: uid, GID: gid, Name: spec}, nil
}
