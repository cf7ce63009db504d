package sqlite

import (
	"context"
	sqldriver "database/sql/driver"
	"errors"
	"strings"

	"modernc.org/sqlite"
)

// maxCachedStatements bounds each connection's statement cache. caisse and
// River run a few dozen distinct statements; queries with IN lists of
// varying length add some more. Past the bound, statements are prepared
// for each use, as without the cache.
const maxCachedStatements = 512

// connector opens SQLite connections that keep their prepared statements.
//
// Why: the driver parses and plans every statement it is given afresh, and
// database/sql reuses a prepared statement only when the caller prepared it.
// Neither caisse's queries nor River's are prepared by their callers, so
// without this a third of the CPU spent on an event went to parsing the same
// SQL again (see BenchmarkProcess with -cpuprofile).
type connector struct {
	dsn    string
	driver *sqlite.Driver
}

func (c connector) Connect(context.Context) (sqldriver.Conn, error) {
	conn, err := c.driver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(sqliteConn)
	if !ok {
		conn.Close()
		return nil, errors.New("the SQLite driver's connections lack the methods caisse uses")
	}
	return &cachingConn{sqliteConn: inner, stmts: map[string]*cachedStmt{}}, nil
}

func (c connector) Driver() sqldriver.Driver { return c.driver }

// sqliteConn is what the SQLite driver's connections provide.
type sqliteConn interface {
	sqldriver.Conn
	sqldriver.ConnBeginTx
	sqldriver.ConnPrepareContext
	sqldriver.ExecerContext
	sqldriver.QueryerContext
	sqldriver.Pinger
	sqldriver.SessionResetter
	sqldriver.Validator
}

// cachedStmt is a prepared statement and whether a result set still reads
// from it.
type cachedStmt struct {
	stmt interface {
		sqldriver.Stmt
		sqldriver.StmtExecContext
		sqldriver.StmtQueryContext
	}
	busy bool
}

// cachingConn runs Exec and Query through statements prepared once per
// connection. database/sql never uses one connection from two goroutines at
// once, so the cache needs no lock; a statement whose rows are still open
// (a query run while iterating the same query) is not reused until they close.
type cachingConn struct {
	sqliteConn
	stmts map[string]*cachedStmt
}

// statement returns the connection's prepared statement for query, or nil
// when it cannot be cached (a script of several statements, a full cache,
// or the statement is in use).
func (c *cachingConn) statement(ctx context.Context, query string) (*cachedStmt, error) {
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil, nil
		}
		return s, nil
	}
	// A script runs statement by statement in the driver; leave it to it.
	if len(c.stmts) >= maxCachedStatements || strings.Contains(strings.TrimRight(query, "; \t\n"), ";") {
		return nil, nil
	}
	ds, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(interface {
		sqldriver.Stmt
		sqldriver.StmtExecContext
		sqldriver.StmtQueryContext
	})
	if !ok {
		ds.Close()
		return nil, nil
	}
	s := &cachedStmt{stmt: st}
	c.stmts[query] = s
	return s, nil
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []sqldriver.NamedValue) (sqldriver.Result, error) {
	s, err := c.statement(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	return s.stmt.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []sqldriver.NamedValue) (sqldriver.Rows, error) {
	s, err := c.statement(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := s.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.busy = true
	return &cachedRows{Rows: rows, stmt: s}, nil
}

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	var errs []error
	for q, s := range c.stmts {
		errs = append(errs, s.stmt.Close())
		delete(c.stmts, q)
	}
	errs = append(errs, c.sqliteConn.Close())
	return errors.Join(errs...)
}

// cachedRows frees its statement for reuse once closed.
type cachedRows struct {
	sqldriver.Rows
	stmt *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.stmt.busy = false
	return err
}
