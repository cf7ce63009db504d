package caisse

import (
	"fmt"
	"strings"
	"time"
)

// OutboxMessage is a side effect, written in the same transaction as the
// change that causes it and delivered later at least once. Key makes it
// unique: a second message with the same key is not written. The store
// writes one row for it per recipient: the customer's address for an email,
// and, for alerts and the shop's webhooks, each recipient it is set up with
// (none when the channel is not set up).
type OutboxMessage struct {
	Key     string
	Channel Channel
	Topic   string
	// Recipient is the customer's address for an email ("" when none is
	// known); the store names the recipients of the other channels.
	Recipient string
	OrderID   string
	ProductID string
	// EventID is the Stripe event whose processing wrote the message; the
	// store fills it in. Empty for messages no event caused.
	EventID string
	Payload map[string]any
}

// Kinds of request to Stripe's API, the topics of the stripe channel.
const (
	// KindRefundOversold asks Stripe to refund an order that was paid when
	// no stock was left for it.
	KindRefundOversold = "refund_oversold"
	// KindRefundMismatch asks Stripe to refund a payment that was taken for
	// an order but does not pay it.
	KindRefundMismatch = "refund_mismatch"
)

// Types of the shop's own webhooks (the topics of the webhook channel).
const (
	HookOrderPaid           = "order.paid"
	HookOrderPaymentFailed  = "order.payment_failed"
	HookOrderRefunded       = "order.refunded"
	HookOrderPartialRefund  = "order.partially_refunded"
	HookOrderDisputed       = "order.disputed"
	HookOrderDisputeClosed  = "order.dispute_closed"
	HookOrderOversold       = "order.oversold"
	HookOrderMismatch       = "order.payment_mismatch"
	HookOrderExpired        = "order.expired"
	HookAvailabilityChanged = "product.availability_changed"
)

// Alert is a message to the shop's team: a title, a sentence that says what
// happened and what to do, facts to show beside it, and where to look.
type Alert struct {
	Title  string
	Text   string
	Fields map[string]string
	Link   string
}

// Payload returns the alert as an outbox payload.
func (a Alert) Payload() map[string]any {
	p := map[string]any{"title": a.Title, "text": a.Text}
	if len(a.Fields) > 0 {
		p["fields"] = a.Fields
	}
	if a.Link != "" {
		p["link"] = a.Link
	}
	return p
}

// AlertMessage returns the outbox message of a team alert. key makes it
// unique (one alert per cause).
func AlertMessage(key, topic, orderID string, a Alert) OutboxMessage {
	return OutboxMessage{Key: "alert:" + topic + ":" + key, Channel: ChannelAlert, Topic: topic, OrderID: orderID, Payload: a.Payload()}
}

// DashboardURL is the page of a Stripe object in Stripe's Dashboard, in the
// order's mode: a payment intent, a dispute, a checkout session or an event.
func DashboardURL(id string, livemode bool) string {
	base := "https://dashboard.stripe.com/"
	if !livemode {
		base += "test/"
	}
	switch {
	case strings.HasPrefix(id, "dp_") || strings.HasPrefix(id, "du_"):
		return base + "disputes/" + id
	case strings.HasPrefix(id, "pi_"):
		return base + "payments/" + id
	case strings.HasPrefix(id, "evt_"):
		return base + "events/" + id
	case strings.HasPrefix(id, "cs_"):
		return base + "checkout/sessions/" + id
	}
	return base + "search?query=" + id
}

// transitionMessages returns the side effects of an order entering its
// status: the customer's email, the team's alert and the shop's webhook.
func transitionMessages(o *OrderRecord, from OrderStatus, ev *Event) []OutboxMessage {
	key := o.ID + ":" + ev.ID
	email := func(topic string) OutboxMessage {
		return OutboxMessage{Key: "email:" + topic + ":" + key, Channel: ChannelEmail, Topic: topic,
			Recipient: o.CustomerEmail, OrderID: o.ID, Payload: map[string]any{"event_id": ev.ID}}
	}
	hook := func(typ string) OutboxMessage {
		return OutboxMessage{Key: "webhook:" + typ + ":" + key, Channel: ChannelWebhook, Topic: typ, OrderID: o.ID}
	}
	var out []OutboxMessage
	switch o.Status {
	case StatusPaid:
		// A refund or a won dispute can bring an order back to paid: it was
		// confirmed already. An oversold order or one that a payment did not
		// match is never confirmed to the customer: the team settles it.
		if from != StatusPartiallyRefunded && from != StatusDisputed && from != StatusDisputeLost && from != StatusRefunded &&
			!o.Oversold {
			if !o.PaymentMismatch {
				out = append(out, email(TopicOrderConfirmation))
			}
			out = append(out, hook(HookOrderPaid))
		}
	case StatusPartiallyRefunded:
		out = append(out, email(TopicPartialRefund), hook(HookOrderPartialRefund))
	case StatusRefunded:
		out = append(out, email(TopicOrderRefunded), hook(HookOrderRefunded))
	case StatusDisputed:
		out = append(out, AlertMessage(key, TopicDisputeOpened, o.ID, disputeAlert(o, true)), hook(HookOrderDisputed))
	case StatusExpired:
		out = append(out, hook(HookOrderExpired))
	}
	// A dispute closes when the order leaves disputed, or reaches
	// dispute_lost without having been seen disputed (events came late).
	if (from == StatusDisputed && o.Status != StatusDisputed) || (o.Status == StatusDisputeLost && from != StatusDisputed) {
		out = append(out, AlertMessage(key, TopicDisputeClosed, o.ID, disputeAlert(o, false)), hook(HookOrderDisputeClosed))
	}
	return out
}

// paymentFailedMessages returns the notices of one declined payment
// attempt: the customer is told, with Stripe's words, that they can try
// again, and the shop's webhook hears of it. The order goes on.
func paymentFailedMessages(orderID, email, paymentIntent, message string, ev *Event) []OutboxMessage {
	key := orderID + ":" + paymentIntent + ":" + ev.ID
	return []OutboxMessage{
		{Key: "email:" + TopicPaymentFailed + ":" + key, Channel: ChannelEmail, Topic: TopicPaymentFailed, Recipient: email,
			OrderID: orderID, Payload: map[string]any{"error": message, "payment_intent": paymentIntent, "event_id": ev.ID}},
		{Key: "webhook:" + HookOrderPaymentFailed + ":" + key, Channel: ChannelWebhook, Topic: HookOrderPaymentFailed, OrderID: orderID},
	}
}

// availabilityMessages returns the notices of a product selling out or
// coming back: Sanity gets the product's availability when it is sent, so
// deliveries in any order converge; the shop's webhook hears of the change.
func availabilityMessages(productID, orderID string, ev *Event, available bool) []OutboxMessage {
	key := fmt.Sprintf("%s:%s:%s:%t", productID, ev.ID, orderID, available)
	return []OutboxMessage{
		{Key: "sanity:" + key, Channel: ChannelSanity, Topic: TopicAvailability, OrderID: orderID, ProductID: productID},
		{Key: "webhook:" + HookAvailabilityChanged + ":" + key, Channel: ChannelWebhook, Topic: HookAvailabilityChanged,
			OrderID: orderID, ProductID: productID},
	}
}

func disputeAlert(o *OrderRecord, opened bool) Alert {
	d := o.Dispute
	if d == nil {
		d = &Dispute{}
	}
	fields := map[string]string{"Order": o.ID, "Amount": FormatAmount(d.Amount, o.Currency)}
	if d.Reason != "" {
		fields["Reason"] = d.Reason
	}
	if opened {
		text := fmt.Sprintf("A customer disputed the payment of order %s (%s). Answer in Stripe's Dashboard before the evidence is due, or the dispute is lost.",
			o.ID, FormatAmount(d.Amount, o.Currency))
		if d.EvidenceDueBy > 0 {
			due := time.Unix(d.EvidenceDueBy, 0).UTC().Format("2006-01-02 15:04 MST")
			fields["Evidence due"] = due
		}
		return Alert{Title: "Dispute opened", Text: text, Fields: fields, Link: DashboardURL(d.ID, o.Livemode)}
	}
	fields["Outcome"] = cmpOr(d.Status, "closed")
	text := fmt.Sprintf("The dispute on order %s is closed: %s.", o.ID, cmpOr(d.Status, "closed"))
	if d.Status == "lost" {
		text += " The amount is taken back by the bank; the order is dispute_lost."
	}
	return Alert{Title: "Dispute " + cmpOr(d.Status, "closed"), Text: text, Fields: fields, Link: DashboardURL(d.ID, o.Livemode)}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
