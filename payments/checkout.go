package payments

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/sqlstore"
)

var _ caisse.CheckoutService = (*Jobs)(nil)

// MinCheckoutTTL is the shortest a checkout stays open: Stripe's minimum
// for a Checkout Session's expires_at.
const MinCheckoutTTL = 30 * time.Minute

// stripeClockMargin is added to a session's expiry sent to Stripe: Stripe
// refuses an expires_at under 30 minutes after it creates the session, and
// its clock and the time the request takes would make an exact 30 minutes
// fall short.
const stripeClockMargin = time.Minute

// stripeTimeout bounds a call to Stripe's API made for a request, retries
// included. It runs to the end even if the client hangs up, so that the
// reservation is either attached to a session or released.
const stripeTimeout = time.Minute

// Checkout reserves the units of the request's items, then creates the
// Stripe Checkout Session the customer pays on. The reservation commits
// before Stripe is called (no transaction waits on the network); if Stripe
// fails, the units are released and the order is removed.
func (j *Jobs) Checkout(ctx context.Context, req caisse.CheckoutRequest) (*caisse.Checkout, error) {
	if j.Stripe == nil {
		return nil, &caisse.Error{Code: caisse.EUNAVAILABLE, Reason: caisse.ReasonCheckoutOff,
			Message: "checkout is not set up on this caisse: its owner must set STRIPE_SECRET_KEY"}
	}
	if err := req.Validate(j.CheckoutLimits); err != nil {
		return nil, err
	}
	now := j.now()
	ttl := max(j.CheckoutTTL, MinCheckoutTTL)
	rec := &caisse.OrderRecord{
		Order: caisse.Order{ID: "ord_" + randomID(), Status: caisse.StatusPending,
			CustomerEmail: req.CustomerEmail, CreatedAt: now, UpdatedAt: now},
		CheckoutOpen:      true,
		CheckoutExpiresAt: now.Add(ttl + stripeClockMargin).Truncate(time.Second),
	}
	rec.Livemode = j.Stripe.Livemode()
	var err error
	for _, it := range req.Merged() {
		rec.Items = append(rec.Items, caisse.Line{ProductID: it.ProductID, Quantity: it.Quantity})
	}
	// The client's earlier checkouts of the same products are replaced,
	// and what it holds in all is bounded.
	digest := j.clientDigest(req.Client)
	var replaced []string
	if digest != "" {
		if replaced, err = j.replaceClientCheckouts(ctx, digest, rec.Items); err != nil {
			return nil, err
		}
	}
	lines, err := j.Store.ReserveCheckout(ctx, rec, digest, replaced, j.CheckoutLimits.MaxUnits)
	if err != nil {
		if len(replaced) > 0 {
			if cerr := j.Store.CloseReplacedCheckouts(context.WithoutCancel(ctx), replaced); cerr != nil {
				// Stripe's checkout.session.expired, or the sweep, releases them.
				j.logger().Error("could not release the checkouts a failed checkout replaced; Stripe's expiry events release them",
					"orders", replaced, "error", cerr.Error())
			}
		}
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stripeTimeout)
	defer cancel()
	session, err := j.Stripe.CreateCheckoutSession(ctx, caisse.CheckoutSessionParams{
		OrderID: rec.ID, CustomerEmail: req.CustomerEmail, SuccessURL: req.SuccessURL, CancelURL: req.CancelURL,
		ExpiresAt: rec.CheckoutExpiresAt, Items: caisse.FormatItems(caisse.ItemsOf(rec.Items)), Lines: lines,
		Shipping: j.CheckoutShipping,
	})
	if err != nil {
		j.logger().Warn("Stripe did not create a checkout session: its units are released",
			"order_id", rec.ID, "error", err.Error())
		if rerr := j.Store.ReleaseFailedCheckout(ctx, rec.ID); rerr != nil {
			// The sweep releases the units when the checkout's time is up.
			j.logger().Error("could not release a failed checkout's units; they are released when it expires",
				"order_id", rec.ID, "error", rerr.Error())
		}
		var apiErr *caisse.StripeError
		if errors.As(err, &apiErr) {
			// Stripe's own words stay in the log above: they can name the
			// account's configuration or part of its key, and this answer
			// goes to whoever asked for the checkout.
			return nil, &caisse.Error{Code: caisse.EUPSTREAM, Reason: cmp.Or(apiErr.Code, apiErr.Type, "stripe_error"),
				Message: "Stripe refused to create the checkout session; nothing was reserved"}
		}
		return nil, &caisse.Error{Code: caisse.EUPSTREAM, Reason: "stripe_unreachable",
			Message: "Stripe could not be reached to create the checkout session; nothing was reserved, try again"}
	}
	// The expiry caisse asked for stays the one it keeps: Stripe's answer
	// carries the same, and the sweep must not depend on its clock.
	if err := j.Store.RecordCheckoutSession(ctx, rec.ID, session.ID, session.URL); err != nil {
		// The session exists and the units are held: the customer can pay.
		// Its events link the order to the session whatever this says.
		j.logger().Error("could not record the checkout session on its order", "order_id", rec.ID,
			"checkout_session", session.ID, "error", err.Error())
	}
	return &caisse.Checkout{OrderID: rec.ID, CheckoutSessionID: session.ID, URL: session.URL, ExpiresAt: rec.CheckoutExpiresAt}, nil
}

// clientDigest is what is stored of a checkout's client: a keyed digest,
// so the orders table holds no address or buyer id, and a copy of the
// database alone cannot tell whose it is (an address is a few billion
// guesses away from a plain hash). "" for no client.
func (j *Jobs) clientDigest(client string) string {
	if client == "" {
		return ""
	}
	m := hmac.New(sha256.New, j.ClientKey)
	m.Write([]byte(client))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// replaceable reports whether a client's open checkout is replaced by a new
// one for these items: it holds one of the same products and its session
// can still be expired (not completed, the payment under way).
func replaceable(c sqlstore.ClientCheckout, items []caisse.Line) bool {
	if c.Status != caisse.StatusPending || c.Session == "" {
		return false
	}
	return slices.ContainsFunc(items, func(l caisse.Line) bool { return slices.Contains(c.Products, l.ProductID) })
}

// replaceClientCheckouts finds the client's open checkouts the new one
// replaces (those holding any of its products) and expires their sessions
// through Stripe, before anything is reserved; it returns the orders whose
// sessions Stripe expired, which the reservation then releases in its own
// transaction, so their units pass to the new checkout with no gap another
// buyer could take them in. A checkout Stripe will not expire (being paid
// right now) is kept and counted. A request that would hold too much even
// after the replacement is refused here, before Stripe is asked anything.
func (j *Jobs) replaceClientCheckouts(ctx context.Context, digest string, items []caisse.Line) ([]string, error) {
	limit := j.CheckoutLimits.MaxUnits
	open, err := j.Store.ClientCheckouts(ctx, digest)
	if err != nil {
		return nil, err
	}
	var units, kept int64
	for _, it := range items {
		units += it.Quantity
	}
	var replace []sqlstore.ClientCheckout
	for _, c := range open {
		if replaceable(c, items) {
			replace = append(replace, c)
		} else {
			kept += c.Reserved
		}
	}
	if limit > 0 && kept+units > limit {
		return nil, caisse.TooManyHeld(kept, limit)
	}
	var expired []string
	for _, c := range replace {
		if err := j.Stripe.ExpireCheckoutSession(ctx, c.Session); err != nil {
			j.logger().Warn("Stripe did not expire the checkout a new one of the same client replaces: it is kept, and counts against the client",
				"order_id", c.OrderID, "checkout_session", c.Session, "error", err.Error())
			continue
		}
		expired = append(expired, c.OrderID)
	}
	return expired, nil
}

// CancelCheckout closes the open checkout of an order caisse's checkout
// made and that nobody paid: Stripe expires its session first, so nobody
// can pay it once its units are released; then the units go back at once.
// A checkout closed already (cancelled, expired) answers the same, so a
// cancel page loaded twice is fine. The order's id is the capability: it is
// 96 random bits, known to the page that opened the checkout.
func (j *Jobs) CancelCheckout(ctx context.Context, orderID string) (*caisse.CheckoutCancel, error) {
	rec, err := j.Store.FindOrderRecord(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if rec == nil || len(rec.CheckoutItems) == 0 {
		return nil, &caisse.Error{Code: caisse.ENOTFOUND,
			Message: "no checkout of caisse has the order id " + strconv.Quote(caisse.Clip(orderID, 100)) + ": use the order_id /api/checkout answered"}
	}
	if err := notPaid(rec); err != nil {
		return nil, err
	}
	done := &caisse.CheckoutCancel{OrderID: rec.ID, Cancelled: true}
	if !rec.CheckoutOpen || rec.Status != caisse.StatusPending {
		return done, nil
	}
	if j.Stripe == nil {
		return nil, &caisse.Error{Code: caisse.EUNAVAILABLE, Reason: caisse.ReasonCheckoutOff,
			Message: "checkout is not set up on this caisse: its owner must set STRIPE_SECRET_KEY"}
	}
	if rec.CheckoutSession == "" {
		// Its session is being created: released now, it could be paid.
		return nil, &caisse.Error{Code: caisse.ECONFLICT, Reason: "checkout_opening",
			Message: "this checkout is still being opened: try again in a moment"}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stripeTimeout)
	defer cancel()
	if err := j.Stripe.ExpireCheckoutSession(sctx, rec.CheckoutSession); err != nil {
		j.logger().Warn("Stripe did not expire a cancelled checkout's session: its units stay held until Stripe's events say what became of it",
			"order_id", rec.ID, "checkout_session", rec.CheckoutSession, "error", err.Error())
		var apiErr *caisse.StripeError
		if errors.As(err, &apiErr) {
			return nil, &caisse.Error{Code: caisse.ECONFLICT, Reason: caisse.ReasonAlreadyPaid,
				Message: "Stripe says this checkout is no longer open: it was paid or is being paid, or it expired; nothing was cancelled"}
		}
		return nil, &caisse.Error{Code: caisse.EUPSTREAM, Reason: "stripe_unreachable",
			Message: "Stripe could not be reached to close the checkout; nothing was cancelled, try again"}
	}
	if err := j.Store.CloseCancelledCheckout(sctx, rec.ID); err != nil {
		return nil, err
	}
	j.logger().Info("the buyer cancelled a checkout: its units are released", "order_id", rec.ID, "outcome", "released")
	return done, nil
}

// notPaid refuses to cancel an order that was paid, or whose payment is on
// its way (a delayed method): its units are the buyer's.
func notPaid(rec *caisse.OrderRecord) error {
	switch rec.Status {
	case caisse.StatusPending, caisse.StatusExpired, caisse.StatusPaymentFailed:
		return nil
	case caisse.StatusAwaitingPayment:
		return &caisse.Error{Code: caisse.ECONFLICT, Reason: caisse.ReasonAlreadyPaid,
			Message: "the payment of this order is on its way: it cannot be cancelled"}
	}
	return &caisse.Error{Code: caisse.ECONFLICT, Reason: caisse.ReasonAlreadyPaid,
		Message: "this order is paid: it cannot be cancelled; ask the shop for a refund"}
}

// randomID is 96 random bits, in hex: an order id no one can guess.
func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
