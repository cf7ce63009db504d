package sqlstore

import (
	"strconv"
	"time"

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
// its context.
func failureText(err error) string {
	if caisse.ErrorCode(err) != caisse.EINTERNAL {
		return caisse.ErrorMessage(err)
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
