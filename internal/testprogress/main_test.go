package main

import (
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	clock := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	for _, c := range []struct {
		name   string
		events string
		status int
		want   []string
		not    []string
	}{
		{name: "all pass", status: 0, events: `{"Action":"start","Package":"github.com/caisse/caisse/http"}
{"Action":"run","Package":"github.com/caisse/caisse/http","Test":"TestA"}
{"Action":"output","Package":"github.com/caisse/caisse/http","Test":"TestA","Output":"noise\n"}
{"Action":"pass","Package":"github.com/caisse/caisse/http","Test":"TestA/sub","Elapsed":0.1}
{"Action":"pass","Package":"github.com/caisse/caisse/http","Test":"TestA","Elapsed":0.25}
{"Action":"output","Package":"github.com/caisse/caisse/http","Test":"TestB","Output":"    db.go:3: no PostgreSQL: set CAISSE_TEST_POSTGRES_URL\n"}
{"Action":"output","Package":"github.com/caisse/caisse/http","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}
{"Action":"skip","Package":"github.com/caisse/caisse/http","Test":"TestB"}
{"Action":"pass","Package":"github.com/caisse/caisse/http","Elapsed":1.5}
{"Action":"pass","Package":"github.com/caisse/caisse","Elapsed":0.5}
{"Action":"skip","Package":"github.com/caisse/caisse/internal/child"}`,
			want: []string{"PASS http.TestA (0.25s)\n", "SKIP http.TestB: db.go:3: no PostgreSQL: set CAISSE_TEST_POSTGRES_URL\n",
				"ok   http (1.5s)\n", "ok   caisse (0.5s)\n", "2 tests passed, 0 failed, 1 skipped, in 2 packages"},
			not: []string{"noise", "TestA/sub", "internal/child"}},
		{name: "a test fails", status: 1, events: `{"Action":"output","Package":"github.com/caisse/caisse/inbox","Test":"TestX","Output":"    x_test.go:9: want 2, got 3\n"}
{"Action":"fail","Package":"github.com/caisse/caisse/inbox","Test":"TestX","Elapsed":0.01}
{"Action":"fail","Package":"github.com/caisse/caisse/inbox","Elapsed":0.2}`,
			want: []string{"FAIL inbox.TestX (0.01s)\n    x_test.go:9: want 2, got 3\n", "FAIL inbox (0.2s)", "FAILED: inbox.TestX, inbox"}},
		{name: "a package does not build", status: 1, events: `{"ImportPath":"github.com/caisse/caisse/http","Action":"build-output","Output":"http/x.go:1:1: syntax error\n"}
{"ImportPath":"github.com/caisse/caisse/http","Action":"build-fail"}
FAIL	github.com/caisse/caisse/http [build failed]`,
			want: []string{"http/x.go:1:1: syntax error\n", "FAIL\tgithub.com/caisse/caisse/http [build failed]", "FAILED: github.com/caisse/caisse/http (build)"}},
		{name: "a test binary panics", status: 1, events: `{"Action":"output","Package":"github.com/caisse/caisse/outbox","Output":"panic: boom\n"}
{"Action":"fail","Package":"github.com/caisse/caisse/outbox","Elapsed":0.1}`,
			want: []string{"panic: boom\nFAIL outbox (0.1s)"}},
		{name: "nothing ran", status: 1, events: ``, want: []string{"no test ran"}},
		{name: "a test times out", status: 1, events: `{"Action":"start","Package":"github.com/caisse/caisse/outbox"}
{"Action":"run","Package":"github.com/caisse/caisse/outbox","Test":"TestSlow"}
{"Action":"output","Package":"github.com/caisse/caisse/outbox","Test":"TestSlow","Output":"panic: test timed out after 2s\n"}
{"Action":"fail","Package":"github.com/caisse/caisse/outbox","Elapsed":2}`,
			want: []string{"FAIL outbox.TestSlow (did not finish)\npanic: test timed out after 2s\n", "0 tests passed, 1 failed", "FAILED: outbox.TestSlow, outbox"}},
		{name: "go test is killed", status: 1, events: `{"Action":"start","Package":"github.com/caisse/caisse/http"}
{"Action":"start","Package":"github.com/caisse/caisse/inbox"}
{"Action":"pass","Package":"github.com/caisse/caisse/inbox","Elapsed":0.1}
{"Action":"run","Package":"github.com/caisse/caisse/http","Test":"TestA"}`,
			want: []string{"FAILED: http (did not finish)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out strings.Builder
			if status := run(strings.NewReader(c.events), &out, now); status != c.status {
				t.Errorf("exit status %d, want %d", status, c.status)
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range c.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("output shows %q:\n%s", n, out.String())
				}
			}
		})
	}
}
