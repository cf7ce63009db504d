package stripe

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/stripemock"
)

func TestMain(m *testing.M) { stripemock.Main(m) }

// testKey looks like a real secret key, so a leak would show.
const testKey = "sk_test_51CaisseSecretKeyThatMustNeverLeak0123456789"

func checkoutParams(order string, expires time.Time) caisse.CheckoutSessionParams {
	return caisse.CheckoutSessionParams{
		OrderID:       order,
		CustomerEmail: "ada@example.com",
		SuccessURL:    "https://shop.example/thanks",
		CancelURL:     "https://shop.example/cart",
		ExpiresAt:     expires,
		Items:         "art_1:1,print_2:3",
		Lines: []caisse.CheckoutLine{
			{Name: "Artwork #1", UnitAmount: 90000, Currency: "eur", Quantity: 1},
			{Name: "Print #2", UnitAmount: 1500, Currency: "eur", Quantity: 3},
		},
	}
}

// TestClientStripeMock checks each call against stripe-mock, which refuses a
// parameter Stripe's spec does not have, or a value it does not allow.
func TestClientStripeMock(t *testing.T) {
	t.Parallel()
	c := NewClient(stripemock.TestKey, stripemock.Start(t), nil)
	expires := time.Now().Add(31 * time.Minute).Truncate(time.Second).UTC()

	t.Run("checkout session", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name string
			edit func(*caisse.CheckoutSessionParams)
		}{
			{"every field", func(*caisse.CheckoutSessionParams) {}},
			{"no email, items or expiry", func(p *caisse.CheckoutSessionParams) { p.CustomerEmail, p.Items, p.ExpiresAt = "", "", time.Time{} }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				p := checkoutParams("ord_mock", expires)
				tc.edit(&p)
				s, err := c.CreateCheckoutSession(t.Context(), p)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(s.ID, "cs_test_") || !strings.HasPrefix(s.URL, "https://") {
					t.Errorf("session %+v, want a cs_test_… id and a URL", s)
				}
				// stripe-mock answers with the expires_at it was sent.
				if !p.ExpiresAt.IsZero() && !s.ExpiresAt.Equal(p.ExpiresAt) {
					t.Errorf("expires at %s, want %s", s.ExpiresAt, p.ExpiresAt)
				}
			})
		}
	})

	t.Run("refund", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name       string
			reason     string
			amount     int64
			wantStatus int // 0: the refund is made
		}{
			{"no reason", "", 0, 0},
			{"one of Stripe's reasons", "requested_by_customer", 0, 0},
			{"part of the payment", "requested_by_customer", 1500, 0},
			{"caisse's reason where Stripe's goes", "oversold", 0, http.StatusBadRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				id, err := c.Refund(t.Context(), caisse.RefundParams{
					PaymentIntent: "pi_123", OrderID: "ord_mock", Reason: tc.reason, Amount: tc.amount,
					Metadata: map[string]string{"caisse_reason": "oversold"}, IdempotencyKey: OversoldRefundIdempotencyKey("ord_mock"),
				})
				if tc.wantStatus == 0 {
					if err != nil || !strings.HasPrefix(id, "re_") {
						t.Fatalf("refund %q, %v; want re_…", id, err)
					}
					return
				}
				var apiErr *caisse.StripeError
				if !errors.As(err, &apiErr) || apiErr.Status != tc.wantStatus || apiErr.Type != "invalid_request_error" {
					t.Fatalf("error %v, want an caisse.StripeError %d invalid_request_error", err, tc.wantStatus)
				}
			})
		}
	})

	t.Run("events", func(t *testing.T) {
		t.Parallel()
		var ids []string
		err := c.ListEvents(t.Context(), time.Now().Add(-29*24*time.Hour), func(id string, created int64, raw []byte) error {
			var e struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				Created int64  `json:"created"`
			}
			if err := json.Unmarshal(raw, &e); err != nil || e.ID != id || e.Object != "event" || e.Created != created {
				t.Errorf("event %s (created %d) given as %s (%v)", id, created, raw, err)
			}
			ids = append(ids, id)
			return nil
		})
		if err != nil || len(ids) == 0 {
			t.Fatalf("listed %v, %v; want stripe-mock's events", ids, err)
		}
	})

	t.Run("webhook endpoints", func(t *testing.T) {
		t.Parallel()
		eps, err := c.WebhookEndpoints(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(eps) == 0 || !strings.HasPrefix(eps[0].ID, "we_") || eps[0].URL == "" || eps[0].Status != "enabled" || len(eps[0].EnabledEvents) == 0 {
			t.Errorf("endpoints %+v, want stripe-mock's", eps)
		}
	})

	t.Run("without a key", func(t *testing.T) {
		t.Parallel()
		_, err := NewClient("", stripemock.Start(t), nil).WebhookEndpoints(t.Context())
		var apiErr *caisse.StripeError
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
			t.Fatalf("error %v, want an caisse.StripeError 401", err)
		}
	})
}

// setup returns a Client talking to a new Fake.
func setup(t *testing.T) (*Client, *stripemock.Fake) {
	t.Helper()
	f := stripemock.NewFake(t)
	return NewClient(testKey, f.URL, nil), f
}

func TestCreateCheckoutSession(t *testing.T) {
	t.Parallel()
	expires := time.Now().Add(40 * time.Minute).Truncate(time.Second).UTC()
	for _, tc := range []struct {
		name string
		edit func(*caisse.CheckoutSessionParams)
		want map[string]string // "" means absent
	}{
		{
			name: "every field",
			edit: func(*caisse.CheckoutSessionParams) {},
			want: map[string]string{
				"mode":                "payment",
				"client_reference_id": "ord_1",
				"metadata[order_id]":  "ord_1",
				"metadata[items]":     "art_1:1,print_2:3",
				"payment_intent_data[metadata][order_id]":       "ord_1",
				"payment_intent_data[metadata][items]":          "art_1:1,print_2:3",
				"customer_email":                                "ada@example.com",
				"success_url":                                   "https://shop.example/thanks",
				"cancel_url":                                    "https://shop.example/cart",
				"expires_at":                                    fmt.Sprint(expires.Unix()),
				"line_items[0][price_data][currency]":           "eur",
				"line_items[0][price_data][unit_amount]":        "90000",
				"line_items[0][price_data][product_data][name]": "Artwork #1",
				"line_items[0][quantity]":                       "1",
				"line_items[1][price_data][unit_amount]":        "1500",
				"line_items[1][price_data][product_data][name]": "Print #2",
				"line_items[1][quantity]":                       "3",
			},
		},
		{
			name: "no email, no items",
			edit: func(p *caisse.CheckoutSessionParams) { p.CustomerEmail, p.Items = "", "" },
			want: map[string]string{
				"customer_email": "", "metadata[items]": "", "payment_intent_data[metadata][items]": "",
				"metadata[order_id]": "ord_1", "payment_intent_data[metadata][order_id]": "ord_1",
			},
		},
		{
			name: "Stripe's default expiry",
			edit: func(p *caisse.CheckoutSessionParams) { p.ExpiresAt = time.Time{} },
			want: map[string]string{"expires_at": ""},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, f := setup(t)
			p := checkoutParams("ord_1", expires)
			tc.edit(&p)
			s, err := c.CreateCheckoutSession(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(s.ID, "cs_test_") || !strings.HasSuffix(s.URL, s.ID) {
				t.Errorf("session %+v, want the fake's cs_test_… and its URL", s)
			}
			if !p.ExpiresAt.IsZero() && !s.ExpiresAt.Equal(p.ExpiresAt) {
				t.Errorf("expires at %s, want %s", s.ExpiresAt, p.ExpiresAt)
			}
			reqs := f.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/v1/checkout/sessions" || r.IdempotencyKey != "checkout:ord_1" {
				t.Errorf("%s %s with key %q, want POST /v1/checkout/sessions with checkout:ord_1", r.Method, r.Path, r.IdempotencyKey)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
				t.Errorf("Authorization %q, want the secret key", got)
			}
			for k, want := range tc.want {
				if got := r.Form.Get(k); got != want || r.Form.Has(k) != (want != "") {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestCreateCheckoutSessionRetried(t *testing.T) {
	t.Parallel()
	c, f := setup(t)
	p := checkoutParams("ord_1", time.Now().Add(time.Hour))
	first, err := c.CreateCheckoutSession(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateCheckoutSession(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("created again: %+v, want the first session %+v", again, first)
	}
	other, err := c.CreateCheckoutSession(t.Context(), checkoutParams("ord_2", time.Now().Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if other.ID == first.ID {
		t.Errorf("another order got session %s too", other.ID)
	}
	if n := len(f.Requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestRefund(t *testing.T) {
	t.Parallel()
	c, f := setup(t)
	f.AddPaymentIntent("pi_1", 90000, "eur")
	p := caisse.RefundParams{
		PaymentIntent:  "pi_1",
		OrderID:        "ord_1",
		Metadata:       map[string]string{"caisse_reason": "oversold", "order_id": "not this one"},
		IdempotencyKey: OversoldRefundIdempotencyKey("ord_1"),
	}
	id, err := c.Refund(t.Context(), p)
	if err != nil || !strings.HasPrefix(id, "re_") {
		t.Fatalf("refund %q, %v; want re_…", id, err)
	}
	r := f.Requests()[0]
	want := url.Values{"payment_intent": {"pi_1"}, "metadata[order_id]": {"ord_1"}, "metadata[caisse_reason]": {"oversold"}}
	if r.Path != "/v1/refunds" || r.IdempotencyKey != "refund:oversold:ord_1" || r.Form.Encode() != want.Encode() {
		t.Errorf("POST %s key %q form %s; want /v1/refunds key refund:oversold:ord_1 form %s", r.Path, r.IdempotencyKey, r.Form.Encode(), want.Encode())
	}

	// Asked again, as after a crash: the same refund, not a second one.
	again, err := c.Refund(t.Context(), p)
	if err != nil || again != id {
		t.Errorf("refund asked again: %q, %v; want %q", again, err, id)
	}
	// Under another key Stripe refuses: the payment is already refunded.
	p.IdempotencyKey = "refund:other:ord_1"
	_, err = c.Refund(t.Context(), p)
	var apiErr *caisse.StripeError
	if !errors.As(err, &apiErr) || apiErr.Code != "charge_already_refunded" {
		t.Errorf("refund under another key: %v, want Stripe's charge_already_refunded", err)
	}
}

// A refund of part of a payment sends its amount; Stripe refuses one over
// what is left of the payment.
func TestRefundAnAmount(t *testing.T) {
	t.Parallel()
	c, f := setup(t)
	f.AddPaymentIntent("pi_2", 9000, "eur")
	p := caisse.RefundParams{PaymentIntent: "pi_2", OrderID: "ord_2", Amount: 5000, Reason: "requested_by_customer",
		IdempotencyKey: "refund:owner:ord_2:1"}
	if _, err := c.Refund(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if r := f.Requests()[0]; r.Form.Get("amount") != "5000" || r.IdempotencyKey != "refund:owner:ord_2:1" {
		t.Errorf("the refund sent: key %q, form %s", r.IdempotencyKey, r.Form.Encode())
	}
	p.IdempotencyKey = "refund:owner:ord_2:2"
	_, err := c.Refund(t.Context(), p)
	var apiErr *caisse.StripeError
	if !errors.As(err, &apiErr) || apiErr.Code != "amount_too_large" {
		t.Errorf("a refund over what is left: %v, want Stripe's amount_too_large", err)
	}
}

func TestRefundNeedsItsKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		p    caisse.RefundParams
	}{
		{"no idempotency key", caisse.RefundParams{PaymentIntent: "pi_1", OrderID: "ord_1"}},
		{"no payment intent", caisse.RefundParams{OrderID: "ord_1", IdempotencyKey: "refund:oversold:ord_1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, f := setup(t)
			if _, err := c.Refund(t.Context(), tc.p); err == nil {
				t.Error("refunded, want an error")
			}
			if n := len(f.Requests()); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
}

// TestRefundRetry shows a refund whose answer was lost is retried under the
// same idempotency key, so it happens once, and that Stripe's error answers
// are returned, not retried, for the caller's job to retry later.
func TestRefundRetry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		fail     func(*stripemock.Fake)
		wantErr  int // Stripe's status; 0: the refund is made
		requests int
	}{
		{"answer lost", func(f *stripemock.Fake) { f.LoseNextAnswer(http.MethodPost, "/v1/refunds") }, 0, 2},
		{"Stripe's 500", func(f *stripemock.Fake) {
			f.FailNext(http.MethodPost, "/v1/refunds", stripemock.Error{Status: http.StatusInternalServerError, Message: "An unknown error occurred"})
		}, http.StatusInternalServerError, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, f := setup(t)
			f.AddPaymentIntent("pi_1", 100, "eur")
			tc.fail(f)
			p := caisse.RefundParams{PaymentIntent: "pi_1", OrderID: "ord_1", IdempotencyKey: "refund:oversold:ord_1"}
			id, err := c.Refund(t.Context(), p)
			var apiErr *caisse.StripeError
			switch {
			case tc.wantErr == 0 && err != nil:
				t.Fatal(err)
			case tc.wantErr != 0 && (!errors.As(err, &apiErr) || apiErr.Status != tc.wantErr):
				t.Fatalf("refund %q, %v; want Stripe's %d", id, err, tc.wantErr)
			}
			var keys []string
			for _, r := range f.Requests() {
				keys = append(keys, r.IdempotencyKey)
			}
			if want := slices.Repeat([]string{"refund:oversold:ord_1"}, tc.requests); !slices.Equal(keys, want) {
				t.Errorf("requests with keys %q, want %q", keys, want)
			}
			// Asked again later, the refund is made, or is the one made.
			again, err := c.Refund(t.Context(), p)
			if err != nil || (tc.wantErr == 0 && again != id) {
				t.Errorf("refund asked again: %q, %v; want %q", again, err, id)
			}
		})
	}
}

// event returns an event's JSON written the way no encoder would write it,
// so bytes that were decoded and encoded again would differ.
func event(i int, created int64) []byte {
	return fmt.Appendf(nil, "{\n  \"object\" : \"event\", \"id\": \"evt_%04d\",\n\t\"created\": %d, \"type\":\"charge.refunded\", \"note\": \"caf\\u00e9 %d\", \"amount\": 1.50, \"data\": {\"object\": {}} }", i, created, i)
}

func TestListEvents(t *testing.T) {
	t.Parallel()
	c, f := setup(t)
	since := time.Unix(1_700_000_000, 0)
	// 250 events from since on, two a second, so pages split seconds
	// and a cursor must be an id, not a time; and some before since.
	var want [][]byte
	for i := range 5 {
		f.AddEvent(event(9000+i, since.Unix()-int64(5-i)))
	}
	for i := range 250 {
		raw := event(i, since.Unix()+int64(i/2))
		f.AddEvent(raw)
		want = append(want, raw)
	}
	// An event of an API version before 2017-05-25, whose request is a string.
	old := []byte(`{"id":"evt_old","object":"event","api_version":"2017-01-27","created":` + fmt.Sprint(since.Unix()+200) + `,"request":"req_123","type":"charge.refunded","data":{"object":{}}}`)
	f.AddEvent(old)
	want = append(want, old)

	var got [][]byte
	var lastCreated int64
	err := c.ListEvents(t.Context(), since, func(id string, created int64, raw []byte) error {
		if !bytes.Contains(raw, []byte(`"`+id+`"`)) || created < lastCreated {
			t.Errorf("event %s (created %d, after %d) given as %s", id, created, lastCreated, raw)
		}
		lastCreated = created
		got = append(got, raw)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	// Oldest first; those of one second in the order they were queued.
	slices.SortStableFunc(want, func(a, b []byte) int { return compareCreated(t, a, b) })
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("event %d is\n%s\nwant\n%s", i, got[i], want[i])
		}
	}

	var pages []string
	for _, r := range f.Requests() {
		if r.Path != "/v1/events" || r.Form.Get("created[gte]") != fmt.Sprint(since.Unix()) || r.Form.Get("limit") != "100" {
			t.Errorf("GET %s?%s, want /v1/events with created[gte]=%d and limit=100", r.Path, r.Form.Encode(), since.Unix())
		}
		pages = append(pages, r.Form.Get("starting_after"))
	}
	if want := []string{"", "evt_0151", "evt_0051"}; !slices.Equal(pages, want) {
		t.Errorf("pages started after %q, want %q", pages, want)
	}
}

// compareCreated orders two events by created time, keeping the order of
// those of the same second.
func compareCreated(t *testing.T, a, b []byte) int {
	t.Helper()
	var ea, eb struct{ Created int64 }
	if json.Unmarshal(a, &ea) != nil || json.Unmarshal(b, &eb) != nil {
		t.Fatalf("unreadable events %s %s", a, b)
	}
	return cmp.Compare(ea.Created, eb.Created)
}

func TestListEventsStops(t *testing.T) {
	t.Parallel()
	stop := errors.New("the store is down")
	for _, tc := range []struct {
		name    string
		fail    bool  // Stripe refuses the first page
		fnErr   error // fn fails on the first event
		wantErr error
		wantFn  int // calls to fn
	}{
		{"fn fails", false, stop, stop, 1},
		{"Stripe refuses", true, nil, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, f := setup(t)
			for i := range 3 {
				f.AddEvent(event(i, 1_700_000_000+int64(i)))
			}
			if tc.fail {
				f.FailNext(http.MethodGet, "/v1/events", stripemock.Error{Status: http.StatusTooManyRequests, Code: "rate_limit", Message: "Too many requests"})
			}
			calls := 0
			err := c.ListEvents(t.Context(), time.Time{}, func(string, int64, []byte) error {
				calls++
				return tc.fnErr
			})
			var apiErr *caisse.StripeError
			switch {
			case tc.wantErr != nil && err != tc.wantErr:
				t.Errorf("error %v, want fn's error as it is", err)
			case tc.wantErr == nil && (!errors.As(err, &apiErr) || apiErr.Code != "rate_limit"):
				t.Errorf("error %v, want Stripe's rate_limit", err)
			}
			if calls != tc.wantFn {
				t.Errorf("fn called %d times, want %d", calls, tc.wantFn)
			}
		})
	}
}

// TestListEventsEndless shows a list that claims more events but gives none
// ends in an error instead of asking for ever.
func TestListEventsEndless(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"object":"list","data":[],"has_more":true,"url":"/v1/events"}`))
	}))
	t.Cleanup(srv.Close)
	err := NewClient(testKey, srv.URL, nil).ListEvents(t.Context(), time.Time{}, func(string, int64, []byte) error {
		t.Error("fn called for an empty list")
		return nil
	})
	if err == nil {
		t.Error("no error, want one")
	}
}

func TestWebhookEndpoints(t *testing.T) {
	t.Parallel()
	c, f := setup(t)
	want := []caisse.WebhookEndpoint{
		{ID: "we_1", URL: "https://shop.example/webhooks/stripe", Status: "enabled", APIVersion: "2025-03-31.basil", EnabledEvents: []string{"checkout.session.completed", "charge.refunded"}},
		{ID: "we_2", URL: "https://old.example/hook", Status: "disabled", EnabledEvents: []string{"*"}},
	}
	var eps []stripemock.WebhookEndpoint
	for _, e := range want {
		eps = append(eps, stripemock.WebhookEndpoint(e))
	}
	f.SetWebhookEndpoints(eps...)
	got, err := c.WebhookEndpoints(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("endpoints %+v, want %+v", got, want)
	}
}

// A customer's email, as Stripe keeps it: none for one without, and
// Stripe's refusal for one that does not exist.
func TestCustomerEmail(t *testing.T) {
	t.Parallel()
	c, f := setup(t)
	f.AddCustomer("cus_1", "camille@example.com")
	f.AddCustomer("cus_2", "")
	if got, err := c.CustomerEmail(t.Context(), "cus_1"); err != nil || got != "camille@example.com" {
		t.Errorf("cus_1: %q, %v", got, err)
	}
	if got, err := c.CustomerEmail(t.Context(), "cus_2"); err != nil || got != "" {
		t.Errorf("cus_2: %q, %v", got, err)
	}
	var apiErr *caisse.StripeError
	if _, err := c.CustomerEmail(t.Context(), "cus_gone"); !errors.As(err, &apiErr) || apiErr.Code != "resource_missing" {
		t.Errorf("an unknown customer: %v", err)
	}
	// stripe-mock checks the request against Stripe's API.
	mock := NewClient(stripemock.TestKey, stripemock.Start(t), nil)
	if _, err := mock.CustomerEmail(t.Context(), "cus_123"); err != nil {
		t.Errorf("stripe-mock: %v", err)
	}
}

// TestAPIErrors checks every call returns Stripe's refusal as an *caisse.StripeError
// through the wrapping, and no error ever shows the secret key.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	calls := []struct {
		method, path string
		call         func(context.Context, *Client) error
	}{
		{http.MethodPost, "/v1/checkout/sessions", func(ctx context.Context, c *Client) error {
			_, err := c.CreateCheckoutSession(ctx, checkoutParams("ord_1", time.Now().Add(time.Hour)))
			return err
		}},
		{http.MethodPost, "/v1/refunds", func(ctx context.Context, c *Client) error {
			_, err := c.Refund(ctx, caisse.RefundParams{PaymentIntent: "pi_1", OrderID: "ord_1", IdempotencyKey: "refund:oversold:ord_1"})
			return err
		}},
		{http.MethodGet, "/v1/events", func(ctx context.Context, c *Client) error {
			return c.ListEvents(ctx, time.Now().Add(-time.Hour), func(string, int64, []byte) error { return nil })
		}},
		{http.MethodGet, "/v1/webhook_endpoints", func(ctx context.Context, c *Client) error {
			_, err := c.WebhookEndpoints(ctx)
			return err
		}},
		{http.MethodGet, "/v1/customers/cus_1", func(ctx context.Context, c *Client) error {
			_, err := c.CustomerEmail(ctx, "cus_1")
			return err
		}},
	}
	for _, call := range calls {
		t.Run(call.path, func(t *testing.T) {
			t.Parallel()
			c, f := setup(t)
			// A message that quotes the key, as a proxy in front of Stripe might.
			f.FailNext(call.method, call.path, stripemock.Error{Status: http.StatusUnauthorized, Code: "api_key_expired", Param: "key", Message: "Expired API Key provided: " + testKey})
			err := call.call(t.Context(), c)
			var apiErr *caisse.StripeError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v (%T), want an *caisse.StripeError inside", err, err)
			}
			want := caisse.StripeError{Status: http.StatusUnauthorized, Code: "api_key_expired", Type: "invalid_request_error", Param: "key", Message: "Expired API Key provided: [secret key]", RequestID: "req_fake_1"}
			if *apiErr != want {
				t.Errorf("caisse.StripeError %+v, want %+v", *apiErr, want)
			}
			if s := fmt.Sprintf("%v %+v %#v", err, err, apiErr); strings.Contains(s, testKey) {
				t.Errorf("the error shows the secret key: %s", s)
			}
		})
	}

	c, _ := setup(t)
	if s := fmt.Sprintf("%v %+v %#v", c, c, *c); strings.Contains(s, testKey) {
		t.Errorf("a printed Client shows the secret key: %s", s)
	}

	// Requests that get no answer fail with ordinary errors, without the key.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		url  string
		ctx  context.Context
		want error // nil: any error
	}{
		{"nothing listening", closed.URL, context.Background(), nil},
		{"cancelled", "http://127.0.0.1:1", cancelled, context.Canceled},
	} {
		for _, call := range calls {
			t.Run(tc.name+call.path, func(t *testing.T) {
				t.Parallel()
				err := call.call(tc.ctx, NewClient(testKey, tc.url, nil))
				var apiErr *caisse.StripeError
				switch {
				case err == nil || errors.As(err, &apiErr):
					t.Fatalf("error %v, want an ordinary error", err)
				case tc.want != nil && !errors.Is(err, tc.want):
					t.Errorf("error %v, want %v inside", err, tc.want)
				case strings.Contains(fmt.Sprintf("%v %+v", err, err), testKey):
					t.Errorf("the error shows the secret key: %v", err)
				}
			})
		}
	}
}
