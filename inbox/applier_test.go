package inbox

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// An event's attempts wait longer and longer, about attempts⁴ seconds
// give or take a tenth, and never more than a day and a tenth.
func TestEventBackoff(t *testing.T) {
	for attempts, want := range map[int]time.Duration{
		0: time.Second, 1: time.Second, 2: 16 * time.Second, 5: 625 * time.Second, 9: 6561 * time.Second, 40: 24 * time.Hour, 1 << 20: 24 * time.Hour,
	} {
		for range 50 {
			got := EventBackoff(attempts)
			if got < want*9/10 || got > want*11/10 {
				t.Fatalf("after %d attempts: wait %v, want %v give or take a tenth", attempts, got, want)
			}
		}
	}
	in := &Inbox{Backoff: func(int) time.Duration { return time.Millisecond }}
	if got := in.backoff(7); got != time.Millisecond {
		t.Fatalf("a set Backoff is not used: %v", got)
	}
}

// What a failure says is stored in a text column: valid UTF-8, at most
// 2,000 bytes, never cut inside a character.
func TestFailureTextFitsItsColumn(t *testing.T) {
	long := errors.New(strings.Repeat("é", 1500) + "\xff")
	got := failureText(long)
	if len(got) > 2000 || !utf8.ValidString(got) || !strings.HasPrefix(got, "éé") {
		t.Fatalf("failure text of %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	if got := failureText(errors.New("bad \xff byte")); got != "bad \uFFFD byte" {
		t.Fatalf("failure text %q", got)
	}
}
