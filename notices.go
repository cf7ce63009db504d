package caisse

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	// Recipient is an artist's address for their email; "" for a
	// customer's email, whose address is read from the order when it is
	// sent. The store names the recipients of the other channels.
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
	// KindRefundFraud asks Stripe to refund a payment a card issuer warned
	// is fraud, before it becomes a dispute (CAISSE_FRAUD_POLICY=refund).
	KindRefundFraud = "refund_fraud"
	// KindShipmentTracking gives Stripe an order's carrier and tracking
	// number, on its payment intent: evidence if the buyer disputes
	// "not received".
	KindShipmentTracking = "shipment_tracking"
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
	HookOrderShipped        = "order.shipped"
	HookProductSold         = "product.sold"
	HookAvailabilityChanged = "product.availability_changed"
)

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
	case strings.HasPrefix(id, "po_"):
		return base + "payouts/" + id
	}
	return base + "search?query=" + id
}

// transitionMessages returns the side effects of an order entering its
// status: the customer's email, the team's alert and the shop's webhook.
// Each is keyed by what it announces (the order paid, the refunded amount
// reaching N, dispute D opened), not by the event that brought it, so a
// second path to the same fact never says it twice. A customer email names
// no recipient: the address is read from the order when it is sent.
func transitionMessages(o *OrderRecord, from OrderStatus, ev *Event) []OutboxMessage {
	what := o.ID
	switch o.Status {
	case StatusPartiallyRefunded:
		what += ":" + strconv.FormatInt(o.AmountRefunded, 10)
	case StatusDisputed, StatusDisputeLost:
		if o.Dispute != nil {
			what += ":" + o.Dispute.ID
		}
	}
	email := func(topic string) OutboxMessage {
		return OutboxMessage{Key: "email:" + topic + ":" + what, Channel: ChannelEmail, Topic: topic,
			OrderID: o.ID, Payload: map[string]any{"event_id": ev.ID}}
	}
	hook := func(typ string) OutboxMessage {
		return OutboxMessage{Key: "webhook:" + typ + ":" + what, Channel: ChannelWebhook, Topic: typ, OrderID: o.ID}
	}
	key := what
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
		out = append(out, AlertMessage(key, TopicDisputeOpened, o.ID, DisputeOpenedAlert(o.alertOrder(), o.dispute())), hook(HookOrderDisputed))
	case StatusExpired:
		out = append(out, hook(HookOrderExpired))
	}
	// A dispute closes when the order leaves disputed, or reaches
	// dispute_lost without having been seen disputed (events came late).
	if (from == StatusDisputed && o.Status != StatusDisputed) || (o.Status == StatusDisputeLost && from != StatusDisputed) {
		closed := o.ID
		if o.Dispute != nil {
			closed += ":" + o.Dispute.ID + ":" + o.Dispute.Status
		}
		out = append(out, AlertMessage(closed, TopicDisputeClosed, o.ID, DisputeClosedAlert(o.alertOrder(), o.dispute())),
			OutboxMessage{Key: "webhook:" + HookOrderDisputeClosed + ":" + closed, Channel: ChannelWebhook, Topic: HookOrderDisputeClosed, OrderID: o.ID})
	}
	return out
}

// paymentFailedMessages returns the notices of one declined payment
// attempt (the payment intent's fact from the event that declined it): the
// customer is told why, in their words, and how to try again; the shop's
// webhook hears of it. The order goes on.
func paymentFailedMessages(orderID string, f Fact, ev *Event) []OutboxMessage {
	key := orderID + ":" + f.ID + ":" + ev.ID
	return []OutboxMessage{
		{Key: "email:" + TopicPaymentFailed + ":" + key, Channel: ChannelEmail, Topic: TopicPaymentFailed, OrderID: orderID,
			Payload: map[string]any{"error": f.PaymentError, "code": f.PaymentErrorCode, "payment_intent": f.ID, "event_id": ev.ID}},
		{Key: "webhook:" + HookOrderPaymentFailed + ":" + key, Channel: ChannelWebhook, Topic: HookOrderPaymentFailed, OrderID: orderID},
	}
}

// announceSales tells the artist and the shop's systems of each product
// the order newly sells (its units became sold by this change), and of
// each announced sale undone: its units went back (a refund, a return) or
// the money did (a full refund, a lost dispute). Never for an oversold
// order or one a payment did not match: the team settles those.
func (r Rules) announceSales(ctx context.Context, l Ledger, rec *OrderRecord, before, after []Hold, status OrderStatus,
	products map[string]*Product, lines []Line) error {
	soldBefore, soldNow := map[string]int64{}, map[string]int64{}
	for _, h := range before {
		soldBefore[h.ProductID] += h.Sold
	}
	for _, h := range after {
		soldNow[h.ProductID] += h.Sold
	}
	undone := status == StatusRefunded || status == StatusDisputeLost
	var msgs []OutboxMessage
	for _, line := range lines {
		id := line.ProductID
		told := slices.Contains(rec.SalesTold, id)
		switch {
		case !told && soldNow[id] > 0 && soldBefore[id] == 0 && !undone && !rec.Oversold && !rec.PaymentMismatch:
			rec.SalesTold = append(rec.SalesTold, id)
			msgs = append(msgs, saleMessages(rec.ID, products[id], TopicArtistSale)...)
			msgs = append(msgs, OutboxMessage{Key: "webhook:" + HookProductSold + ":" + id + ":" + rec.ID, Channel: ChannelWebhook,
				Topic: HookProductSold, OrderID: rec.ID, ProductID: id})
		case told && (soldNow[id] == 0 || undone):
			rec.SalesTold = slices.DeleteFunc(rec.SalesTold, func(p string) bool { return p == id })
			msgs = append(msgs, saleMessages(rec.ID, products[id], TopicArtistSaleCancelled)...)
		}
	}
	slices.Sort(rec.SalesTold)
	for _, m := range msgs {
		if err := l.AddOutbox(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// saleMessages are the emails to a work's artist, one per address, about
// its sale on an order (or that sale's cancellation): what sold, for how
// much and their share, read from the order's line when sent; never who
// bought it.
func saleMessages(orderID string, p *Product, topic string) []OutboxMessage {
	if p == nil {
		return nil
	}
	var out []OutboxMessage
	for _, addr := range p.ArtistEmail {
		out = append(out, OutboxMessage{Key: "email:" + topic + ":" + p.ID + ":" + orderID + ":" + addr, Channel: ChannelEmail,
			Topic: topic, Recipient: addr, OrderID: orderID, ProductID: p.ID,
			Payload: map[string]any{"share": int64(p.ArtistShare), "artist_name": p.ArtistName}})
	}
	return out
}

// SoldLines returns an order's lines for its items: each keeps the name
// and unit price it was first given (sold holds the lines as they were),
// and a line that has none yet takes them from the catalogue, the price
// only if the product is priced in the order's currency.
func SoldLines(items []Item, sold []Line, products map[string]*Product, currency string) []Line {
	lines := make([]Line, 0, len(items))
	for _, it := range items {
		l := Line{ProductID: it.ProductID, Quantity: it.Quantity}
		for _, s := range sold {
			if s.ProductID == it.ProductID {
				l.Name, l.UnitAmount = s.Name, s.UnitAmount
				break
			}
		}
		if p := products[it.ProductID]; p != nil {
			if l.Name == "" {
				l.Name = p.Name
			}
			if l.UnitAmount == 0 && currency != "" && p.Currency == currency && p.Price > 0 {
				l.UnitAmount = p.Price
			}
		}
		lines = append(lines, l)
	}
	return lines
}

// DescribeLines writes an order's lines as a person reads them, in lang:
// "2 × T-shirt M (€25.00 each); 1 × print-9 — product print-9 is not in the
// catalogue".
func DescribeLines(lines []Line, unknown []string, currency, lang string) string {
	parts := make([]string, 0, len(lines))
	for _, l := range lines {
		s := fmt.Sprintf("%d × %s", l.Quantity, cmpOr(l.Name, l.ProductID))
		if slices.Contains(unknown, l.ProductID) {
			s += " — " + NotInCatalogue(l.ProductID, lang)
		} else if l.UnitAmount > 0 {
			if Language(lang) == LangFrench {
				s += " (" + FormatMoney(l.UnitAmount, currency, lang) + " l’unité)"
			} else {
				s += " (" + FormatMoney(l.UnitAmount, currency, lang) + " each)"
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// NotInCatalogue says that an order names a product the shop does not
// have, in lang.
func NotInCatalogue(productID, lang string) string {
	if Language(lang) == LangFrench {
		return "le produit " + productID + " n’est pas au catalogue"
	}
	return "product " + productID + " is not in the catalogue"
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

// ProductChangeMessages are what an owner's change to a product tells
// (before is nil for a new product): the site its availability, sent as it
// is when the update goes out, whenever it may have changed (a new product,
// another stock, another Sanity document), and the shop's systems when it
// flipped. change makes the messages of this change unique.
func ProductChangeMessages(before, after *Product, change string) []OutboxMessage {
	var out []OutboxMessage
	if before == nil || before.Stock != after.Stock || before.SanityID != after.SanityID || before.IsAvailable != after.IsAvailable {
		out = append(out, AvailabilityMessage(after.ID, change))
	}
	if before != nil && before.IsAvailable != after.IsAvailable {
		out = append(out, OutboxMessage{Key: "webhook:" + HookAvailabilityChanged + ":" + after.ID + ":" + change, Channel: ChannelWebhook,
			Topic: HookAvailabilityChanged, ProductID: after.ID})
	}
	return out
}

// AvailabilityMessage asks for the site to be told a product's
// availability, as it is when the update is sent; change makes it unique.
func AvailabilityMessage(productID, change string) OutboxMessage {
	return OutboxMessage{Key: "sanity:" + productID + ":" + change, Channel: ChannelSanity, Topic: TopicAvailability, ProductID: productID}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
