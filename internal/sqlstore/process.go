package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
)

// ProcessReport describes one processing attempt of an event.
type ProcessReport struct {
	Event    *caisse.Event
	Status   caisse.EventStatus // the event's status after the attempt
	Err      error
	Duration time.Duration
	Outcome  caisse.Outcome
}

// maxTxRetries bounds the immediate retries of a transaction that lost a
// deadlock or a serialization race; those are not the event's fault and do
// not count as attempts.
const maxTxRetries = 8

// process applies one event in one transaction and records the result.
func (s *Store) process(ctx context.Context, job *river.Job[ProcessEventArgs]) (err error) {
	start := time.Now()
	var ev *caisse.Event
	var outcome caisse.Outcome
	var status caisse.EventStatus
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("processing panicked: %v", r)
		}
		if err != nil {
			status = s.recordFailure(ctx, job, err)
			if ev == nil {
				ev = &caisse.Event{ID: job.Args.EventID}
			}
		}
		s.report(ProcessReport{Event: ev, Status: status, Err: err, Duration: time.Since(start), Outcome: outcome})
	}()
	for try := 0; ; try++ {
		if s.BatchSize > 1 {
			ev, outcome, status, err = s.processBatched(ctx, job)
		} else {
			s.ingest.yield()
			ev, outcome, status, err = s.processTx(ctx, job)
		}
		if caisse.ErrorCode(err) == caisse.EINVALID {
			// A signed event that makes no sense: trying again cannot
			// help, so it is a dead letter at once, with the reason.
			return river.JobCancel(err)
		}
		if err == nil || try >= maxTxRetries || !s.Driver.Retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(1+try*try) * time.Millisecond):
		}
	}
}

func (s *Store) processTx(ctx context.Context, job *river.Job[ProcessEventArgs]) (*caisse.Event, caisse.Outcome, caisse.EventStatus, error) {
	tx, err := s.Driver.Begin(ctx)
	if err != nil {
		return nil, caisse.Outcome{}, "", fmt.Errorf("error starting to process event %s: %w", job.Args.EventID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	ev, outcome, status, err := s.applyJob(ctx, tx, job)
	if err != nil {
		return ev, outcome, status, err
	}
	// The job completes in the same transaction as its effects: a crash can
	// leave both or neither, never effects with a job to run again.
	if err := tx.CompleteJobs(ctx, []*river.Job[ProcessEventArgs]{job}); err != nil {
		return ev, outcome, "", fmt.Errorf("error completing the job of event %s: %w", ev.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return ev, outcome, "", fmt.Errorf("error committing event %s: %w", ev.ID, err)
	}
	s.wakeOutbox()
	return ev, outcome, status, nil
}

// applyJob applies a job's event in tx; the caller completes the job in the
// same transaction.
func (s *Store) applyJob(ctx context.Context, tx Tx, job *river.Job[ProcessEventArgs]) (*caisse.Event, caisse.Outcome, caisse.EventStatus, error) {
	var outcome caisse.Outcome
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
		ef, err := s.Decode(ev)
		if err != nil {
			return ev, outcome, "", err
		}
		status = caisse.EventProcessed
		reason := ""
		if ef.Ignored {
			status, reason = caisse.EventIgnored, ef.Reason
		} else if outcome, err = s.Rules.Apply(ctx, s.ledger(tx), ev, ef); err != nil {
			return ev, outcome, "", wrap(err, "error applying event %s", ev.ID)
		} else if outcome.Ignored != "" {
			status, reason = caisse.EventIgnored, outcome.Ignored
		}
		// An ignored event's last_error says why it was not applied.
		if _, err := tx.Exec(ctx, `UPDATE events SET status = ?, attempts = attempts + 1, last_error = ? WHERE id = ?`,
			string(status), reason, ev.ID); err != nil {
			return ev, outcome, "", fmt.Errorf("error marking event %s %s: %w", ev.ID, status, err)
		}
		ev.LastError = reason
	}
	ev.Status = status
	if outcome.OrderID != "" {
		ev.OrderID = outcome.OrderID
	}
	return ev, outcome, status, nil
}

// recordFailure counts a failed attempt on the event, and makes it a dead
// letter after the last attempt. It returns the event's new status.
func (s *Store) recordFailure(ctx context.Context, job *river.Job[ProcessEventArgs], cause error) caisse.EventStatus {
	status := caisse.EventPending
	var cancel *river.JobCancelError
	if job.Attempt >= job.MaxAttempts || errors.As(cause, &cancel) {
		status = caisse.EventFailed
	}
	msg := failureText(cause)
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	ctx = context.WithoutCancel(ctx)
	err := s.inTx(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE events SET status = ?, attempts = attempts + 1, last_error = ? WHERE id = ?`,
			string(status), msg, job.Args.EventID)
		if err != nil || status != caisse.EventFailed {
			return err
		}
		// A dead letter is the team's to fix: tell them, once per event.
		ev, err := findEvent(ctx, tx, job.Args.EventID)
		if err != nil {
			return err
		}
		return s.addOutbox(ctx, tx, s.now(), deadLetterAlert(ev, msg))
	})
	if err != nil {
		s.Logger.Error("could not record a failed attempt", "event_id", job.Args.EventID, "error", err.Error())
	}
	return status
}

// deadLetterAlert is the team's alert about an event that failed for good.
func deadLetterAlert(ev *caisse.Event, reason string) caisse.OutboxMessage {
	fields := map[string]string{"Event": ev.ID, "Type": ev.Type, "Attempts": strconv.Itoa(ev.Attempts)}
	if ev.OrderID != "" {
		fields["Order"] = ev.OrderID
	}
	return caisse.AlertMessage(ev.ID, caisse.TopicDeadLetter, ev.OrderID, caisse.Alert{
		Title: "An event failed for good",
		Text: "caisse could not apply " + ev.Type + " event " + ev.ID + ": " + reason +
			". Fix the cause, then replay it: caisse events replay " + ev.ID + " (or replay every dead letter with --failed).",
		Fields: fields, Link: caisse.DashboardURL(ev.ID, ev.Livemode),
	})
}

// failureText is what an event's last_error and log line say of a failed
// attempt: an application error's message as it is, any other error with
// its context, never the queue's wrapping.
func failureText(err error) string {
	if caisse.ErrorCode(err) != caisse.EINTERNAL {
		return caisse.ErrorMessage(err)
	}
	var cancel *river.JobCancelError
	if errors.As(err, &cancel) && errors.Unwrap(cancel) != nil {
		return errors.Unwrap(cancel).Error()
	}
	return err.Error()
}

func (s *Store) report(r ProcessReport) {
	attrs := []any{"event_id", r.Event.ID, "type", r.Event.Type, "order_id", r.Event.OrderID,
		"outcome", string(r.Status), "duration_ms", float64(r.Duration.Microseconds()) / 1000}
	switch {
	case r.Err != nil && r.Status == caisse.EventFailed:
		s.Logger.Error("event failed for good: it is a dead letter now, fix the cause and replay it",
			append(attrs, "error", failureText(r.Err))...)
	case r.Err != nil:
		s.Logger.Warn("event processing failed, will retry", append(attrs, "error", failureText(r.Err))...)
	default:
		s.Logger.Info("event processed", attrs...)
	}
	for _, id := range r.Outcome.Oversold {
		s.Logger.Warn("double-sale attempt: order was paid but no stock was left for it",
			"event_id", r.Event.ID, "order_id", id, "outcome", "oversold")
	}
	for _, id := range r.Outcome.Mismatched {
		s.Logger.Warn("payment mismatch: a payment was taken for the order that does not pay it (short, or another currency)",
			"event_id", r.Event.ID, "order_id", id, "outcome", "payment_mismatch")
	}
	if r.Err == nil && r.Status == caisse.EventIgnored && caisse.Handled(r.Event.Type) {
		// A type caisse acts on, from a connected account or the other mode.
		s.Logger.Warn("event stored but not applied: "+r.Event.LastError, "event_id", r.Event.ID, "type", r.Event.Type)
	}
	if s.Processed != nil {
		s.Processed(r)
	}
}

// ledger is one processing transaction, as caisse.Rules needs it.
type ledger struct {
	store *Store
	tx    Tx
	now   time.Time
	// decoded keeps the facts decoded in this transaction by their stored
	// JSON: applying one event reads the same objects' facts two or three
	// times (to merge, to link, to refresh the order), and decoding them is
	// a tenth of the processing CPU.
	decoded map[string]caisse.Fact
}

// decode returns the fact stored as data. It is the caller's to change:
// its slices are never shared with the cache.
func (l *ledger) decode(data string) (caisse.Fact, error) {
	if f, ok := l.decoded[data]; ok {
		f.Items, f.FailedAttempts = slices.Clone(f.Items), slices.Clone(f.FailedAttempts)
		return f, nil
	}
	var f caisse.Fact
	if err := json.Unmarshal([]byte(data), &f); err != nil {
		return f, err
	}
	if l.decoded == nil {
		l.decoded = map[string]caisse.Fact{}
	}
	kept := f
	kept.Items, kept.FailedAttempts = slices.Clone(f.Items), slices.Clone(f.FailedAttempts)
	l.decoded[data] = kept
	return f, nil
}

var _ caisse.Ledger = (*ledger)(nil)

func (l *ledger) Lock(ctx context.Context, keys []string) error {
	return l.tx.Lock(ctx, keys...)
}

func (l *ledger) queryFacts(ctx context.Context, query string, args ...any) ([]caisse.LinkedFact, error) {
	rows, err := l.tx.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("error reading facts: %w", err)
	}
	defer rows.Close()
	var out []caisse.LinkedFact
	for rows.Next() {
		var f caisse.LinkedFact
		var data string
		if err := rows.Scan(&f.OrderID, &data); err != nil {
			return nil, fmt.Errorf("error reading facts: %w", err)
		}
		if f.Fact, err = l.decode(data); err != nil {
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

func (l *ledger) Connected(ctx context.Context, ids []string) ([]caisse.LinkedFact, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	p := placeholders(len(ids))
	args := anys(ids)
	// A UNION, not ORs: each part uses its own index (SQLite scans the table
	// for the OR form).
	return l.queryFacts(ctx, `SELECT order_id, data FROM facts WHERE id IN (`+p+`)
		UNION SELECT order_id, data FROM facts WHERE payment_intent IN (`+p+`)
		UNION SELECT order_id, data FROM facts WHERE charge IN (`+p+`)`,
		append(append(args, args...), args...)...)
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
	if _, err := l.tx.Exec(ctx, `
		INSERT INTO facts (id, kind, order_id, payment_intent, charge, data) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, order_id = excluded.order_id,
			payment_intent = excluded.payment_intent, charge = excluded.charge, data = excluded.data`,
		f.ID, string(f.Kind), f.OrderID, f.PaymentIntent, f.Charge, string(data)); err != nil {
		return fmt.Errorf("error storing facts of %s: %w", f.ID, err)
	}
	return nil
}

func (l *ledger) LockOrder(ctx context.Context, id string) (*caisse.OrderRecord, error) {
	if err := l.tx.Lock(ctx, "order:"+id); err != nil {
		return nil, fmt.Errorf("error locking order %s: %w", id, err)
	}
	return findOrderRecord(ctx, l.tx, id)
}

func (l *ledger) PutOrder(ctx context.Context, o *caisse.OrderRecord) error {
	return putOrder(ctx, l.tx, o)
}

func (l *ledger) AddTimeline(ctx context.Context, orderID string, e caisse.TimelineEntry) error {
	if _, err := l.tx.Exec(ctx, `
		INSERT INTO order_timeline (order_id, at, event_id, type, from_status, to_status) VALUES (?, ?, ?, ?, ?, ?)`,
		orderID, micros(e.At), e.EventID, e.Type, string(e.From), string(e.To)); err != nil {
		return fmt.Errorf("error recording the timeline of order %s: %w", orderID, err)
	}
	return nil
}

func (l *ledger) KnownProducts(ctx context.Context, ids []string) (map[string]bool, error) {
	known := map[string]bool{}
	if len(ids) == 0 {
		return known, nil
	}
	rows, err := l.tx.Query(ctx, `SELECT id FROM products WHERE id IN (`+placeholders(len(ids))+`)`, anys(ids)...)
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
	// that are reserved by someone else. On PostgreSQL a concurrent update of
	// the same product makes this one wait and then re-check its condition.
	var available int64
	err := l.tx.QueryRow(ctx, `
		UPDATE products SET stock = stock - ?, reserved = reserved + ?, updated_at = ?
		WHERE id = ? AND stock - ? >= 0 AND reserved + ? >= 0 AND (? <= 0 OR stock - reserved >= ?)
		RETURNING stock - reserved`,
		m.Sold, m.Reserved, micros(l.now), m.ProductID, m.Sold, m.Reserved, m.Need(), m.Need()).Scan(&available)
	if errors.Is(err, ErrNoRows) {
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
	return l.store.addOutbox(ctx, l.tx, l.now, m)
}
