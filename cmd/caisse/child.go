package main

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

// child is a `caisse serve` process started by another command (bench) or
// by the tests.
type child struct {
	Cmd  *exec.Cmd
	URL  string     // http://host:port it listens on
	Exit chan error // receives the process's end
}

// startChild starts `exe serve args…` with env added to this process's
// environment, copies its log lines to logs, and returns once it listens.
func startChild(exe string, env []string, logs io.Writer, args ...string) (*child, error) {
	cmd := exec.Command(exe, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{Cmd: cmd, Exit: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			logs.Write(append(bytes.Clone(line), '\n'))
			var l struct{ Msg, Addr string }
			if json.Unmarshal(line, &l) == nil && l.Msg == "caisse is listening" {
				addr <- l.Addr
			}
		}
		c.Exit <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		c.URL = "http://" + a
		return c, nil
	case err := <-c.Exit:
		return nil, fmt.Errorf("caisse exited before listening: %v", err)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("caisse did not start listening within a minute")
	}
}

// RSS returns the process's resident memory now and at its peak, in MiB.
func (c *child) RSS() (now, peak float64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.Cmd.Process.Pid) + "/status")
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
