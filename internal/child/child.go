// Package child starts a caisse server as a separate process and waits until
// it listens, for the tests that run several instances and for caisse-bench.
package child

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ListeningMessage is the message of the JSON log line a server writes to
// its standard error once it accepts connections, with its address in the
// "addr" field: `caisse serve` writes it, and so does caisse-bench's
// verify-only server.
const ListeningMessage = "caisse is listening"

// startTimeout is how long a server may take to start listening.
const startTimeout = 60 * time.Second

// Process is a running server process.
type Process struct {
	// Cmd is the process.
	Cmd *exec.Cmd
	// URL is http://host:port it listens on.
	URL string
	// Exit receives the process's end.
	Exit chan error
}

// Start starts `exe args…` with env added to this process's environment,
// copies its log lines to logs, and returns once it writes ListeningMessage.
// A process that exits first, or is not listening within a minute, is an
// error (and is killed).
func Start(exe string, args, env []string, logs io.Writer) (*Process, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("error starting %s: %w", exe, err)
	}
	p := &Process{Cmd: cmd, Exit: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			logs.Write(append(bytes.Clone(line), '\n'))
			var l struct{ Msg, Addr string }
			if json.Unmarshal(line, &l) == nil && l.Msg == ListeningMessage {
				select {
				case addr <- l.Addr:
				default:
				}
			}
		}
		p.Exit <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		p.URL = "http://" + a
		return p, nil
	case err := <-p.Exit:
		return nil, fmt.Errorf("%s exited before listening: %v", exe, err)
	case <-time.After(startTimeout):
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s did not start listening within %s", exe, startTimeout)
	}
}

// RSS returns the process's resident memory now and at its peak, in MiB
// (0 where /proc is not available).
func (p *Process) RSS() (now, peak float64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			now = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return now, peak
}
