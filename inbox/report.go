package inbox

import (
	"time"

	"github.com/caisse/caisse"
)

// Report describes one attempt at applying an event.
type Report struct {
	Event    *caisse.Event
	Status   caisse.EventStatus // the event's status after the attempt
	Err      error
	Duration time.Duration
	Outcome  caisse.Outcome
}

// failureText is what an event's last_error and log line say of a failed
// attempt: an application error's message as it is, any other error with
// its context; valid UTF-8 (a text column refuses anything else), and at
// most 2,000 bytes, cut between two characters.
func failureText(err error) string {
	msg := err.Error()
	if caisse.ErrorCode(err) != caisse.EINTERNAL {
		msg = caisse.ErrorMessage(err)
	}
	return caisse.Clip(msg, 2000)
}

// report logs an attempt, one line per event, and tells Processed.
func (in *Inbox) report(r Report) {
	log := in.Store.Logger
	attrs := []any{"event_id", r.Event.ID, "type", r.Event.Type, "order_id", r.Event.OrderID,
		"outcome", string(r.Status), "duration_ms", float64(r.Duration.Microseconds()) / 1000}
	switch {
	case r.Err != nil && r.Status == caisse.EventFailed:
		log.Error("event failed for good: it is a dead letter now, fix the cause and replay it",
			append(attrs, "error", failureText(r.Err))...)
	case r.Err != nil:
		log.Warn("event processing failed, will retry", append(attrs, "error", failureText(r.Err))...)
	default:
		log.Info("event processed", attrs...)
	}
	for _, id := range r.Outcome.Oversold {
		log.Warn("double-sale attempt: order was paid but no stock was left for it",
			"event_id", r.Event.ID, "order_id", id, "outcome", "oversold")
	}
	for _, id := range r.Outcome.Mismatched {
		log.Warn("payment mismatch: a payment was taken for the order that does not pay it (short, or another currency)",
			"event_id", r.Event.ID, "order_id", id, "outcome", "payment_mismatch")
	}
	if r.Err == nil && r.Status == caisse.EventIgnored && caisse.Handled(r.Event.Type) {
		// A type caisse acts on, from a connected account or the other mode.
		log.Warn("event stored but not applied: "+r.Event.LastError, "event_id", r.Event.ID, "type", r.Event.Type)
	}
	if in.Processed != nil {
		in.Processed(r)
	}
}
