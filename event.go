package caisse

import (
	"context"
	"slices"
	"time"
)

// EventStatus is where a stored event is in its processing.
type EventStatus string

// Event statuses.
const (
	EventPending   EventStatus = "pending"   // stored, waiting for (or between) processing attempts
	EventProcessed EventStatus = "processed" // its facts are merged
	EventIgnored   EventStatus = "ignored"   // a type caisse does not act on, kept for audit
	EventFailed    EventStatus = "failed"    // every attempt failed: a dead letter, replayable
)

// EventStatuses lists every event status.
var EventStatuses = []EventStatus{EventPending, EventProcessed, EventIgnored, EventFailed}

// Event is a Stripe event as caisse stores it.
type Event struct {
	ID         string      `json:"id"`
	Type       string      `json:"type"`
	Created    int64       `json:"created"` // Unix seconds, as Stripe sends it
	Livemode   bool        `json:"livemode"`
	APIVersion string      `json:"api_version"`
	ReceivedAt time.Time   `json:"received_at"`
	Status     EventStatus `json:"status"`
	Attempts   int         `json:"attempts"`
	LastError  string      `json:"last_error"`
	OrderID    string      `json:"order_id"`
	// ObjectID is the id of the Stripe object the event is about (data.object.id).
	ObjectID string `json:"-"`
	// Payload is the event's body exactly as received.
	Payload []byte `json:"-"`
	// Decoded is what the body says, read on receipt in the same pass as
	// the envelope (nil for an event read back from the database): the
	// process that received the event applies it without reading the body
	// again.
	Decoded *DecodedFacts `json:"-"`
}

// DecodedFacts is an event's facts as read on receipt, or why it cannot be
// applied (a refusal is a dead letter, as it would be when applied).
type DecodedFacts struct {
	Facts EventFacts
	Err   error
}

// EventFilter selects events in a list.
type EventFilter struct {
	Status EventStatus
	Type   string
	// OrderID keeps the events about one order's Stripe objects.
	OrderID string
	// Since and Until keep the events received in [Since, Until); a zero
	// time leaves that side open.
	Since, Until time.Time
	Page
}

// Normalize checks the status, the time range and the page.
func (f *EventFilter) Normalize() error {
	if f.Status != "" && !slices.Contains(EventStatuses, f.Status) {
		return Errorf(EINVALID, "unknown event status %q: use pending, processed, ignored or failed", f.Status)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return Errorf(EINVALID, "the time range holds nothing: until (%s) must be after since (%s); give a later until, or leave one out",
			f.Until.UTC().Format(time.RFC3339), f.Since.UTC().Format(time.RFC3339))
	}
	return f.Page.Normalize()
}

// EventService stores and lists events.
type EventService interface {
	// ReceiveEvent stores a verified event and enqueues its processing in one
	// transaction. It reports whether the event was new; a duplicate changes
	// nothing.
	ReceiveEvent(ctx context.Context, e *Event) (inserted bool, err error)
	// FindEvent returns one event, with its payload.
	FindEvent(ctx context.Context, id string) (*Event, error)
	// FindEvents lists events, newest first.
	FindEvents(ctx context.Context, filter EventFilter) ([]*Event, bool, error)
	// ReplayEvent puts an event back into processing.
	ReplayEvent(ctx context.Context, id string) (*Event, error)
	// ReplayFailed puts every failed event back into processing and returns their ids.
	ReplayFailed(ctx context.Context) ([]string, error)
	// CountReplayable counts the events a ReplayEvents with this filter
	// would put back (its page is not used): those matching it whose
	// payload is kept.
	CountReplayable(ctx context.Context, filter EventFilter) (int64, error)
	// ReplayEvents puts every event matching the filter (its page is not
	// used) back into processing, as ReplayEvent does, and returns how many.
	ReplayEvents(ctx context.Context, filter EventFilter) (int64, error)
}

// HandledTypes are the Stripe event types caisse acts on. Others are stored
// and marked ignored.
var HandledTypes = []string{
	"checkout.session.completed",
	"checkout.session.async_payment_succeeded",
	"checkout.session.async_payment_failed",
	"checkout.session.expired",
	"payment_intent.succeeded",
	"payment_intent.payment_failed",
	"charge.succeeded",
	"charge.refunded",
	"charge.dispute.created",
	"charge.dispute.updated",
	"charge.dispute.closed",
	"radar.early_fraud_warning.created",
	"payout.paid",
	"payout.failed",
}

// Handled reports whether caisse acts on events of this type.
func Handled(eventType string) bool {
	return slices.Contains(HandledTypes, eventType)
}
