package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/caisse/caisse"
)

// process applies one event in one transaction and records the result.
func (db *DB) process(ctx context.Context, job *river.Job[ProcessEventArgs]) (err error) {
	start := time.Now()
	var ev *caisse.Event
	var outcome caisse.Outcome
	var status caisse.EventStatus
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("processing panicked: %v", r)
		}
		if err != nil {
			status = db.recordFailure(ctx, job, err)
			if ev == nil {
				ev = &caisse.Event{ID: job.Args.EventID}
			}
		}
		db.report(ProcessReport{Event: ev, Status: status, Err: err, Duration: time.Since(start), Outcome: outcome})
	}()
	ev, outcome, status, err = db.processTx(ctx, job)
	return err
}

func (db *DB) processTx(ctx context.Context, job *river.Job[ProcessEventArgs]) (*caisse.Event, caisse.Outcome, caisse.EventStatus, error) {
	var outcome caisse.Outcome
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, outcome, "", fmt.Errorf("error starting to process event %s: %w", job.Args.EventID, err)
	}
	defer tx.Rollback()
	ev, err := findEvent(ctx, tx, job.Args.EventID)
	if caisse.ErrorCode(err) == caisse.ENOTFOUND {
		return nil, outcome, "", river.JobCancel(err)
	} else if err != nil {
		return nil, outcome, "", err
	}
	status := ev.Status
	// A job for an event that is already done (a replay raced a retry) only
	// completes; processing is idempotent anyway, this just saves the work.
	if status != caisse.EventProcessed && status != caisse.EventIgnored {
		ef, err := db.Decode(ev)
		if err != nil {
			return ev, outcome, "", err
		}
		status = caisse.EventProcessed
		if ef.Ignored {
			status = caisse.EventIgnored
		} else if outcome, err = db.Rules.Apply(ctx, &ledger{tx: tx, now: db.now()}, ev, ef); err != nil {
			return ev, outcome, "", fmt.Errorf("error applying event %s: %w", ev.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE events SET status = ?, attempts = attempts + 1, last_error = '' WHERE id = ?`,
			status, ev.ID); err != nil {
			return ev, outcome, "", fmt.Errorf("error marking event %s %s: %w", ev.ID, status, err)
		}
	}
	// The job completes in the same transaction as its effects: a crash can
	// leave both or neither, never effects with a job to run again.
	if _, err := river.JobCompleteTx[*riversqlite.Driver](ctx, tx, job); err != nil {
		return ev, outcome, "", fmt.Errorf("error completing the job of event %s: %w", ev.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return ev, outcome, "", fmt.Errorf("error committing event %s: %w", ev.ID, err)
	}
	ev.Status = status
	if outcome.OrderID != "" {
		ev.OrderID = outcome.OrderID
	}
	return ev, outcome, status, nil
}

// recordFailure counts a failed attempt on the event, and makes it a dead
// letter after the last attempt. It returns the event's new status.
func (db *DB) recordFailure(ctx context.Context, job *river.Job[ProcessEventArgs], cause error) caisse.EventStatus {
	status := caisse.EventPending
	if job.Attempt >= job.MaxAttempts {
		status = caisse.EventFailed
	}
	msg := cause.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	ctx = context.WithoutCancel(ctx)
	if _, err := db.write.ExecContext(ctx, `UPDATE events SET status = ?, attempts = attempts + 1, last_error = ? WHERE id = ?`,
		status, msg, job.Args.EventID); err != nil {
		db.Logger.Error("could not record a failed attempt", "event_id", job.Args.EventID, "error", err.Error())
	}
	return status
}

func (db *DB) report(r ProcessReport) {
	attrs := []any{"event_id", r.Event.ID, "type", r.Event.Type, "order_id", r.Event.OrderID,
		"outcome", string(r.Status), "duration_ms", float64(r.Duration.Microseconds()) / 1000}
	switch {
	case r.Err != nil && r.Status == caisse.EventFailed:
		db.Logger.Error("event failed for good: it is a dead letter now, fix the cause and replay it",
			append(attrs, "error", r.Err.Error())...)
	case r.Err != nil:
		db.Logger.Warn("event processing failed, will retry", append(attrs, "error", r.Err.Error())...)
	default:
		db.Logger.Info("event processed", attrs...)
	}
	for _, id := range r.Outcome.Oversold {
		db.Logger.Warn("double-sale attempt: order was paid but no stock was left for it",
			"event_id", r.Event.ID, "order_id", id, "outcome", "oversold")
	}
	if db.Processed != nil {
		db.Processed(r)
	}
}

// ledger is one processing transaction, as caisse.Rules needs it.
type ledger struct {
	tx  *sql.Tx
	now time.Time
}

var _ caisse.Ledger = (*ledger)(nil)

func (l *ledger) queryFacts(ctx context.Context, query string, args ...any) ([]caisse.LinkedFact, error) {
	rows, err := l.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("error reading facts: %w", err)
	}
	defer rows.Close()
	var out []caisse.LinkedFact
	for rows.Next() {
		var f caisse.LinkedFact
		var data []byte
		if err := rows.Scan(&f.OrderID, &data); err != nil {
			return nil, fmt.Errorf("error reading facts: %w", err)
		}
		if err := json.Unmarshal(data, &f.Fact); err != nil {
			return nil, fmt.Errorf("error reading facts: %w", err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (l *ledger) Facts(ctx context.Context, ids []string) ([]caisse.LinkedFact, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return l.queryFacts(ctx, `SELECT order_id, data FROM facts WHERE id IN (`+placeholders(len(ids))+`)`, anys(ids)...)
}

func (l *ledger) FactsReferencing(ctx context.Context, ids []string) ([]caisse.LinkedFact, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	p := placeholders(len(ids))
	return l.queryFacts(ctx, `SELECT order_id, data FROM facts WHERE payment_intent IN (`+p+`) OR charge IN (`+p+`)`,
		append(anys(ids), anys(ids)...)...)
}

func (l *ledger) OrderFacts(ctx context.Context, orderID string) ([]caisse.Fact, error) {
	lf, err := l.queryFacts(ctx, `SELECT order_id, data FROM facts WHERE order_id = ? ORDER BY id`, orderID)
	if err != nil {
		return nil, err
	}
	out := make([]caisse.Fact, len(lf))
	for i, f := range lf {
		out[i] = f.Fact
	}
	return out, nil
}

func (l *ledger) PutFact(ctx context.Context, f caisse.LinkedFact) error {
	data, err := json.Marshal(f.Fact)
	if err != nil {
		return err
	}
	if _, err := l.tx.ExecContext(ctx, `
		INSERT INTO facts (id, kind, order_id, payment_intent, charge, data) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, order_id = excluded.order_id,
			payment_intent = excluded.payment_intent, charge = excluded.charge, data = excluded.data`,
		f.ID, f.Kind, f.OrderID, f.PaymentIntent, f.Charge, data); err != nil {
		return fmt.Errorf("error storing facts of %s: %w", f.ID, err)
	}
	return nil
}

func (l *ledger) LockOrder(ctx context.Context, id string) (*caisse.OrderRecord, error) {
	// The transaction began IMMEDIATE and holds SQLite's write lock: the
	// order is already protected from other writers.
	return findOrderRecord(ctx, l.tx, id)
}

func (l *ledger) PutOrder(ctx context.Context, o *caisse.OrderRecord) error {
	return putOrder(ctx, l.tx, o)
}

func (l *ledger) AddTimeline(ctx context.Context, orderID string, e caisse.TimelineEntry) error {
	if _, err := l.tx.ExecContext(ctx, `
		INSERT INTO order_timeline (order_id, at, event_id, type, from_status, to_status) VALUES (?, ?, ?, ?, ?, ?)`,
		orderID, micros(e.At), e.EventID, e.Type, e.From, e.To); err != nil {
		return fmt.Errorf("error recording the timeline of order %s: %w", orderID, err)
	}
	return nil
}

func (l *ledger) KnownProducts(ctx context.Context, ids []string) (map[string]bool, error) {
	known := map[string]bool{}
	if len(ids) == 0 {
		return known, nil
	}
	rows, err := l.tx.QueryContext(ctx, `SELECT id FROM products WHERE id IN (`+placeholders(len(ids))+`)`, anys(ids)...)
	if err != nil {
		return nil, fmt.Errorf("error reading products: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("error reading products: %w", err)
		}
		known[id] = true
	}
	return known, rows.Err()
}

func (l *ledger) MoveStock(ctx context.Context, m caisse.StockMove) (bool, int64, error) {
	// One conditional update: it cannot take stock below zero, nor take units
	// that are reserved by someone else.
	var available int64
	err := l.tx.QueryRowContext(ctx, `
		UPDATE products SET stock = stock - ?1, reserved = reserved + ?2, updated_at = ?3
		WHERE id = ?4 AND stock - ?1 >= 0 AND reserved + ?2 >= 0 AND (?5 <= 0 OR stock - reserved >= ?5)
		RETURNING stock - reserved`,
		m.Sold, m.Reserved, micros(l.now), m.ProductID, m.Need()).Scan(&available)
	if err == sql.ErrNoRows {
		if !m.Takes() {
			return false, 0, fmt.Errorf("error releasing stock of %s: the product is gone or its counts are inconsistent", m.ProductID)
		}
		return false, 0, nil
	} else if err != nil {
		return false, 0, fmt.Errorf("error moving stock of %s: %w", m.ProductID, err)
	}
	return true, available, nil
}

func (l *ledger) AddOutbox(ctx context.Context, m caisse.OutboxMessage) error {
	payload, err := json.Marshal(m.Payload)
	if err != nil {
		return err
	}
	if _, err := l.tx.ExecContext(ctx, `
		INSERT INTO outbox (key, topic, kind, order_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO NOTHING`, m.Key, m.Topic, m.Kind, m.OrderID, payload, micros(l.now)); err != nil {
		return fmt.Errorf("error writing outbox message %s: %w", m.Key, err)
	}
	return nil
}
