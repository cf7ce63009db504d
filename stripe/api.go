package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v85"

	"github.com/caisse/caisse"
)

// Client is caisse's side of Stripe's API: it creates checkout sessions,
// refunds oversold orders, lists past events to catch up on missed
// deliveries, and reads the account's webhook endpoints. It holds the secret
// key and never puts it in an error or a log.
type Client struct {
	sc *stripego.Client
	// api and key serve the events list, which stripe-go's typed client
	// cannot give as raw bytes (see ListEvents).
	api stripego.Backend
	key string
}

// String keeps the secret key out of a printed Client (%v, %+v): fmt prints
// an unexported field as it is.
func (Client) String() string { return "stripe.Client{key: [secret key]}" }

// GoString keeps the secret key out of a Client printed with %#v.
func (c Client) GoString() string { return c.String() }

// Livemode reports whether the client's key is a live-mode key: what it
// creates (checkout sessions) is live, and so are the orders they are for.
func (c *Client) Livemode() bool {
	return strings.HasPrefix(c.key, "sk_live_") || strings.HasPrefix(c.key, "rk_live_")
}

// NewClient returns a Client that calls Stripe with the secret key. apiURL is the
// API's base URL, empty for Stripe's own (tests point it at stripe-mock);
// httpClient may be nil for stripe-go's default (80 s timeout). A request
// that gets no answer (the network failed, perhaps after Stripe acted) is
// retried twice with the same idempotency key. An error answer from Stripe,
// even a 5xx, is not: stripe-go v85 retries only a 429 lock_timeout, and
// caisse's jobs retry the rest later, with the same key.
func NewClient(key, apiURL string, httpClient *http.Client) *Client {
	cfg := &stripego.BackendConfig{
		HTTPClient:        httpClient,
		MaxNetworkRetries: stripego.Int64(2),
		// stripe-go logs to stderr by default; caisse reports what went wrong
		// through the errors it returns.
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull},
		// Telemetry sends Stripe the duration of the previous request;
		// a self-hosted service has no reason to.
		EnableTelemetry: stripego.Bool(false),
	}
	if apiURL != "" {
		cfg.URL = stripego.String(apiURL)
	}
	// Stripe's Retry-After on a 429 is not in stripe-go's error: a
	// transport reads it for the request that asked (see retryAfterOf).
	hc := httpClient
	if hc == nil {
		hc = &http.Client{Timeout: 80 * time.Second}
	}
	hc = &http.Client{Transport: retryAfterTransport{next: cmpTransport(hc.Transport)}, Timeout: hc.Timeout,
		CheckRedirect: hc.CheckRedirect, Jar: hc.Jar}
	cfg.HTTPClient = hc
	backends := stripego.NewBackendsWithConfig(cfg)
	return &Client{
		sc:  stripego.NewClient(key, stripego.WithBackends(backends)),
		api: backends.API,
		key: key,
	}
}

// apiError turns stripe-go's error into an *caisse.StripeError when Stripe answered,
// and makes sure no error carries the secret key. stripe-go's own error
// prints as JSON with whatever objects Stripe attached (a payment intent's
// client secret among them), so it is not passed on.
func (c *Client) apiError(err error) error {
	return c.apiErrorAfter(err, nil)
}

// apiErrorAfter is apiError for a request made with a retryAfter holder:
// the answer's Retry-After goes into the error.
func (c *Client) apiErrorAfter(err error, after *retryAfter) error {
	var se *stripego.Error
	if errors.As(err, &se) {
		var wait time.Duration
		if after != nil {
			wait = after.get()
		}
		return &caisse.StripeError{
			RetryAfter: wait,
			Status:     se.HTTPStatusCode,
			Code:       string(se.Code),
			Type:       string(se.Type),
			Message:    c.redact(se.Msg),
			Param:      se.Param,
			RequestID:  se.RequestID,
		}
	}
	if c.key != "" && strings.Contains(err.Error(), c.key) {
		// Not seen from stripe-go, whose errors name the URL, never the
		// Authorization header; kept as a guard. The cause is lost, which
		// only matters for an error that should not exist.
		return errors.New(c.redact(err.Error()))
	}
	return err
}

// redact replaces the secret key in s.
func (c *Client) redact(s string) string {
	if c.key == "" {
		return s
	}
	return strings.ReplaceAll(s, c.key, "[secret key]")
}

// CheckoutIdempotencyKey is the idempotency key of the checkout session
// created for an order.
func CheckoutIdempotencyKey(orderID string) string { return "checkout:" + orderID }

// OversoldRefundIdempotencyKey is the idempotency key of the refund of an
// order flagged oversold.
func OversoldRefundIdempotencyKey(orderID string) string { return "refund:oversold:" + orderID }

// MismatchRefundIdempotencyKey is the idempotency key of the refund of a
// payment that was taken for an order but does not pay it.
func MismatchRefundIdempotencyKey(paymentIntent string) string {
	return "refund:mismatch:" + paymentIntent
}

// FraudRefundIdempotencyKey is the idempotency key of the refund of a
// charge a card issuer warned is fraud (its payment intent when the
// warning names no charge).
func FraudRefundIdempotencyKey(charge string) string { return "refund:fraud:" + charge }

// CreateCheckoutSession creates a one-off payment checkout session for an
// order, with the idempotency key CheckoutIdempotencyKey(p.OrderID).
func (c *Client) CreateCheckoutSession(ctx context.Context, p caisse.CheckoutSessionParams) (caisse.CheckoutSession, error) {
	switch {
	case p.OrderID == "":
		return caisse.CheckoutSession{}, errors.New("error creating checkout session: no order id")
	case len(p.Lines) == 0:
		return caisse.CheckoutSession{}, fmt.Errorf("error creating checkout session for order %s: no lines", p.OrderID)
	}
	params := &stripego.CheckoutSessionCreateParams{
		Mode:              stripego.String(string(stripego.CheckoutSessionModePayment)),
		ClientReferenceID: stripego.String(p.OrderID),
		SuccessURL:        stripego.String(p.SuccessURL),
		CancelURL:         stripego.String(p.CancelURL),
		Metadata:          map[string]string{"order_id": p.OrderID},
		PaymentIntentData: &stripego.CheckoutSessionCreatePaymentIntentDataParams{
			Metadata: map[string]string{"order_id": p.OrderID},
		},
	}
	params.Context = ctx
	params.IdempotencyKey = stripego.String(CheckoutIdempotencyKey(p.OrderID))
	if p.Items != "" {
		params.Metadata["items"] = p.Items
		params.PaymentIntentData.Metadata["items"] = p.Items
	}
	if p.CustomerEmail != "" {
		params.CustomerEmail = stripego.String(p.CustomerEmail)
	}
	if !p.ExpiresAt.IsZero() {
		params.ExpiresAt = stripego.Int64(p.ExpiresAt.Unix())
	}
	if len(p.Shipping.Countries) > 0 {
		params.ShippingAddressCollection = &stripego.CheckoutSessionCreateShippingAddressCollectionParams{
			AllowedCountries: stripego.StringSlice(p.Shipping.Countries)}
	}
	for _, r := range p.Shipping.Rates {
		params.ShippingOptions = append(params.ShippingOptions, &stripego.CheckoutSessionCreateShippingOptionParams{ShippingRate: stripego.String(r)})
	}
	if p.Shipping.Phone {
		params.PhoneNumberCollection = &stripego.CheckoutSessionCreatePhoneNumberCollectionParams{Enabled: stripego.Bool(true)}
	}
	for _, l := range p.Lines {
		params.LineItems = append(params.LineItems, &stripego.CheckoutSessionCreateLineItemParams{
			PriceData: &stripego.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripego.String(l.Currency),
				UnitAmount:  stripego.Int64(l.UnitAmount),
				ProductData: &stripego.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripego.String(l.Name)},
			},
			Quantity: stripego.Int64(l.Quantity),
		})
	}
	s, err := c.sc.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return caisse.CheckoutSession{}, fmt.Errorf("error creating checkout session for order %s: %w", p.OrderID, c.apiError(err))
	}
	return caisse.CheckoutSession{ID: s.ID, URL: s.URL, ExpiresAt: time.Unix(s.ExpiresAt, 0).UTC()}, nil
}

// ExpireCheckoutSession expires an open checkout session, with the
// idempotency key "expire:" and its id.
func (c *Client) ExpireCheckoutSession(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("error expiring checkout session: no session id")
	}
	params := &stripego.CheckoutSessionExpireParams{}
	params.Context = ctx
	params.IdempotencyKey = stripego.String("expire:" + id)
	if _, err := c.sc.V1CheckoutSessions.Expire(ctx, id, params); err != nil {
		return fmt.Errorf("error expiring checkout session %s: %w", id, c.apiError(err))
	}
	return nil
}

// Refund refunds a payment intent, the whole of it or p.Amount, and
// returns the refund's id.
func (c *Client) Refund(ctx context.Context, p caisse.RefundParams) (string, error) {
	switch {
	case p.PaymentIntent == "":
		return "", fmt.Errorf("error refunding order %s: no payment intent", p.OrderID)
	case p.IdempotencyKey == "":
		// Without a key of its own, stripe-go would make a random one, and a
		// refund asked for twice would be made twice.
		return "", fmt.Errorf("error refunding payment %s of order %s: no idempotency key", p.PaymentIntent, p.OrderID)
	}
	params := &stripego.RefundCreateParams{
		PaymentIntent: stripego.String(p.PaymentIntent),
		Metadata:      map[string]string{},
	}
	params.Context = ctx
	params.IdempotencyKey = stripego.String(p.IdempotencyKey)
	for k, v := range p.Metadata {
		params.Metadata[k] = v
	}
	params.Metadata["order_id"] = p.OrderID
	if p.Reason != "" {
		params.Reason = stripego.String(p.Reason)
	}
	if p.Amount > 0 {
		params.Amount = stripego.Int64(p.Amount)
	}
	r, err := c.sc.V1Refunds.Create(ctx, params)
	if err != nil {
		return "", fmt.Errorf("error refunding payment %s of order %s: %w", p.PaymentIntent, p.OrderID, c.apiError(err))
	}
	return r.ID, nil
}

// eventPage is one page of GET /v1/events with each event kept as the bytes
// Stripe sent.
type eventPage struct {
	stripego.APIResource
	HasMore bool              `json:"has_more"`
	Data    []json.RawMessage `json:"data"`
}

// eventsPerPage is the most Stripe lists at once.
const eventsPerPage = 100

// ListEvents calls fn with every event Stripe has created since the given
// time (Stripe keeps 30 days; callers clamp to that; zero means all of
// them), oldest first, each as the exact JSON Stripe sent, with its id and
// created time. fn's error stops the listing and is returned as it is.
//
// Stripe lists newest first, so ListEvents pages through the whole list
// before calling fn: the events come in the order they happened, and a
// listing that fails half-way hands over nothing. 30 days of a shop's events
// fit in memory.
//
// stripe-go's typed list (V1Events.List) decodes each event into its Event
// type, which is wrong for what caisse needs twice over: caisse stores
// events as delivered, and an event keeps the API version of the day it was
// created, which Event may not decode (before 2017-05-25 "request" was a
// string; Event wants an object, and one such event would fail the whole
// page). So ListEvents asks the backend for pages whose data is
// []json.RawMessage and pages with starting_after itself. It sends the query
// through CallRaw, as stripe-go's own lists do: the backend's Call panics on
// list parameters, which have no Metadata field.
func (c *Client) ListEvents(ctx context.Context, since time.Time, fn func(id string, created int64, raw []byte) error) error {
	sinceText := "the start"
	if !since.IsZero() {
		sinceText = since.UTC().Format(time.RFC3339)
	}
	type event struct {
		ID      string `json:"id"`
		Created int64  `json:"created"`
		raw     []byte
	}
	var events []event
	seen := map[string]bool{}
	after := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(eventsPerPage)}}
		if !since.IsZero() {
			q.Set("created[gte]", strconv.FormatInt(since.Unix(), 10))
		}
		if after != "" {
			q.Set("starting_after", after)
		}
		var page eventPage
		err := c.api.CallRaw(http.MethodGet, "/v1/events", c.key, []byte(q.Encode()), &stripego.Params{Context: ctx}, &page)
		if err != nil {
			return fmt.Errorf("error listing events since %s: %w", sinceText, c.apiError(err))
		}
		last := ""
		for i, raw := range page.Data {
			e := event{raw: raw}
			if err := json.Unmarshal(raw, &e); err != nil || e.ID == "" {
				// The item itself stays out of the error: an event carries
				// customers' details.
				return fmt.Errorf("error listing events since %s: item %d of the page after %q is not an event with an id", sinceText, i, after)
			}
			last = e.ID
			// Cursor paging never repeats an event; a list that did must not
			// hand one over twice.
			if !seen[e.ID] {
				seen[e.ID] = true
				events = append(events, e)
			}
		}
		if !page.HasMore {
			break
		}
		if last == "" || last == after {
			return fmt.Errorf("error listing events since %s: the page after %q says more follow but lists no new event", sinceText, after)
		}
		after = last
	}
	for i := len(events) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("error listing events since %s: %w", sinceText, err)
		}
		e := events[i]
		if err := fn(e.ID, e.Created, e.raw); err != nil {
			return err
		}
	}
	return nil
}

// WebhookEndpoints lists the account's webhook endpoints.
func (c *Client) WebhookEndpoints(ctx context.Context) ([]caisse.WebhookEndpoint, error) {
	params := &stripego.WebhookEndpointListParams{}
	params.Limit = stripego.Int64(100)
	var out []caisse.WebhookEndpoint
	for ep, err := range c.sc.V1WebhookEndpoints.List(ctx, params).All(ctx) {
		if err != nil {
			return nil, fmt.Errorf("error listing webhook endpoints: %w", c.apiError(err))
		}
		out = append(out, caisse.WebhookEndpoint{
			ID:            ep.ID,
			URL:           ep.URL,
			Status:        ep.Status,
			APIVersion:    ep.APIVersion,
			EnabledEvents: ep.EnabledEvents,
		})
	}
	return out, nil
}

// CustomerEmail returns a customer's email: the address of an order whose
// payment names a customer and no other address. "" when the customer has
// none, or was deleted.
func (c *Client) CustomerEmail(ctx context.Context, id string) (string, error) {
	cust, err := c.sc.V1Customers.Retrieve(ctx, id, nil)
	if err != nil {
		return "", fmt.Errorf("error reading customer %s: %w", id, c.apiError(err))
	}
	if cust.Deleted {
		return "", nil
	}
	return cust.Email, nil
}

// ShippingRate is a shipping rate (shr_…) as the checkout offers it.
type ShippingRate struct {
	ID          string
	DisplayName string
	// Active is false for a rate archived in Stripe's Dashboard, which
	// Stripe refuses to offer.
	Active bool
	// Amount and Currency are its fixed amount (minor units), when it has
	// one.
	Amount   int64
	Currency string
}

// ShippingRate reads a shipping rate (shr_…).
func (c *Client) ShippingRate(ctx context.Context, id string) (ShippingRate, error) {
	r, err := c.sc.V1ShippingRates.Retrieve(ctx, id, nil)
	if err != nil {
		return ShippingRate{}, fmt.Errorf("error reading shipping rate %s: %w", id, c.apiError(err))
	}
	out := ShippingRate{ID: r.ID, DisplayName: r.DisplayName, Active: r.Active}
	if r.FixedAmount != nil {
		out.Amount, out.Currency = r.FixedAmount.Amount, string(r.FixedAmount.Currency)
	}
	return out, nil
}

// SetShipment sets a payment intent's shipping: the address the order went
// to, the carrier and the tracking number.
func (c *Client) SetShipment(ctx context.Context, paymentIntent string, to caisse.Shipping, s caisse.Shipment) error {
	a := to.Address
	params := &stripego.PaymentIntentUpdateParams{Shipping: &stripego.ShippingDetailsParams{
		Name: stripego.String(to.Name), Carrier: stripego.String(s.Carrier), TrackingNumber: stripego.String(s.TrackingNumber),
		Address: &stripego.AddressParams{Line1: stripego.String(a.Line1), Line2: stripego.String(a.Line2),
			PostalCode: stripego.String(a.PostalCode), City: stripego.String(a.City), State: stripego.String(a.State), Country: stripego.String(a.Country)},
	}}
	if to.Phone != "" {
		params.Shipping.Phone = stripego.String(to.Phone)
	}
	params.Context = ctx
	if _, err := c.sc.V1PaymentIntents.Update(ctx, paymentIntent, params); err != nil {
		return fmt.Errorf("error setting the shipment of payment intent %s: %w", paymentIntent, c.apiError(err))
	}
	return nil
}
