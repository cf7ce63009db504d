// Package postgres runs caisse on PostgreSQL, for a shop that runs several
// caisse instances on one database. River coordinates the instances' workers;
// transaction-scoped advisory locks serialize the processing of events about
// the same Stripe objects and orders, and conditional updates keep stock
// right under concurrent transactions.
//
// It holds only what PostgreSQL does differently: its connections, its
// migrations, its locks and River's pgx driver. It must not repeat a query
// the sqlite package also runs (shared SQL lives in internal/sqlstore), nor
// be opened other than through package database.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/queue"
	"github.com/caisse/caisse/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Engine is a PostgreSQL database, as the store and River's client use it.
type Engine struct {
	store *sqlstore.Store
	// url is the connection string (postgres://…).
	url string

	pool  *pgxpool.Pool
	sqldb *sql.DB
	jobs  *queue.Queue[pgx.Tx]
}

// New returns the database at url as s's: s runs its queries on it once
// Open has connected.
func New(s *sqlstore.Store, url string) *Engine {
	e := &Engine{store: s, url: url}
	s.Driver = driver{e}
	return e
}

// OneWriter is false: PostgreSQL takes concurrent writers.
func (e *Engine) OneWriter() bool { return false }

// Open connects to the database, with room in the pool for writers of
// caisse's at once beside webhook requests and River's own work, and opens
// River's client on it with config. It does not migrate.
func (e *Engine) Open(ctx context.Context, config *river.Config, writers int) (_ queue.Jobs, err error) {
	cfg, err := pgxpool.ParseConfig(e.url)
	if err != nil {
		// The parser's message may quote the URL, password and all: leave it out.
		return nil, fmt.Errorf("CAISSE_DATABASE_URL is not a valid PostgreSQL URL; write it as postgres://user:password@host:5432/database")
	}
	if !strings.Contains(e.url, "pool_max_conns") {
		cfg.MaxConns = int32(max(writers, 2) + 16)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !ok && e.store.RescueAfter > 0 {
		// A transaction left open by a frozen process ends after the rescue
		// delay, and with it the locks on the events it claimed: other
		// instances take them up. (A process that dies closes its
		// connections, and the server ends its transactions at once.)
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(e.store.RescueAfter.Milliseconds(), 10)
	}
	e.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("error connecting to PostgreSQL: %w", err)
	}
	if err := e.pool.Ping(ctx); err != nil {
		e.pool.Close()
		return nil, fmt.Errorf("error connecting to PostgreSQL at %s: %w", cfg.ConnConfig.Host, err)
	}
	e.sqldb = stdlib.OpenDBFromPool(e.pool)
	if e.jobs, err = queue.New(riverpgxv5.New(e.pool), config); err != nil {
		e.Close()
		return nil, err
	}
	return e.jobs, nil
}

// migrationLock is the advisory lock that makes instances starting together
// migrate one at a time.
const migrationLock = 0x63616973 // "cais"

// Migrate brings the schema up to date: River's tables, then caisse's. Several
// instances may call it at once; they take turns.
func (e *Engine) Migrate(ctx context.Context) error {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("error migrating: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("error waiting for other instances' migrations: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)

	p, err := e.Migrations()
	if err != nil {
		return err
	}
	return queue.Migrate(ctx, riverpgxv5.New(e.pool), p)
}

// Migrations are caisse's migrations for PostgreSQL. They take no goose
// session lock: Migrate already holds migrationLock, and goose's own lock
// polls every few seconds, slowing instances that start together.
func (e *Engine) Migrations() (*goose.Provider, error) {
	return sqlstore.Goose(goose.DialectPostgres, e.sqldb, migrations)
}

// Ping reports an error when the server does not answer.
func (e *Engine) Ping(ctx context.Context) error {
	if err := e.pool.Ping(ctx); err != nil {
		return fmt.Errorf("%w: %w", caisse.ErrUnreachable, err)
	}
	return nil
}

// Close closes the pool.
func (e *Engine) Close() error {
	var err error
	if e.sqldb != nil {
		err = e.sqldb.Close()
	}
	if e.pool != nil {
		e.pool.Close()
	}
	return err
}

// driver gives the shared store PostgreSQL's pool and River's pgx driver.
type driver struct{ db *Engine }

func (d driver) Begin(ctx context.Context) (sqlstore.Tx, error) {
	d.db.store.Statements.Add(1)
	tx, err := d.db.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &pgTx{querier: querier{tx, &d.db.store.Statements}, tx: tx, river: d.db.jobs.Client}, nil
}

func (d driver) Reader() sqlstore.Querier { return querier{d.db.pool, &d.db.store.Statements} }

// Writer runs each statement on the pool in a transaction of its own.
func (d driver) Writer(context.Context) (sqlstore.Querier, error) {
	return querier{d.db.pool, &d.db.store.Statements}, nil
}

// Retryable reports deadlocks, serialization failures and lock timeouts:
// the transaction lost a race and only needs to run again.
func (d driver) Retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40P01", "40001", "55P03":
			return true
		}
	}
	return false
}

// WritableCTE is true: a WITH clause may insert, and the statement read.
func (d driver) WritableCTE() bool { return true }

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// querier runs the shared store's queries with pgx, numbering their
// placeholders.
type querier struct {
	e execer
	n *atomic.Int64 // statements run, for the metrics
}

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	q.n.Add(1)
	tag, err := q.e.Exec(ctx, sqlstore.Rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	q.n.Add(1)
	return q.e.Query(ctx, sqlstore.Rebind(query), args...)
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	q.n.Add(1)
	return row{q.e.QueryRow(ctx, sqlstore.Rebind(query), args...)}
}

type row struct{ pgx.Row }

func (r row) Scan(dest ...any) error {
	if err := r.Row.Scan(dest...); errors.Is(err, pgx.ErrNoRows) {
		return sqlstore.ErrNoRows
	} else {
		return err
	}
}

type pgTx struct {
	querier
	tx    pgx.Tx
	river *river.Client[pgx.Tx]
}

func (t *pgTx) Commit(ctx context.Context) error   { t.n.Add(1); return t.tx.Commit(ctx) }
func (t *pgTx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// SkipLocked locks the rows a SELECT returns and passes over those another
// transaction holds, so instances claiming work never take the same rows.
func (t *pgTx) SkipLocked() string { return " FOR UPDATE SKIP LOCKED" }

// ForUpdate locks the rows a SELECT returns until the transaction ends.
func (t *pgTx) ForUpdate() string { return " FOR UPDATE" }

// Lock takes a transaction-scoped advisory lock per key, all in one
// statement, in the order of the keys' hashes, so two transactions locking
// overlapping keys at once take them in the same order and do not
// deadlock. Advisory locks are database-wide, so the key carries the
// schema: shops in different schemas of one database never wait on each
// other.
func (t *pgTx) Lock(ctx context.Context, keys ...string) error {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) == 0 {
		return nil
	}
	t.n.Add(1)
	_, err := t.tx.Exec(ctx, `SELECT count(pg_advisory_xact_lock(h)) FROM (
		SELECT DISTINCT hashtextextended(current_schema() || ':' || k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS locks`, keys)
	return err
}

func (t *pgTx) Insert(ctx context.Context, jobs []river.InsertManyParams) error {
	// InsertManyFastTx, not Insert: the jobs must commit with the rest of
	// the transaction.
	_, err := t.river.InsertManyFastTx(ctx, t.tx, jobs)
	return err
}
