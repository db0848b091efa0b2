package mesh

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a process the suite started: an istiod, or a container.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *tail
	done chan struct{}
	err  error // set before done closes
}

// tail keeps the last tailBytes of a process's output, and all of it in a
// file beside the test's other files for a closer look.
type tail struct {
	mu   sync.Mutex
	buf  []byte
	file *os.File
}

const tailBytes = 64 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file != nil {
		_, _ = t.file.Write(p)
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailBytes {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-tailBytes:]...)
	}
	return len(p), nil
}

// Lines returns the last n lines written.
func (t *tail) Lines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := bytes.Split(bytes.TrimRight(t.buf, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Contains reports whether the kept output contains s.
func (t *tail) Contains(s string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Contains(t.buf, []byte(s))
}

// starts carries every exec.Cmd.Start to one goroutine locked to an OS
// thread that never exits: the kernel sends a child its parent-death signal
// when the thread that forked it ends, and this way that is only when the
// test process ends. No istiod or container outlives a crashed test.
var starts = make(chan func())

func init() {
	go func() {
		runtime.LockOSThread()
		for f := range starts {
			f()
		}
	}()
}

// start runs cmd, keeping its output in logFile and in memory.
func start(name, logFile string, cmd *exec.Cmd) (*proc, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("failed to create log file: %w", err)
	}
	p := &proc{name: name, cmd: cmd, log: &tail{file: f}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	errc := make(chan error, 1)
	starts <- func() { errc <- cmd.Start() }
	if err := <-errc; err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("failed to start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited returns why the process ended, or nil while it runs.
func (p *proc) Exited() error {
	select {
	case <-p.done:
		if p.err == nil {
			return fmt.Errorf("%s exited with status 0", p.name)
		}
		return fmt.Errorf("%s exited: %w", p.name, p.err)
	default:
		return nil
	}
}

// Stop sends SIGTERM, then SIGKILL after a grace period, and waits.
func (p *proc) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Report is the log tail of each process, for a failure message.
func report(procs ...*proc) string {
	var b strings.Builder
	for _, p := range procs {
		if p == nil {
			continue
		}
		state := "running"
		if err := p.Exited(); err != nil {
			state = err.Error()
		}
		fmt.Fprintf(&b, "\n--- %s (%s), last lines:\n%s\n", p.name, state, p.log.Lines(25))
	}
	return b.String()
}

// stepError is a failed step of the suite: which one, and why.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return "step " + e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// failedStep names the step an error happened in.
func failedStep(step string, err error) error {
	if err == nil {
		return nil
	}
	var se *stepError
	if errors.As(err, &se) {
		return err
	}
	return &stepError{step: step, err: err}
}
