package poll_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caisse/caisse/internal/poll"
)

func TestWaitReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	err := poll.Wait(time.Minute, func() error {
		if calls.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls.Load() != 3 {
		t.Fatalf("Wait: %v after %d checks, want nil after 3", err, calls.Load())
	}
}

func TestWaitReturnsTheLastErrorAtTheDeadline(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	err := poll.Wait(3*poll.Tick, func() error {
		return fmt.Errorf("check %d: the order is still pending", calls.Add(1))
	})
	if err == nil || !strings.Contains(err.Error(), "the order is still pending") {
		t.Fatalf("Wait: %v, want the condition's last error", err)
	}
	if want := fmt.Sprintf("check %d:", calls.Load()); !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Wait: %v, want the last check's error (%s)", err, want)
	}
}

// fatal records a Fatalf instead of ending the test.
type fatal struct {
	testing.TB
	msg string
}

func (f *fatal) Helper() {}
func (f *fatal) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
}

func TestUntilFailsSayingWhatDidNotHappen(t *testing.T) {
	t.Parallel()
	f := &fatal{TB: t}
	poll.Until(f, 2*poll.Tick, func() error { return errors.New("the stock is 5, want 4") })
	if !strings.Contains(f.msg, "the stock is 5, want 4") || !strings.Contains(f.msg, "20ms") {
		t.Fatalf("Until failed with %q, want the condition's error and the time waited", f.msg)
	}
}
