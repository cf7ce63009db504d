package caisse

import (
	"errors"
	"slices"
	"strings"
)

// Fixer is an error that says, apart from what went wrong, what to do
// about it: an instruction such as "set CAISSE_SMTP_URL to …". Its message
// is both, "what went wrong: what to do", for the logs and whoever prints
// it whole; caisse doctor shows the two apart, finding the fix through Fix,
// never in the message's words. FixError and DeliveryError are Fixers.
type Fixer interface {
	error
	Fix() string
}

// FixError is an error and what to do about it.
type FixError struct {
	// Err is what went wrong.
	Err error
	// Action is what to do about it.
	Action string
}

// Error implements the error interface.
func (e *FixError) Error() string { return e.Err.Error() + ": " + e.Action }

// Unwrap returns what went wrong.
func (e *FixError) Unwrap() error { return e.Err }

// Fix returns what to do.
func (e *FixError) Fix() string { return e.Action }

// WithFix returns err saying what to do about it; nil for nil.
func WithFix(err error, action string) error {
	if err == nil {
		return nil
	}
	return &FixError{Err: err, Action: action}
}

// Advice is one thing that went wrong and what to do about it.
type Advice struct {
	// Problem is what went wrong: the error's message without its fix.
	Problem string
	// Fix is what to do, "" when the error does not say.
	Fix string
}

// Advise returns what went wrong in err and what to do about it: one
// Advice for each of the errors joined in it (errors.Join), one for any
// other error, none for nil.
func Advise(err error) []Advice {
	if err == nil {
		return nil
	}
	// Joined errors, perhaps wrapped with some context ("X: %w"): each
	// is advised on, with the context.
	for e := err; e != nil; e = errors.Unwrap(e) {
		j, ok := e.(interface{ Unwrap() []error })
		if !ok {
			continue
		}
		prefix := strings.TrimSuffix(err.Error(), e.Error())
		var out []Advice
		for _, m := range j.Unwrap() {
			for _, a := range Advise(m) {
				a.Problem = prefix + a.Problem
				out = append(out, a)
			}
		}
		return out
	}
	var f Fixer
	if !errors.As(err, &f) || f.Fix() == "" {
		return []Advice{{Problem: err.Error()}}
	}
	// The fix ends the message when err wraps it as "context: %w".
	return []Advice{{Problem: strings.TrimSuffix(err.Error(), ": "+f.Fix()), Fix: f.Fix()}}
}

// Fix returns what to do about err, as it says: the fixes of the errors
// joined in it, each once, separated by "; "; "" when it does not say.
func Fix(err error) string {
	var fixes []string
	for _, a := range Advise(err) {
		if a.Fix != "" && !slices.Contains(fixes, a.Fix) {
			fixes = append(fixes, a.Fix)
		}
	}
	return strings.Join(fixes, "; ")
}
