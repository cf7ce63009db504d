package main

import (
	"os"
	"testing"
)

// The fields of /proc/PID/stat are counted from the last ')', since the
// command name between the parentheses may hold spaces and parentheses.
func TestParseProcStat(t *testing.T) {
	t.Parallel()
	const tail = " S 16037 17181 17181 0 -1 4194368 572 0 0 0 1234 56 0 0 20 0 1 0 643189 224620544 4354"
	for _, tc := range []struct {
		stat    string
		want    procStat
		wantErr bool
	}{
		{"17181 (postgres)" + tail, procStat{Comm: "postgres", Utime: 1234, Stime: 56}, false},
		{"42 (tmux: server)" + tail, procStat{Comm: "tmux: server", Utime: 1234, Stime: 56}, false},
		{"42 (a) S 1 2 (b))" + tail, procStat{Comm: "a) S 1 2 (b)", Utime: 1234, Stime: 56}, false},
		{"42 ())" + tail + "\n", procStat{Comm: ")", Utime: 1234, Stime: 56}, false},
		{"42 ()" + tail, procStat{Comm: "", Utime: 1234, Stime: 56}, false},
		{"42 postgres" + tail, procStat{}, true},
		{"42 )postgres(" + tail, procStat{}, true},
		{"42 (postgres) S 1 2 3", procStat{}, true},
		{"42 (postgres) S 16037 17181 17181 0 -1 4194368 572 0 0 0 x 56", procStat{}, true},
		{"", procStat{}, true},
	} {
		got, err := parseProcStat([]byte(tc.stat))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseProcStat(%q) = %+v, %v; want %+v (error: %v)", tc.stat, got, err, tc.want, tc.wantErr)
		}
	}
}

// A process's own /proc/PID/stat parses, and its CPU only grows.
func TestProcessCPU(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	st, err := readProcStat(os.Getpid())
	if err != nil || st.Comm == "" || st.Utime < 0 || st.Stime < 0 {
		t.Fatalf("readProcStat(self) = %+v, %v", st, err)
	}
	before := processCPU(os.Getpid())
	n := 0
	for i := range 50_000_000 {
		n += i % 7
	}
	if after := processCPU(os.Getpid()); after < before || n == 0 {
		t.Errorf("CPU went from %d to %d ticks", before, after)
	}
	if processCPU(0) != 0 {
		t.Errorf("processCPU(0) should be 0: no process")
	}
	if ms := ticksToMs(100); ms <= 0 {
		t.Errorf("100 clock ticks = %v ms", ms)
	}
}
