//go:build linux

package terraform

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// systemDirs are what Terraform and the commands its provisioners start need to read
// and execute: programs, libraries, certificates. Of /etc only what TLS, name
// resolution and time zones need: secrets and configurations often live there.
var (
	systemDirs = []string{"/bin", "/sbin", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/nix/store",
		"/etc/ssl", "/etc/pki", "/etc/ca-certificates", "/etc/alternatives"}
	systemFiles = []string{"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf",
		"/etc/localtime", "/etc/services", "/etc/protocols", "/etc/passwd", "/etc/group", "/etc/mime.types"}
)

// runShim confines this process and execs terraform at real. Everything happens on one
// locked OS thread: no_new_privs, the Landlock domain and the user switch are
// per-thread until execve, which keeps the calling thread's and drops the others.
func runShim(real string) error {
	rw, ro, id, env, err := shimSettings()
	if err != nil {
		return err
	}
	runtime.LockOSThread() // never unlocked: the process becomes terraform
	// Open the binary before giving anything up: with another user, the path may not be
	// reachable any more (a tools cache under /root), the file itself is.
	bin, err := os.Open(real)
	if err != nil {
		return fmt.Errorf("opening terraform: %w", err)
	}
	if err := confine(shimRules(real, rw, ro)); err != nil {
		return err
	}
	path := real
	if id != nil && (id.UID != os.Geteuid() || id.GID != os.Getegid()) {
		if path, err = becomeUser(id, real, bin); err != nil {
			return err
		}
	}
	argv := append([]string{real}, os.Args[1:]...)
	err = syscall.Exec(path, argv, env)
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("executing %s: %w (may user %v execute it?)", real, err, id)
	}
	return fmt.Errorf("executing %s: %w", real, err)
}

// shimRules are the Landlock rules of a Terraform command: the system's read-only
// directories and files, the terraform binary at real, the command's workspace (rw)
// and the read-only directories ro (the plugin directories).
func shimRules(real string, rw, ro []string) []landlock.Rule {
	rules := []landlock.Rule{
		landlock.RODirs(systemDirs...).IgnoreIfMissing(),
		landlock.ROFiles(systemFiles...).IgnoreIfMissing(),
		landlock.RODirs("/proc").IgnoreIfMissing(),
		landlock.ROFiles(real),
		landlock.RWFiles("/dev/null", "/dev/zero", "/dev/full").IgnoreIfMissing(),
		landlock.ROFiles("/dev/urandom", "/dev/random").IgnoreIfMissing(),
		landlock.RWDirs(rw...).WithRefer(),
	}
	if len(ro) > 0 {
		rules = append(rules, landlock.RODirs(ro...).IgnoreIfMissing())
	}
	return rules
}

// confine sets no_new_privs, enters a Landlock domain of rules (when the kernel has
// Landlock) and marks every inherited descriptor close-on-exec, on the calling thread.
func confine(rules []landlock.Rule) error {
	// The filesystem and the scopes (no signals to, no abstract sockets of, processes
	// outside); not the network: Terraform reaches its backend, AWS and registries.
	cfg := landlock.V7.BestEffort()
	cfg.HandledAccessNet = 0
	fd, flags, err := cfg.NewRulesetFD(rules...)
	if err != nil {
		return fmt.Errorf("preparing the Landlock ruleset: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	if fd >= 0 {
		err := llsys.LandlockRestrictSelf(fd, flags)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("entering the Landlock domain: %w", err)
		}
	}
	// Nothing medic's process left open reaches Terraform (descriptors inherited
	// without close-on-exec from whatever started medic).
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("closing inherited descriptors: %w", err)
	}
	return nil
}

// becomeUser switches the calling thread to id's user and group, and returns the path
// to exec terraform by: real, or the open file bin when id's user cannot reach real.
func becomeUser(id *Identity, real string, bin *os.File) (string, error) {
	// Raw, per-thread syscalls: syscall.Setuid would change every thread, which
	// needs no cgo; this thread is the one that execs.
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		return "", fmt.Errorf("dropping supplementary groups: %w", e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, uintptr(id.GID), uintptr(id.GID), uintptr(id.GID)); e != 0 {
		return "", fmt.Errorf("switching to group %d: %w", id.GID, e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, uintptr(id.UID), uintptr(id.UID), uintptr(id.UID)); e != 0 {
		return "", fmt.Errorf("switching to user %d: %w", id.UID, e)
	}
	// A change of credentials clears the parent-death signal terraform-exec set:
	// set it again, so Terraform dies with medic.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return "", fmt.Errorf("setting the parent-death signal: %w", err)
	}
	// When the new user cannot reach terraform by its path (a tools cache under
	// /root), exec through the open file. The descriptor then stays open across the
	// exec (a script's interpreter reads it).
	if unix.Access(real, unix.X_OK) != nil {
		if _, err := unix.FcntlInt(bin.Fd(), unix.F_SETFD, 0); err != nil {
			return "", fmt.Errorf("keeping terraform open: %w", err)
		}
		return fmt.Sprintf("/proc/self/fd/%d", bin.Fd()), nil
	}
	return real, nil
}

// landlockABI is the kernel's Landlock ABI version, 0 when it has none.
func landlockABI() int {
	v, err := llsys.LandlockGetABIVersion()
	if err != nil {
		return 0
	}
	return v
}
