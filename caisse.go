// Package caisse holds the domain of a shop's payments: orders, products,
// Stripe events and the facts they carry, and the pure rules that turn facts
// into order status and stock holds. It does no I/O; package database stores
// it, the stripe package decodes events into it, and the http package serves it.
//
// It must not do I/O or know a database, an HTTP request or a channel: what it needs
// from them it names as an interface (Ledger, StripeAPI, Sender) that others implement.
package caisse

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error codes. Each maps to one HTTP status at the edge (http package).
const (
	ECONFLICT     = "conflict"           // the request conflicts with the current state
	EINTERNAL     = "internal"           // something went wrong inside caisse
	EINVALID      = "invalid"            // the request is malformed or fails validation
	ENOTFOUND     = "not_found"          // the thing asked for does not exist
	EUNAUTHORIZED = "unauthorized"       // missing or wrong credentials
	EUNAVAILABLE  = "unavailable"        // storage cannot be reached right now
	EUPSTREAM     = "upstream"           // Stripe refused or failed a request caisse made
	ETOOMANY      = "too_many"           // the client sent too many requests lately
	EFORBIDDEN    = "forbidden"          // the client may not have this, whatever credentials it sends
	EMETHOD       = "method_not_allowed" // the route takes other methods
	ETOOLARGE     = "too_large"          // the request's body is larger than the route takes
)

// Why a database is not ready, whatever the database: errors.Is tells them
// apart, for the readiness probe, caisse doctor and the commands, which
// must never read an error's words to decide.
var (
	// ErrUnreachable: the database does not answer.
	ErrUnreachable = errors.New("database unreachable")
	// ErrMigrationsPending: the schema is older than this caisse.
	ErrMigrationsPending = errors.New("migrations are pending")
	// ErrNoWrites: the database answers but refuses writes (a full disk, a
	// read-only user).
	ErrNoWrites = errors.New("database does not take writes")
	// ErrDatabaseReplaced: the SQLite file caisse opened was deleted or
	// replaced while it ran.
	ErrDatabaseReplaced = errors.New("the database file was deleted or replaced")
)

// Error is caisse's application error: a stable code and a message written for
// the person who will read it.
type Error struct {
	Code    string
	Message string
	// Reason, when set, is a more precise stable code shown to the client
	// instead of Code (such as not_available, or Stripe's own error code).
	Reason string
	// Products names the products the error is about, when it is about some.
	Products []string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("caisse error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an application error, or EINTERNAL for any
// other error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of an application error, or a generic
// message for any other error, so internal details never reach a response.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// Clip returns a text as it can be stored and shown: valid UTF-8 (a
// PostgreSQL text refuses anything else) and at most n bytes, cut between
// two characters.
func Clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Page asks for one page of a list, newest first.
type Page struct {
	// Limit is the number of items to return (1..1000, default 100).
	Limit int
	// StartingAfter is the id of the last item of the previous page.
	StartingAfter string
}

// Normalize applies the default limit and checks the bounds.
func (p *Page) Normalize() error {
	if p.Limit == 0 {
		p.Limit = 100
	}
	if p.Limit < 1 || p.Limit > 1000 {
		return Errorf(EINVALID, "limit must be between 1 and 1000, got %d", p.Limit)
	}
	return nil
}
