package caisse

import "time"

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
