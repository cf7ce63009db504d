package caisse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// KindRefundOwner asks Stripe for a refund the shop's owner asked caisse
// for (an amount, or lines returned).
const KindRefundOwner = "refund_owner"

// RefundStatus is where a refund the owner asked for stands.
type RefundStatus string

// Refund statuses.
const (
	// RefundRequested: caisse is asking Stripe, or Stripe's events have
	// not confirmed it yet.
	RefundRequested RefundStatus = "requested"
	// RefundConfirmed: Stripe's events say the money went back; the
	// lines' units are back in stock when the refund restocks.
	RefundConfirmed RefundStatus = "refunded"
	// RefundFailed: Stripe refused it, or caisse could not ask; nothing
	// was refunded and its lines may be refunded again.
	RefundFailed RefundStatus = "failed"
)

// Stripe's reasons for a refund, the only ones it takes.
var RefundReasons = []string{"duplicate", "fraudulent", "requested_by_customer"}

// RefundRequest is what the owner asks to refund on an order: an amount,
// or lines (with an amount that defaults to their price as sold).
type RefundRequest struct {
	// Amount is in the order's currency's smallest unit; 0 with lines
	// refunds their price as sold.
	Amount int64 `json:"amount"`
	// Lines are the products and units returned.
	Lines []Item `json:"lines"`
	// Restock puts the lines' units back in stock once Stripe confirms
	// the refund.
	Restock bool `json:"restock"`
	// Reason is Stripe's reason, or empty.
	Reason string `json:"reason"`
	// Key, when set, tells apart two refunds of the same amount and lines
	// that are both meant (the admin page sends one per form shown).
	Key string `json:"key"`
}

// OwnerRefund is a refund the owner asked caisse for, as the order keeps
// it: requested at once, refunded when Stripe's events confirm it.
type OwnerRefund struct {
	// ID is the idempotency key caisse gives Stripe for it (see RefundID).
	ID string `json:"id"`
	// OrderID is the order, in an answer to a request (not stored).
	OrderID string       `json:"order_id,omitempty"`
	Status  RefundStatus `json:"status"`
	Amount  int64        `json:"amount"`
	// Lines are the products and units it returns (none for an amount).
	Lines   []Item `json:"lines"`
	Restock bool   `json:"restock"`
	Reason  string `json:"reason"`
	// ConfirmsAt is the order's amount_refunded that confirms it: what was
	// refunded when it was asked for, plus the refunds asked for before it
	// and not yet confirmed, plus its own amount.
	ConfirmsAt int64 `json:"confirms_at"`
	// Refund is Stripe's refund (re_…), once Stripe answered.
	Refund string `json:"refund"`
	// Error says why it failed.
	Error       string    `json:"error,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	// Repeated is set in the answer to a request identical to one made
	// before: it is that refund, not a second one (not stored).
	Repeated bool `json:"repeated,omitempty"`
}

// RefundService takes the owner's refunds.
type RefundService interface {
	// RequestRefund records a refund of order id as requested and queues
	// the request to Stripe; an identical request gives the same refund.
	RequestRefund(ctx context.Context, id string, r RefundRequest) (*OwnerRefund, error)
}

// RefundID is the idempotency key of the owner's refund r of order
// orderID, and its id on the order.
//
// Two requests are the same refund when they are for the same order, the
// same amount as asked (0 when the lines' price is meant), the same lines
// and the same client key: a form sent twice, a command run again or a
// request retried after a lost answer is then one refund, at Stripe too.
// Restock and reason are left out on purpose: a second request that only
// changes them would otherwise refund the money a second time. To refund
// the same amount or lines again on purpose, give another key.
func RefundID(orderID string, r RefundRequest) string {
	h := sha256.New()
	h.Write([]byte(orderID + "\x00" + strconv.FormatInt(r.Amount, 10) + "\x00" + FormatItems(r.Lines) + "\x00" + r.Key))
	return "refund:owner:" + orderID + ":" + hex.EncodeToString(h.Sum(nil))[:24]
}

// Normalize checks a refund request on its own, before the order is read:
// the reason is Stripe's, the lines are whole units of products named
// once (a product named twice is one line with the quantities added,
// sorted by product), and something is asked.
func (r *RefundRequest) Normalize() error {
	r.Reason = strings.TrimSpace(r.Reason)
	if r.Reason != "" && !slices.Contains(RefundReasons, r.Reason) {
		return Errorf(EINVALID, "reason %q is not one of Stripe's: use duplicate, fraudulent or requested_by_customer, or none", quoteShort(r.Reason))
	}
	if len(r.Key) > 100 || strings.ContainsFunc(r.Key, func(c rune) bool { return c < ' ' || c == 0x7f }) {
		return Errorf(EINVALID, "key must be at most 100 characters, without control characters")
	}
	if r.Amount < 0 || r.Amount > MaxAmount {
		return Errorf(EINVALID, "amount must be a whole number of the currency's smallest unit from 1 to %d", int64(MaxAmount))
	}
	var lines []Item
	for _, l := range r.Lines {
		l.ProductID = strings.TrimSpace(l.ProductID)
		if l.ProductID == "" {
			return Errorf(EINVALID, "a line to refund names no product")
		}
		if l.Quantity <= 0 || l.Quantity > MaxItemQuantity {
			return Errorf(EINVALID, "the quantity of %s to refund must be a whole number from 1 to %d", quoteShort(l.ProductID), MaxItemQuantity)
		}
		i := slices.IndexFunc(lines, func(x Item) bool { return x.ProductID == l.ProductID })
		if i < 0 {
			lines = append(lines, l)
			continue
		}
		lines[i].Quantity += l.Quantity
		if lines[i].Quantity > MaxItemQuantity {
			return Errorf(EINVALID, "the quantity of %s to refund must be a whole number from 1 to %d", quoteShort(l.ProductID), MaxItemQuantity)
		}
	}
	slices.SortFunc(lines, func(a, b Item) int { return strings.Compare(a.ProductID, b.ProductID) })
	r.Lines = lines
	switch {
	case len(r.Lines) == 0 && r.Amount == 0:
		return Errorf(EINVALID, "say what to refund: an amount greater than 0, or lines")
	case len(r.Lines) == 0 && r.Restock:
		return Errorf(EINVALID, "restock puts the units of lines back in stock: name the lines returned")
	}
	return nil
}

// DecideRefund decides the owner's refund r of the order, at now: the
// refund to record, or, for a request identical to one made before (see
// RefundID), that one with Repeated set. r must be normalized. It refuses
// (ECONFLICT) an order that is not paid, or paid and refunded in full, or
// disputed (Stripe refuses to refund a disputed payment), and (EINVALID)
// lines that are not the order's or were returned already, and more than
// is left to refund, saying how much is left.
func (o *OrderRecord) DecideRefund(r RefundRequest, now time.Time) (*OwnerRefund, error) {
	id := RefundID(o.ID, r)
	for _, x := range o.RefundsRequested {
		if x.ID == id {
			x.OrderID, x.Repeated = o.ID, true
			x.Lines = slices.Clone(x.Lines)
			return &x, nil
		}
	}
	switch o.Status {
	case StatusPaid, StatusPartiallyRefunded:
	case StatusRefunded:
		return nil, Errorf(ECONFLICT, "order %s is refunded in full already", o.ID)
	case StatusDisputed:
		return nil, Errorf(ECONFLICT, "order %s is disputed: Stripe refunds no payment while its dispute is open; answer the dispute in the Stripe Dashboard", o.ID)
	case StatusDisputeLost:
		return nil, Errorf(ECONFLICT, "order %s lost its dispute: the bank gave the money back to the buyer already", o.ID)
	default:
		return nil, Errorf(ECONFLICT, "order %s is %s: only a paid order can be refunded", o.ID, o.Status.Words(LangEnglish))
	}
	if o.PaymentIntent == "" {
		return nil, Errorf(ECONFLICT, "order %s names no payment intent caisse could refund: refund it in the Stripe Dashboard", o.ID)
	}
	if r.Restock && o.Oversold {
		return nil, Errorf(EINVALID, "order %s is oversold and holds no units: there is nothing to put back in stock", o.ID)
	}
	returned := map[string]int64{}
	pending := int64(0)
	for _, x := range o.RefundsRequested {
		if x.Status == RefundFailed {
			continue
		}
		for _, l := range x.Lines {
			returned[l.ProductID] += l.Quantity
		}
		if x.Status == RefundRequested {
			pending = addSaturating(pending, x.Amount)
		}
	}
	amount := r.Amount
	var price int64
	for _, l := range r.Lines {
		i := slices.IndexFunc(o.Items, func(x Line) bool { return x.ProductID == l.ProductID })
		if i < 0 {
			return nil, Errorf(EINVALID, "%s is not a line of order %s", quoteShort(l.ProductID), o.ID)
		}
		line := o.Items[i]
		if left := line.Quantity - returned[l.ProductID]; l.Quantity > left {
			return nil, Errorf(EINVALID, "order %s has %d of %s left to refund (%d bought, %d refunded or asked for), not %d",
				o.ID, max(left, 0), l.ProductID, line.Quantity, returned[l.ProductID], l.Quantity)
		}
		if line.UnitAmount <= 0 {
			price = -1
		} else if price >= 0 {
			if line.UnitAmount > (math.MaxInt64-price)/l.Quantity {
				return nil, Errorf(EINVALID, "the price of these lines is too large to refund")
			}
			price += line.UnitAmount * l.Quantity
		}
	}
	if amount == 0 {
		if price <= 0 {
			return nil, Errorf(EINVALID, "caisse does not know the price of these lines on order %s: give the amount to refund", o.ID)
		}
		amount = price
	}
	left := o.AmountPaid - o.AmountRefunded - pending
	if amount > left {
		return nil, Errorf(EINVALID, "only %s is left to refund on order %s (%s paid, %s refunded, %s asked for and not yet confirmed), not %s",
			FormatMoney(max(left, 0), o.Currency, LangEnglish), o.ID, FormatMoney(o.AmountPaid, o.Currency, LangEnglish),
			FormatMoney(o.AmountRefunded, o.Currency, LangEnglish), FormatMoney(pending, o.Currency, LangEnglish),
			FormatMoney(amount, o.Currency, LangEnglish))
	}
	return &OwnerRefund{ID: id, OrderID: o.ID, Status: RefundRequested, Amount: amount, Lines: r.Lines, Restock: r.Restock,
		Reason: r.Reason, ConfirmsAt: o.AmountRefunded + pending + amount, RequestedAt: now.UTC()}, nil
}

// ConfirmRefunds marks refunded the owner's refunds that the order's amount
// refunded (a sum of Stripe's cumulative charge amounts, which only grows)
// now reaches, and returns them. A confirmed refund stays confirmed: its
// units, once back in stock, never count as sold to the order again.
func ConfirmRefunds(refunds []OwnerRefund, refunded int64) []OwnerRefund {
	var confirmed []OwnerRefund
	for i := range refunds {
		if refunds[i].Status == RefundRequested && refunds[i].ConfirmsAt > 0 && refunded >= refunds[i].ConfirmsAt {
			refunds[i].Status = RefundConfirmed
			confirmed = append(confirmed, refunds[i])
		}
	}
	return confirmed
}

// FailRefund marks the owner's refund id failed with reason, unless Stripe
// confirmed it already, and lowers by its amount what confirms the refunds
// asked for after it. It reports whether it changed anything.
func FailRefund(refunds []OwnerRefund, id, reason string) bool {
	i := slices.IndexFunc(refunds, func(x OwnerRefund) bool { return x.ID == id })
	if i < 0 || refunds[i].Status != RefundRequested {
		return false
	}
	failed := &refunds[i]
	failed.Status, failed.Error = RefundFailed, Clip(reason, 2000)
	for j := range refunds {
		x := &refunds[j]
		if x.Status == RefundRequested && x.ConfirmsAt > failed.ConfirmsAt {
			x.ConfirmsAt -= failed.Amount
		}
	}
	return true
}

// ReturnedUnits are the units of the order's lines back in stock by the
// owner's confirmed refunds that restock, by product.
func ReturnedUnits(refunds []OwnerRefund) map[string]int64 {
	out := map[string]int64{}
	for _, x := range refunds {
		if x.Status != RefundConfirmed || !x.Restock {
			continue
		}
		for _, l := range x.Lines {
			out[l.ProductID] += l.Quantity
		}
	}
	return out
}

// withoutReturned returns items less the units returned, dropping items
// with none left.
func withoutReturned(items []Item, returned map[string]int64) []Item {
	if len(returned) == 0 {
		return items
	}
	left := map[string]int64{}
	for k, v := range returned {
		left[k] = v
	}
	var out []Item
	for _, it := range items {
		take := min(it.Quantity, left[it.ProductID])
		left[it.ProductID] -= take
		if it.Quantity-take > 0 {
			out = append(out, Item{ProductID: it.ProductID, Quantity: it.Quantity - take})
		}
	}
	return out
}

// RefundNote says what an owner's refund is, for the order's timeline:
// "refund of €25.00 asked of Stripe: 2 × print-1, back to stock once
// confirmed".
func RefundNote(x OwnerRefund, currency, what string) string {
	note := "refund of " + FormatMoney(x.Amount, currency, LangEnglish) + " " + what
	if len(x.Lines) > 0 {
		parts := make([]string, len(x.Lines))
		for i, l := range x.Lines {
			parts[i] = strconv.FormatInt(l.Quantity, 10) + " × " + l.ProductID
		}
		note += ": " + strings.Join(parts, ", ")
	}
	if x.Restock {
		note += ", back to stock"
	}
	if x.Reason != "" {
		note += " (" + x.Reason + ")"
	}
	return note
}

// Message is the outbox row that records the decision to ask Stripe for
// the refund; the job that asks is queued with it, in its transaction.
func (x OwnerRefund) Message(orderID string) OutboxMessage {
	return OutboxMessage{Key: "stripe:" + KindRefundOwner + ":" + strings.TrimPrefix(x.ID, "refund:owner:"), Channel: ChannelStripe,
		Topic: KindRefundOwner, OrderID: orderID, Payload: map[string]any{"order_id": orderID, "refund": x.ID, "amount": x.Amount}}
}
