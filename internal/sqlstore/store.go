// Package sqlstore is the store both databases share: every query caisse
// makes, written once in SQL that SQLite and PostgreSQL both accept, over a
// small Driver that each database package provides. The sqlite and postgres
// packages hold only what differs: connections, migrations, locking and the
// River driver; package database opens one of them from
// CAISSE_DATABASE_URL.
//
// It must hold SQL and nothing else: no rule (the root package decides), no River
// configuration (payments owns it), no sending, no call to Stripe (payments
// makes them, the checkout's included).
package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
)

// ErrNoRows is what Row.Scan returns when the query found nothing, whatever
// the database.
var ErrNoRows = sql.ErrNoRows

// Querier runs queries written with ? placeholders.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Rows is a query's result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a single-row result; Scan returns ErrNoRows when there is none.
type Row interface {
	Scan(dest ...any) error
}

// Tx is one write transaction.
type Tx interface {
	Querier
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
	// Insert inserts jobs, in this transaction.
	Insert(ctx context.Context, jobs []river.InsertManyParams) error
	// ForUpdate is the clause that makes a SELECT lock the rows it returns
	// until the transaction ends (" FOR UPDATE"), or "" where one writer
	// excludes every other (SQLite).
	ForUpdate() string
	// SkipLocked is the clause that makes a SELECT lock the rows it returns
	// and pass over those another transaction holds (" FOR UPDATE SKIP
	// LOCKED"), or "" where one writer excludes every other (SQLite).
	SkipLocked() string
	// Lock takes locks on keys that last until the transaction ends, so two
	// transactions touching the same Stripe object or order run one after
	// the other, all in one statement and in one global order, so that two
	// transactions locking overlapping keys at once do not deadlock. Where
	// a transaction already excludes every other writer (SQLite), it does
	// nothing.
	Lock(ctx context.Context, keys ...string) error
}

// Driver is what a database provides to the store.
type Driver interface {
	// Begin starts a write transaction.
	Begin(ctx context.Context) (Tx, error)
	// Reader runs reads outside any transaction.
	Reader() Querier
	// Writer runs writes outside any transaction: each statement commits
	// on its own, durably, when it returns.
	Writer(ctx context.Context) (Querier, error)
	// Retryable reports whether an error only means "try the transaction
	// again" (a deadlock or a serialization failure).
	Retryable(err error) bool
	// WritableCTE reports whether one statement may both write and read
	// (WITH … INSERT … RETURNING, then SELECT: PostgreSQL).
	WritableCTE() bool
}

// Store is caisse's store over a Driver.
type Store struct {
	Driver Driver
	// Rules turn facts into orders and stock.
	Rules caisse.Rules
	// Logger receives what the store has to say.
	Logger *slog.Logger
	// Now returns the current time.
	Now func() time.Time
	// PollInterval is how often idle instances look for work another
	// process stored: events, and River's jobs (package payments).
	PollInterval time.Duration
	// RescueAfter is how long work left by a lost process (a crash, a
	// SIGKILL) waits before another instance takes it up.
	RescueAfter time.Duration
	// Retention is how long the payloads of ignored events are kept; their
	// ids are kept for ever, for deduplication.
	Retention time.Duration

	// Statements counts the SQL statements caisse runs (transactions'
	// BEGIN and COMMIT included), for the metrics.
	Statements atomic.Int64

	// Outbox says who the outbox writes rows for.
	Outbox caisse.Recipients

	wroteOutbox atomic.Bool
	outboxWake  chan struct{}
	eventsWake  chan struct{}
}

// NewStore returns a store with caisse's defaults.
func NewStore() *Store {
	return &Store{
		Rules:        caisse.Rules{RestockOnRefund: true, Now: time.Now},
		Logger:       slog.Default(),
		Now:          time.Now,
		PollInterval: time.Second,
		RescueAfter:  time.Minute,
		Retention:    90 * 24 * time.Hour,
		outboxWake:   make(chan struct{}, 1),
		eventsWake:   make(chan struct{}, 1),
	}
}

func (s *Store) now() time.Time { return s.Now().UTC() }

// inTx runs fn in a write transaction and commits it.
func (s *Store) inTx(ctx context.Context, fn func(tx Tx) error) error {
	tx, err := s.Driver.Begin(ctx)
	if err != nil {
		return err
	}
	return s.commitTx(ctx, tx, fn)
}

// commitTx runs fn in tx and commits it, or rolls it back if fn fails.
func (s *Store) commitTx(ctx context.Context, tx Tx, fn func(tx Tx) error) error {
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	s.WakeOutbox()
	return nil
}

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// placeholders returns "?,?,?" for n arguments.
func placeholders(n int) string {
	if n == 0 {
		return "NULL"
	}
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Rebind turns ? placeholders into $1, $2, … for databases that number them.
// caisse's queries hold no ? inside string literals.
func Rebind(query string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// DatabaseID is this database's own id, made once when it was created: it
// tells its emails' Message-IDs from those of any other caisse.
func (s *Store) DatabaseID(ctx context.Context) (string, error) {
	var id string
	if err := s.Driver.Reader().QueryRow(ctx, `SELECT value FROM settings WHERE name = 'database_id'`).Scan(&id); err != nil {
		return "", fmt.Errorf("error reading the database's id: %w", err)
	}
	return id, nil
}

// queryStrings runs a query of one text column and returns its values.
func queryStrings(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
