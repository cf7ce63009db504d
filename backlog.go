package caisse

import (
	"context"
	"time"
)

// EventBacklog is what waits in the events table and the outbox, as the
// metrics report it.
// Reading it costs the same however many events are stored: processed
// events are never counted.
type EventBacklog struct {
	// Pending is how many events are stored and not processed yet.
	Pending int64
	// Failed is how many events failed for good (dead letters, replayable).
	Failed int64
	// OldestPending is when the oldest pending event was received (zero
	// when none is pending).
	OldestPending time.Time
	// OutboxPending and OutboxFailed count the outbox's rows waiting to be
	// sent and failed for good; OutboxOldestPending is when the oldest
	// waiting row was written (zero when none waits).
	OutboxPending       int64
	OutboxFailed        int64
	OutboxOldestPending time.Time
}

// Dashboard is what the owner's first page shows: how events arrive and
// fare, and what needs the owner.
type Dashboard struct {
	// EventsHour and EventsDay count the events received in the last hour
	// and day; FailedDay those of the last day that are failed now.
	EventsHour, EventsDay, FailedDay int64
	// LastReceivedAt is when the newest event was received (zero if none).
	LastReceivedAt time.Time
	// Backlog is the pending and failed events and deliveries.
	Backlog EventBacklog
	// Oversold and PaymentMismatch count the orders flagged so.
	Oversold, PaymentMismatch int64
	// Disputes are the orders whose dispute is still open (not won, lost
	// or warning_closed), the soonest evidence due date first, at most 50.
	Disputes []*Order
}

// DashboardService reads the dashboard's figures.
type DashboardService interface {
	Dashboard(ctx context.Context, now time.Time) (*Dashboard, error)
}
