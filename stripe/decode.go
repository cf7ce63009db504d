package stripe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caisse/caisse"
)

// envelope is the part of an event caisse reads on receipt.
type envelope struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Type       string `json:"type"`
	Created    int64  `json:"created"`
	Livemode   *bool  `json:"livemode"`
	APIVersion string `json:"api_version"`
	Data       struct {
		Object json.RawMessage `json:"object"`
	} `json:"data"`
}

// DecodeError says why a verified body is not an event caisse can store.
type DecodeError struct{ Detail string }

func (e *DecodeError) Error() string { return e.Detail }

// DecodeEvent reads a webhook body's envelope: id, type, created, livemode,
// api_version and the id of the object it is about. The body must be a
// snapshot event ("object":"event"); a thin (v2) event notification is refused.
func DecodeEvent(payload []byte) (*caisse.Event, error) {
	// A thin event's envelope differs (created is an RFC 3339 string, no
	// data), so recognize it before reading the snapshot envelope.
	var kind struct {
		Object string `json:"object"`
	}
	if json.Unmarshal(payload, &kind) == nil && strings.HasPrefix(kind.Object, "v2.") {
		return nil, &DecodeError{Detail: "the body is a thin (v2) event notification; point a snapshot-event webhook endpoint at caisse"}
	}
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return nil, &DecodeError{Detail: fmt.Sprintf("the body is not valid JSON: %v", err)}
	}
	switch {
	case env.Object == "v2.core.event" || strings.HasPrefix(env.Object, "v2."):
		return nil, &DecodeError{Detail: "the body is a thin (v2) event notification; point a snapshot-event webhook endpoint at caisse"}
	case env.Object != "event":
		return nil, &DecodeError{Detail: fmt.Sprintf("the body is not a Stripe event (object is %q, want \"event\")", env.Object)}
	case !strings.HasPrefix(env.ID, "evt_") || len(env.ID) > 255:
		return nil, &DecodeError{Detail: "the event has no valid id (evt_…)"}
	case env.Type == "" || len(env.Type) > 255:
		return nil, &DecodeError{Detail: "the event has no type"}
	case env.Livemode == nil:
		return nil, &DecodeError{Detail: "the event has no livemode"}
	}
	var obj struct {
		ID string `json:"id"`
	}
	trimmed := bytes.TrimSpace(env.Data.Object)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, &DecodeError{Detail: "the event has no data.object"}
	}
	if err := json.Unmarshal(trimmed, &obj); err != nil {
		return nil, &DecodeError{Detail: fmt.Sprintf("the event's data.object is not readable: %v", err)}
	}
	return &caisse.Event{
		ID:         env.ID,
		Type:       env.Type,
		Created:    env.Created,
		Livemode:   *env.Livemode,
		APIVersion: env.APIVersion,
		ObjectID:   obj.ID,
		Payload:    payload,
		Status:     caisse.EventPending,
	}, nil
}

// ref is an expandable field: an id, or an object with an id, or null.
type ref string

func (r *ref) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*r = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*r = ref(s)
	case b[0] == '{':
		var o struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*r = ref(o.ID)
	default:
		return fmt.Errorf("expected an id or an object, got %s", b)
	}
	return nil
}

// object holds the fields caisse reads from any of the objects it handles.
type object struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	ClientReferenceID string            `json:"client_reference_id"`
	Metadata          map[string]string `json:"metadata"`
	PaymentIntent     ref               `json:"payment_intent"`
	Charge            ref               `json:"charge"`
	PaymentStatus     string            `json:"payment_status"`
	Status            string            `json:"status"`
	Amount            int64             `json:"amount"`
	AmountTotal       int64             `json:"amount_total"`
	AmountReceived    int64             `json:"amount_received"`
	AmountRefunded    int64             `json:"amount_refunded"`
	Currency          string            `json:"currency"`
	CustomerEmail     string            `json:"customer_email"`
	ReceiptEmail      string            `json:"receipt_email"`
	CustomerDetails   *struct {
		Email string `json:"email"`
	} `json:"customer_details"`
	LastPaymentError *struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"last_payment_error"`
}

// Facts decodes what an event says about the objects it touches. Types caisse
// does not handle come back Ignored. An event of a handled type whose object
// cannot be read is an error: its processing fails and can be replayed.
func Facts(e *caisse.Event) (caisse.EventFacts, error) {
	if !caisse.Handled(e.Type) {
		return caisse.EventFacts{Ignored: true}, nil
	}
	var env struct {
		Data struct {
			Object object `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(e.Payload, &env); err != nil {
		return caisse.EventFacts{}, fmt.Errorf("error reading %s object of event %s: %w", e.Type, e.ID, err)
	}
	o := env.Data.Object
	if o.ID == "" {
		return caisse.EventFacts{}, fmt.Errorf("event %s (%s) has an object with no id", e.ID, e.Type)
	}
	f := caisse.Fact{ID: o.ID, Currency: strings.ToLower(o.Currency)}
	switch {
	case strings.HasPrefix(e.Type, "checkout.session."):
		f.Kind = caisse.KindSession
		f.OrderRef = o.ClientReferenceID
		if f.OrderRef == "" {
			f.OrderRef = o.Metadata["order_id"]
		}
		f.PaymentIntent = string(o.PaymentIntent)
		f.Amount = o.AmountTotal
		f.CustomerEmail = o.CustomerEmail
		if o.CustomerDetails != nil && o.CustomerDetails.Email != "" {
			f.CustomerEmail = o.CustomerDetails.Email
		}
		f.Items, f.UnknownItems = items(o.Metadata)
		switch e.Type {
		case "checkout.session.completed":
			f.Completed = true
			f.SessionPaid = o.PaymentStatus == "paid" || o.PaymentStatus == "no_payment_required"
		case "checkout.session.async_payment_succeeded":
			f.Completed, f.AsyncSucceeded = true, true
		case "checkout.session.async_payment_failed":
			f.Completed, f.AsyncFailed = true, true
		case "checkout.session.expired":
			f.Expired = true
		}
	case strings.HasPrefix(e.Type, "payment_intent."):
		f.Kind = caisse.KindPaymentIntent
		f.OrderRef = o.Metadata["order_id"]
		f.Amount = o.Amount
		f.CustomerEmail = o.ReceiptEmail
		f.Items, f.UnknownItems = items(o.Metadata)
		switch e.Type {
		case "payment_intent.succeeded":
			f.Succeeded = true
			f.AmountReceived = o.AmountReceived
			if f.AmountReceived == 0 {
				f.AmountReceived = o.Amount
			}
		case "payment_intent.payment_failed":
			f.PaymentError = "the payment failed"
			if o.LastPaymentError != nil && o.LastPaymentError.Message != "" {
				f.PaymentError = o.LastPaymentError.Message
			}
			f.PaymentErrorAt = e.Created
			f.FailedAttempts = []string{e.ID}
		}
	case e.Type == "charge.refunded":
		f.Kind = caisse.KindCharge
		f.PaymentIntent = string(o.PaymentIntent)
		f.Amount = o.Amount
		f.AmountRefunded = o.AmountRefunded
	case strings.HasPrefix(e.Type, "charge.dispute."):
		f.Kind = caisse.KindDispute
		f.PaymentIntent = string(o.PaymentIntent)
		f.Charge = string(o.Charge)
		f.Amount = o.Amount
		f.DisputeStatus = o.Status
		if f.DisputeStatus == "" {
			f.DisputeStatus = "needs_response"
		}
	}
	return caisse.EventFacts{Facts: []caisse.Fact{f}}, nil
}

// items reads the order's items from metadata; metadata that cannot be parsed
// is kept as text so the order can be flagged instead of dropped.
func items(md map[string]string) ([]caisse.Item, string) {
	it, err := caisse.ParseItems(md)
	if err != nil {
		return nil, err.Error()
	}
	return it, ""
}
