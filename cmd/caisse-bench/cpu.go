package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procStat is what caisse-bench reads of a process's /proc/PID/stat.
type procStat struct {
	// Comm is the command name, without its parentheses.
	Comm string
	// Utime and Stime are the CPU time the process (all its threads) spent
	// in user and kernel mode, in clock ticks.
	Utime, Stime int64
}

// parseProcStat parses the contents of /proc/PID/stat. The command name sits
// in parentheses and may itself hold spaces and parentheses, so the fields
// are counted from the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("error parsing /proc stat %.40q: no command name in parentheses", s)
	}
	// After ')': state (field 3), ppid, pgrp, session, tty_nr, tpgid, flags,
	// minflt, cminflt, majflt, cmajflt, utime (field 14), stime (field 15).
	f := strings.Fields(s[end+1:])
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("error parsing /proc stat %.40q: %d fields after the command name, want at least 13", s, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return procStat{}, fmt.Errorf("error parsing /proc stat %.40q: %w", s, err)
	}
	return procStat{Comm: s[open+1 : end], Utime: utime, Stime: stime}, nil
}

// readProcStat reads /proc/PID/stat.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

// clockTicks is the length of the clock tick /proc counts CPU time in.
var clockTicks = sync.OnceValue(func() time.Duration {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if n, perr := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && perr == nil && n > 0 {
		return time.Second / time.Duration(n)
	}
	return time.Second / 100 // USER_HZ on every Linux architecture Go supports
})

// ticksToMs converts clock ticks to milliseconds.
func ticksToMs(ticks int64) float64 {
	return float64(ticks) * float64(clockTicks()) / float64(time.Millisecond)
}

// processCPU returns the CPU time, in clock ticks, that process pid has
// spent so far (0 where /proc is not available).
func processCPU(pid int) int64 {
	if pid == 0 {
		return 0
	}
	st, err := readProcStat(pid)
	if err != nil {
		return 0
	}
	return st.Utime + st.Stime
}

// backendPoll is how often backendWatch looks for backends.
const backendPoll = 100 * time.Millisecond

// backendWatch adds up the CPU time of the PostgreSQL backends serving the
// connections that carry one application_name, over a run. PostgreSQL must
// run on this machine, with its processes' /proc readable.
//
// A backend's CPU is read from /proc/PID/stat at every poll, and its last
// value is kept once it exits. A backend that already existed when the watch
// began counts only what it spent since; a backend that started later
// counts in full, its connection start included. A backend that starts and
// exits between two polls is missed.
type backendWatch struct {
	db  *sql.DB
	app string

	mu       sync.Mutex
	seen     map[backendKey]*backendTicks
	foreign  int   // backends whose PID is not a local postgres process
	pollErr  error // the first failed poll
	done     chan struct{}
	finished sync.WaitGroup
}

// backendKey names a backend: its PID, and when it started, since PIDs are
// reused.
type backendKey struct {
	pid   int
	start time.Time
}

// backendTicks is one backend's CPU, in clock ticks.
type backendTicks struct {
	first, last int64
	before      bool // it existed when the watch began
}

// watchBackends starts watching the backends whose application_name is app,
// through db, a connection to the same PostgreSQL server.
func watchBackends(ctx context.Context, db *sql.DB, app string) (*backendWatch, error) {
	w := &backendWatch{db: db, app: app, seen: map[backendKey]*backendTicks{}, done: make(chan struct{})}
	if err := w.poll(ctx, true); err != nil {
		return nil, err
	}
	w.finished.Add(1)
	go func() {
		defer w.finished.Done()
		t := time.NewTicker(backendPoll)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := w.poll(ctx, false); err != nil && !errors.Is(err, context.Canceled) {
					w.mu.Lock()
					if w.pollErr == nil {
						w.pollErr = err
					}
					w.mu.Unlock()
				}
			}
		}
	}()
	return w, nil
}

// poll reads the CPU of every backend serving w.app now.
func (w *backendWatch) poll(ctx context.Context, initial bool) error {
	rows, err := w.db.QueryContext(ctx, `SELECT pid, backend_start FROM pg_stat_activity WHERE application_name = $1`, w.app)
	if err != nil {
		return fmt.Errorf("error listing PostgreSQL backends in pg_stat_activity: %w", err)
	}
	var keys []backendKey
	for rows.Next() {
		var k backendKey
		if err := rows.Scan(&k.pid, &k.start); err != nil {
			rows.Close()
			return fmt.Errorf("error listing PostgreSQL backends in pg_stat_activity: %w", err)
		}
		keys = append(keys, k)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("error listing PostgreSQL backends in pg_stat_activity: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range keys {
		st, err := readProcStat(k.pid)
		if errors.Is(err, fs.ErrNotExist) {
			continue // it exited since the query; its last value is kept
		}
		if err != nil || st.Comm != "postgres" {
			// PostgreSQL runs on another machine or in another PID
			// namespace: this PID is not its backend.
			w.foreign++
			continue
		}
		ticks := st.Utime + st.Stime
		if b := w.seen[k]; b != nil {
			b.last = ticks
		} else {
			w.seen[k] = &backendTicks{first: ticks, last: ticks, before: initial}
		}
	}
	return nil
}

// Stop polls a last time and returns the CPU the backends spent since the
// watch began, in clock ticks, and how many backends were seen.
func (w *backendWatch) Stop(ctx context.Context) (ticks int64, backends int, err error) {
	close(w.done)
	w.finished.Wait()
	err = w.poll(ctx, false)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pollErr != nil {
		err = w.pollErr
	}
	if w.foreign > 0 && len(w.seen) == 0 {
		err = errors.Join(err, fmt.Errorf("the PostgreSQL backends of %s are not processes of this machine (PostgreSQL runs elsewhere, or in a container): their CPU is left out", w.app))
	}
	for _, b := range w.seen {
		if b.before {
			ticks += b.last - b.first
		} else {
			ticks += b.last
		}
	}
	return ticks, len(w.seen), err
}
