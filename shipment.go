package caisse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Shipment is how an order left the shop: the carrier, its tracking number
// and the page where the buyer follows the parcel.
type Shipment struct {
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
	TrackingURL    string `json:"tracking_url"`
	// ShippedAt is when the owner first recorded it; a correction of the
	// details keeps it.
	ShippedAt time.Time `json:"shipped_at"`
}

// ShipRequest is what the owner says when an order leaves.
type ShipRequest struct {
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
	TrackingURL    string `json:"tracking_url"`
}

// What can be wrong with a ShipRequest (ShipRequest.Problem).
const (
	ShipMissing     = "missing"      // no carrier, or no tracking number
	ShipTooLong     = "too_long"     // a carrier or tracking number over 100 characters, or not printable
	ShipTrackingURL = "tracking_url" // a tracking page that is not a web address
)

// Problem trims the request and says what is wrong with it ("" when
// nothing): a carrier and a tracking number are needed, printable and at
// most 100 characters, and a tracking page must be a web address.
func (r *ShipRequest) Problem() string {
	r.Carrier = strings.TrimSpace(r.Carrier)
	r.TrackingNumber = strings.TrimSpace(r.TrackingNumber)
	r.TrackingURL = strings.TrimSpace(r.TrackingURL)
	for _, v := range []string{r.Carrier, r.TrackingNumber} {
		switch {
		case v == "":
			return ShipMissing
		case utf8.RuneCountInString(v) > 100 || !printableText(v):
			return ShipTooLong
		}
	}
	if r.TrackingURL != "" {
		u, err := url.Parse(r.TrackingURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(r.TrackingURL) > 2000 {
			return ShipTrackingURL
		}
	}
	return ""
}

// Normalize trims the request and checks it (Problem), with an error
// saying what to do.
func (r *ShipRequest) Normalize() error {
	switch r.Problem() {
	case ShipMissing:
		return &Error{Code: EINVALID, Reason: ShipMissing, Message: "carrier and tracking_number are needed: say which carrier took the parcel and its tracking number"}
	case ShipTooLong:
		return &Error{Code: EINVALID, Reason: ShipTooLong, Message: "carrier and tracking_number must be at most 100 printable characters each"}
	case ShipTrackingURL:
		return &Error{Code: EINVALID, Reason: ShipTrackingURL, Message: "tracking_url must be the web address where the buyer follows the parcel, such as https://www.laposte.fr/outils/suivre-vos-envois?code=…"}
	}
	return nil
}

// printableText reports whether s holds no control characters.
func printableText(s string) bool {
	for _, c := range s {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// Why an order cannot be shipped (Order.CannotShip).
const (
	NoShipOversold = "oversold"         // no unit was left for it
	NoShipMismatch = "payment_mismatch" // a payment on it does not pay it
	NoShipRefunded = "refunded"         // it is refunded in full
	NoShipDisputed = "disputed"         // the buyer disputes the payment, or won the dispute
	NoShipNotPaid  = "not_paid"         // it is not paid (pending, expired, failed…)
)

// CannotShip says why an order cannot be shipped, "" when it can: it must
// be paid (partly refunded is still paid), and neither oversold nor
// mismatched.
func (o *Order) CannotShip() string {
	switch {
	case o.Oversold:
		return NoShipOversold
	case o.PaymentMismatch:
		return NoShipMismatch
	case o.Status == StatusRefunded:
		return NoShipRefunded
	case o.Status == StatusDisputed || o.Status == StatusDisputeLost:
		return NoShipDisputed
	case o.Status != StatusPaid && o.Status != StatusPartiallyRefunded:
		return NoShipNotPaid
	}
	return ""
}

// NoShipWords says why an order cannot ship (a CannotShip reason), in
// English or French.
func NoShipWords(reason string, o *Order, lang string) string {
	fr := lang == LangFrench
	switch reason {
	case NoShipOversold:
		if fr {
			return "elle est survendue : aucune unité ne restait pour elle ; remboursez-la ou remettez du stock d’abord"
		}
		return "it is oversold: no unit was left for it; refund it or restock first"
	case NoShipMismatch:
		if fr {
			return "un paiement reçu pour elle ne la paie pas (paiement non conforme) ; voyez la commande"
		}
		return "a payment on it does not pay it (payment mismatch); see the order"
	case NoShipRefunded:
		if fr {
			return "elle est remboursée en entier"
		}
		return "it is refunded in full"
	case NoShipDisputed:
		if fr {
			return "son paiement est contesté (" + o.Status.Words(LangFrench) + ") ; voyez le litige"
		}
		return "its payment is disputed (" + o.Status.Words(LangEnglish) + "); see the dispute"
	}
	if fr {
		return "elle n’est pas payée (" + o.Status.Words(LangFrench) + ")"
	}
	return "it is not paid (" + o.Status.Words(LangEnglish) + ")"
}

// Ship records that an order left with req's carrier and tracking. The
// buyer is told (once for these details), the shop's systems get
// order.shipped, and, when toStripe, Stripe gets the tracking on the
// payment intent (when the order has one and an address Stripe can take). Shipping again with
// the same details changes nothing; with other details, they replace the
// first and the buyer gets one correction. It returns the messages to
// write with the order, the timeline's note, and whether anything changed.
func Ship(rec *OrderRecord, req ShipRequest, now time.Time, toStripe bool) ([]OutboxMessage, string, bool, error) {
	if err := req.Normalize(); err != nil {
		return nil, "", false, err
	}
	if why := rec.CannotShip(); why != "" {
		return nil, "", false, &Error{Code: ECONFLICT, Reason: why,
			Message: fmt.Sprintf("order %s cannot be shipped: %s", rec.ID, NoShipWords(why, &rec.Order, LangEnglish))}
	}
	prev := rec.Shipment
	if prev != nil && prev.Carrier == req.Carrier && prev.TrackingNumber == req.TrackingNumber && prev.TrackingURL == req.TrackingURL {
		return nil, "", false, nil
	}
	s := &Shipment{Carrier: req.Carrier, TrackingNumber: req.TrackingNumber, TrackingURL: req.TrackingURL, ShippedAt: now.UTC()}
	if prev != nil {
		s.ShippedAt = prev.ShippedAt
	}
	rec.Shipment = s
	// The details name the messages: the same details again are the same
	// messages, other details new ones.
	sum := sha256.Sum256([]byte(req.Carrier + "\x00" + req.TrackingNumber + "\x00" + req.TrackingURL))
	version := hex.EncodeToString(sum[:8])
	payload := map[string]any{"carrier": s.Carrier, "tracking_number": s.TrackingNumber, "tracking_url": s.TrackingURL, "correction": prev != nil}
	msgs := []OutboxMessage{
		{Key: "email:" + TopicOrderShipped + ":" + rec.ID + ":" + version, Channel: ChannelEmail, Topic: TopicOrderShipped, OrderID: rec.ID, Payload: payload},
		{Key: "webhook:" + HookOrderShipped + ":" + rec.ID + ":" + version, Channel: ChannelWebhook, Topic: HookOrderShipped, OrderID: rec.ID},
	}
	if toStripe && rec.PaymentIntent != "" && rec.Shipping != nil && rec.Shipping.Name != "" && rec.Shipping.Address.Line1 != "" {
		// Stripe takes a payment intent's tracking only with the address it
		// went to; the job reads both from the order when it runs.
		msgs = append(msgs, OutboxMessage{Key: "stripe:" + KindShipmentTracking + ":" + rec.ID + ":" + version, Channel: ChannelStripe,
			Topic: KindShipmentTracking, OrderID: rec.ID, Payload: map[string]any{"payment_intent": rec.PaymentIntent}})
	}
	note := "shipped with " + s.Carrier + ", tracking " + s.TrackingNumber
	if prev != nil {
		note = "shipment corrected: " + s.Carrier + ", tracking " + s.TrackingNumber
	}
	return msgs, note, true, nil
}

// ShipOrder records, through l, that order id left with req's carrier and
// tracking (see Ship): the order, a timeline entry and the messages, in the
// transaction l belongs to. It returns the order as it is now.
func (r Rules) ShipOrder(ctx context.Context, l Ledger, id string, req ShipRequest) (*OrderRecord, error) {
	rec, err := l.LockOrder(ctx, id)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, Errorf(ENOTFOUND, "no order %s", id)
	}
	now := r.Now().UTC()
	msgs, note, changed, err := Ship(rec, req, now, r.ShipmentsToStripe)
	if err != nil || !changed {
		return rec, err
	}
	rec.UpdatedAt = now
	if err := l.PutOrder(ctx, rec); err != nil {
		return nil, err
	}
	entry := TimelineEntry{At: now, Type: TopicOrderShipped, From: rec.Status, To: rec.Status, Note: note}
	if err := l.AddTimeline(ctx, id, entry); err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if err := l.AddOutbox(ctx, m); err != nil {
			return nil, err
		}
	}
	return rec, nil
}
