// Package poll is how tests wait for a condition the code under test exposes
// no signal for: it checks the condition on a ticker until it holds, and
// fails the test at a deadline, saying what did not happen. It is the one
// place a test waits by polling; a test that can wait on a channel, a hook
// or a log line waits on that instead.
package poll

import (
	"testing"
	"time"
)

// Tick is how often Until checks its condition.
const Tick = 10 * time.Millisecond

// Until checks cond every Tick until it returns nil, and fails t (from
// the calling goroutine) if it has not within the given time: the message
// is cond's last error, which says what is awaited and what was seen. It
// checks cond at once, so a condition already true costs no wait.
func Until(t testing.TB, within time.Duration, cond func() error) {
	t.Helper()
	UntilEvery(t, within, Tick, cond)
}

// UntilEvery is Until for a condition that costs something to check (a
// query, a page of the admin API): it checks it every so often instead.
func UntilEvery(t testing.TB, within, every time.Duration, cond func() error) {
	t.Helper()
	if err := wait(within, every, cond); err != nil {
		t.Fatalf("not within %s: %v", within, err)
	}
}

// Wait is Until for goroutines other than the test's: it returns cond's
// last error at the deadline instead of failing a test, nil once cond
// holds.
func Wait(within time.Duration, cond func() error) error {
	return wait(within, Tick, cond)
}

func wait(within, every time.Duration, cond func() error) error {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			// One last look: the condition may have come true while
			// the ticker waited.
			return cond()
		}
	}
}

// Lazy is an error whose message is worked out only when it is read: a
// condition's error that costs something to say (the logs, a query), read
// only if the test fails.
type Lazy func() string

func (l Lazy) Error() string { return l() }
