package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/caisse/caisse"
)

var _ caisse.DashboardService = (*Store)(nil)

// maxDashboardDisputes bounds the open disputes the dashboard lists.
const maxDashboardDisputes = 50

// Dashboard reads the owner's first page in a few statements, none of which
// reads the whole events table: events are appended in seq order and their
// received_at grows with it, so the events of the last day are those after
// the newest one received before it, found by walking the primary key back
// over the last day's rows alone, and counted by seq from there.
func (s *Store) Dashboard(ctx context.Context, now time.Time) (*caisse.Dashboard, error) {
	r := s.Driver.Reader()
	d := &caisse.Dashboard{}
	var hourSeq, daySeq, last int64
	err := r.QueryRow(ctx, `SELECT
		COALESCE((SELECT seq FROM events WHERE received_at < ? ORDER BY seq DESC LIMIT 1), 0),
		COALESCE((SELECT seq FROM events WHERE received_at < ? ORDER BY seq DESC LIMIT 1), 0),
		COALESCE((SELECT received_at FROM events ORDER BY seq DESC LIMIT 1), 0),
		(SELECT count(*) FROM orders WHERE oversold = TRUE),
		(SELECT count(*) FROM orders WHERE payment_mismatch = TRUE)`,
		micros(now.Add(-time.Hour)), micros(now.Add(-24*time.Hour))).
		Scan(&hourSeq, &daySeq, &last, &d.Oversold, &d.PaymentMismatch)
	if err != nil {
		return nil, fmt.Errorf("error reading the dashboard: %w", err)
	}
	if last != 0 {
		d.LastReceivedAt = fromMicros(last)
	}
	// The boundaries as values, not subqueries: the planner then knows
	// that few rows follow them and reads them through the indexes.
	err = r.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM events WHERE seq > ?),
		(SELECT count(*) FROM events WHERE seq > ?),
		(SELECT count(*) FROM events WHERE status = ? AND seq > ?)`,
		hourSeq, daySeq, string(caisse.EventFailed), daySeq).Scan(&d.EventsHour, &d.EventsDay, &d.FailedDay)
	if err != nil {
		return nil, fmt.Errorf("error counting the last day's events: %w", err)
	}
	if d.Backlog, err = s.EventBacklog(ctx); err != nil {
		return nil, err
	}
	if d.Disputes, err = openDisputes(ctx, r); err != nil {
		return nil, err
	}
	return d, nil
}

// openDisputes returns the orders whose dispute is open, the soonest
// evidence due date first (none last), at most maxDashboardDisputes. An
// open dispute makes its order disputed, unless it is about a payment that
// does not count for the order, which flagged it payment_mismatch: both
// are read through their indexes, and the dispute's own status decides.
func openDisputes(ctx context.Context, q Querier) ([]*caisse.Order, error) {
	disputed := string(caisse.StatusDisputed)
	rows, err := q.Query(ctx, `SELECT `+orderColumns+` FROM orders WHERE status = ? AND dispute <> ''
		UNION ALL SELECT `+orderColumns+` FROM orders WHERE payment_mismatch = TRUE AND status <> ? AND dispute <> ''`,
		disputed, disputed)
	if err != nil {
		return nil, fmt.Errorf("error reading the open disputes: %w", err)
	}
	defer rows.Close()
	out := []*caisse.Order{}
	for rows.Next() {
		rec, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("error reading the open disputes: %w", err)
		}
		if rec.Dispute != nil && caisse.DisputeOpen(rec.Dispute.Status) {
			out = append(out, &rec.Order)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error reading the open disputes: %w", err)
	}
	slices.SortFunc(out, func(a, b *caisse.Order) int {
		da, db := a.Dispute.EvidenceDueBy, b.Dispute.EvidenceDueBy
		if (da == 0) != (db == 0) {
			// A dispute with no due date waits after those with one.
			if da == 0 {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(da, db), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	if len(out) > maxDashboardDisputes {
		out = out[:maxDashboardDisputes]
	}
	return out, nil
}
