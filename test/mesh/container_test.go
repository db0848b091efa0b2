package mesh

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

// containerEnv carries a containerSpec to the test binary re-executed as a
// container's init: see runContainerInit.
const containerEnv = "GATEMESH_MESH_CONTAINER"

// containerSpec is one container as the runtime starts it.
type containerSpec struct {
	// Root is an empty host directory; a tmpfs on it becomes the root.
	Root string
	// Binary is the host path of the program; Entrypoint its path inside.
	Binary, Entrypoint string
	Args, Env          []string
	Mounts             []bindMount
	// Hosts is /etc/hosts; Hostname the UTS name (the pod's name).
	Hosts, Hostname string
	// TerminationLog is the host file behind /dev/termination-log.
	TerminationLog string
	UID, GID       uint32
	Groups         []uint32
	ReadOnlyRoot   bool
	NoNewPrivs     bool
}

// bindMount is a volume mount.
type bindMount struct {
	Source, Target string
	ReadOnly       bool
}

// startContainer runs spec as a process: the test binary again, in a new
// mount and UTS namespace, which sets up the root and execs the program.
func startContainer(name, logFile string, spec containerSpec) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("failed to find the test binary: %w", err)
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("internal error: failed to encode container spec: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = []string{containerEnv + "=" + string(js)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS}
	return start(name, logFile, cmd)
}

// runContainerInit is the test binary's job when containerEnv is set: build
// the container's root, become its user and exec its program. It never
// returns.
func runContainerInit(js string) {
	// Capability and no_new_privs settings are per thread: do everything,
	// the exec included, on this one.
	runtime.LockOSThread()
	var spec containerSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "container init: failed to decode spec: %v\n", err)
		os.Exit(126)
	}
	if err := setupRoot(spec); err != nil {
		fmt.Fprintf(os.Stderr, "container init: failed to set up the root: %v\n", err)
		os.Exit(126)
	}
	if err := becomeUser(spec); err != nil {
		fmt.Fprintf(os.Stderr, "container init: failed to change user: %v\n", err)
		os.Exit(126)
	}
	argv := append([]string{spec.Entrypoint}, spec.Args...)
	err := syscall.Exec(spec.Entrypoint, argv, spec.Env)
	fmt.Fprintf(os.Stderr, "container init: failed to exec %s: %v\n", spec.Entrypoint, err)
	os.Exit(127)
}

func setupRoot(s containerSpec) error {
	// Nothing below may leak to the host's mounts.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("failed to make mounts private: %w", err)
	}
	r := s.Root
	if err := syscall.Mount("tmpfs", r, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("failed to mount the root tmpfs: %w", err)
	}
	files := map[string]string{
		"/etc/hosts":         s.Hosts,
		"/etc/hostname":      s.Hostname + "\n",
		"/etc/resolv.conf":   "nameserver 127.0.0.1\noptions ndots:5\n",
		"/etc/nsswitch.conf": "hosts: files dns\n",
	}
	for path, content := range files {
		if err := writeFile(filepath.Join(r, path), content); err != nil {
			return err
		}
	}
	binds := []bindMount{{Source: s.Binary, Target: s.Entrypoint, ReadOnly: true}}
	for _, dev := range []string{"null", "zero", "random", "urandom"} {
		binds = append(binds, bindMount{Source: "/dev/" + dev, Target: "/dev/" + dev})
	}
	binds = append(binds, bindMount{Source: s.TerminationLog, Target: "/dev/termination-log"})
	binds = append(binds, s.Mounts...)
	for _, m := range binds {
		if err := bind(r, m); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(r, "proc"), 0o555); err != nil {
		return fmt.Errorf("failed to create /proc: %w", err)
	}
	if err := syscall.Mount("proc", filepath.Join(r, "proc"), "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("failed to mount /proc: %w", err)
	}
	if s.ReadOnlyRoot {
		if err := syscall.Mount("", r, "", syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_NOSUID|syscall.MS_NODEV, ""); err != nil {
			return fmt.Errorf("failed to make the root read-only: %w", err)
		}
	}
	if err := syscall.Sethostname([]byte(s.Hostname)); err != nil {
		return fmt.Errorf("failed to set hostname: %w", err)
	}
	if err := syscall.Chroot(r); err != nil {
		return fmt.Errorf("failed to chroot: %w", err)
	}
	if err := syscall.Chdir("/"); err != nil {
		return fmt.Errorf("failed to chdir: %w", err)
	}
	return nil
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}

// bind mounts m.Source at root+m.Target, creating the mount point as a file
// or directory like the source.
func bind(root string, m bindMount) error {
	target := filepath.Join(root, m.Target)
	info, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("failed to stat mount source: %w", err)
	}
	if info.IsDir() {
		err = os.MkdirAll(target, 0o755)
	} else if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
		err = os.WriteFile(target, nil, 0o644)
	}
	if err != nil {
		return fmt.Errorf("failed to create mount point %s: %w", m.Target, err)
	}
	if err := syscall.Mount(m.Source, target, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("failed to bind %s at %s: %w", m.Source, m.Target, err)
	}
	if m.ReadOnly {
		flags := uintptr(syscall.MS_REMOUNT | syscall.MS_BIND | syscall.MS_RDONLY)
		if err := syscall.Mount("", target, "", flags, ""); err != nil {
			return fmt.Errorf("failed to make %s read-only: %w", m.Target, err)
		}
	}
	return nil
}

// Linux prctl options (linux/prctl.h).
const (
	prSetPdeathsig  = 1
	prCapbsetDrop   = 24
	prSetNoNewPrivs = 38
	prCapAmbient    = 47
	prCapAmbientClr = 4
	lastCap         = 63
)

func prctl(option, arg uintptr) syscall.Errno {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRCTL, option, arg, 0, 0, 0, 0)
	return errno
}

// becomeUser drops every capability from the bounding set, sets
// no_new_privs when privilege escalation is not allowed, and switches to the
// container's uid, gid and groups (which clears the permitted and effective
// sets: a non-root process has no capabilities).
func becomeUser(s containerSpec) error {
	for c := uintptr(0); c <= lastCap; c++ {
		if errno := prctl(prCapbsetDrop, c); errno != 0 && errno != syscall.EINVAL {
			return fmt.Errorf("failed to drop capability %d: %w", c, errno)
		}
	}
	if errno := prctl(prCapAmbient, prCapAmbientClr); errno != 0 && errno != syscall.EINVAL {
		return fmt.Errorf("failed to clear ambient capabilities: %w", errno)
	}
	if s.NoNewPrivs {
		if errno := prctl(prSetNoNewPrivs, 1); errno != 0 {
			return fmt.Errorf("failed to set no_new_privs: %w", errno)
		}
	}
	groups := make([]int, len(s.Groups))
	for i, g := range s.Groups {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("failed to set groups: %w", err)
	}
	if err := syscall.Setgid(int(s.GID)); err != nil {
		return fmt.Errorf("failed to set gid: %w", err)
	}
	if err := syscall.Setuid(int(s.UID)); err != nil {
		return fmt.Errorf("failed to set uid: %w", err)
	}
	// A change of uid clears the parent-death signal; set it again.
	if errno := prctl(prSetPdeathsig, uintptr(syscall.SIGKILL)); errno != 0 {
		return fmt.Errorf("failed to set the parent-death signal: %w", errno)
	}
	syscall.Umask(0o022)
	return nil
}
