package stripemock

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fake is a small, stateful stand-in for the parts of Stripe's API caisse
// calls, served on 127.0.0.1. It exists because stripe-mock keeps no state: it
// cannot replay an idempotent request, refuse a second refund, page through
// events a test queued, or fail one chosen call. Its objects follow the shapes
// of stripe-mock's fixtures (and so Stripe's), trimmed to the fields caisse
// reads.
//
// It follows Stripe's protocol: a Bearer test key, form-encoded POST bodies,
// the Idempotency-Key header (the same key and parameters replay the first
// answer; the same key with other parameters is an idempotency_error), errors
// as {"error":{"type","code","message","param"}}, lists as
// {"object":"list","data":[…],"has_more":…,"url":…} newest first, paged with
// limit, starting_after and ending_before. Like Stripe it refuses parameters
// it does not know, so a request it accepts is one it fully understood.
type Fake struct {
	// URL is the API base URL to give the client: http://127.0.0.1:PORT.
	URL string

	t      testing.TB
	srv    *httptest.Server
	routes map[string]func(http.ResponseWriter, url.Values) // by "METHOD /path"

	mu        sync.Mutex
	now       func() time.Time
	requests  []Request
	events    []listItem // in the order queued
	endpoints []listItem // as configured
	intents   map[string]intent
	customers map[string]string // customer id → email
	rates     map[string]bool   // shipping rate id → active
	refunded  map[string]int64  // payment intent → the amount refunded
	failures  map[string][]Error
	lost      map[string]int   // answers to lose, by "METHOD /path"
	replays   map[string]saved // by Idempotency-Key
	seq       int
	// balance are the balance transactions, by id, listed in balanceOrder.
	balance      map[string]BalanceTransaction
	balanceOrder []string
	refundList   []Refund
}

// Request is one request the Fake received.
type Request struct {
	Method string
	Path   string
	// Form holds the parameters: the POST body's, or the query's. Nested
	// parameters keep Stripe's bracket names, e.g. "metadata[order_id]".
	Form url.Values
	// IdempotencyKey is the Idempotency-Key header, if any.
	IdempotencyKey string
	// Header is every header of the request.
	Header http.Header
}

// Error is an error answer in Stripe's shape.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Type is Stripe's error type: api_error, card_error,
	// idempotency_error or invalid_request_error. Empty means api_error for
	// a 5xx status and invalid_request_error otherwise.
	Type string
	// Code is Stripe's error code, e.g. resource_missing; may be empty.
	Code string
	// Message is the sentence Stripe gives.
	Message string
	// Param names the parameter at fault, if any.
	Param string
	// RetryAfter, when set, is the Retry-After header of the answer (in
	// seconds), as Stripe sends with a 429.
	RetryAfter int
}

// WebhookEndpoint is a webhook endpoint the Fake lists.
type WebhookEndpoint struct {
	ID            string
	URL           string
	Status        string // enabled or disabled
	APIVersion    string // empty: the account's default (null)
	EnabledEvents []string
}

// intent is a payment intent the Fake can refund.
type intent struct {
	amount   int64
	currency string
	charge   string
}

// listItem is one object of a list, as it is sent.
type listItem struct {
	id      string
	created int64
	raw     []byte
}

// saved is a successful answer kept under its idempotency key.
type saved struct {
	method, path, params string
	status               int
	body                 []byte
}

// NewFake starts a Fake, closed when the test ends.
func NewFake(t testing.TB) *Fake {
	t.Helper()
	f := &Fake{
		t:         t,
		now:       time.Now,
		intents:   map[string]intent{},
		customers: map[string]string{},
		rates:     map[string]bool{},
		refunded:  map[string]int64{},
		failures:  map[string][]Error{},
		lost:      map[string]int{},
		replays:   map[string]saved{},
	}
	f.routes = map[string]func(http.ResponseWriter, url.Values){
		"POST /v1/checkout/sessions":   f.createSession,
		"POST /v1/refunds":             f.createRefund,
		"GET /v1/events":               f.listEvents,
		"GET /v1/webhook_endpoints":    f.listEndpoints,
		"GET /v1/balance_transactions": f.listBalance,
		"GET /v1/refunds":              f.listRefunds,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	t.Cleanup(f.srv.Close)
	return f
}

// SetNow sets the Fake's clock, which stamps created times and checks a
// checkout session's expires_at.
func (f *Fake) SetNow(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// Requests returns every request received so far, in order.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// AddEvent queues an event for GET /v1/events, kept byte for byte: the list
// carries it exactly as given. It must be a JSON object with an id and a
// created time. Events are listed newest first; among events created in the
// same second, the one queued last comes first.
func (f *Fake) AddEvent(raw []byte) {
	f.t.Helper()
	var e struct {
		ID      string `json:"id"`
		Created int64  `json:"created"`
	}
	if err := json.Unmarshal(raw, &e); err != nil || e.ID == "" || e.Created == 0 {
		f.t.Fatalf("stripemock: an event needs an id and a created time: %s (%v)", raw, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, listItem{id: e.ID, created: e.Created, raw: slices.Clone(raw)})
}

// SetWebhookEndpoints sets the endpoints GET /v1/webhook_endpoints lists, in
// the order given.
func (f *Fake) SetWebhookEndpoints(eps ...WebhookEndpoint) {
	f.t.Helper()
	items := make([]listItem, 0, len(eps))
	for _, ep := range eps {
		var version any
		if ep.APIVersion != "" {
			version = ep.APIVersion
		}
		events := ep.EnabledEvents
		if events == nil {
			events = []string{}
		}
		raw, err := json.Marshal(map[string]any{
			"id": ep.ID, "object": "webhook_endpoint", "url": ep.URL, "status": ep.Status,
			"api_version": version, "enabled_events": events, "application": nil,
			"description": nil, "livemode": false, "metadata": map[string]string{}, "created": 1234567890,
		})
		if err != nil {
			f.t.Fatalf("stripemock: %v", err)
		}
		items = append(items, listItem{id: ep.ID, raw: raw})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endpoints = items
}

// AddPaymentIntent makes a payment intent known, so it can be refunded.
func (f *Fake) AddPaymentIntent(id string, amount int64, currency string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intents[id] = intent{amount: amount, currency: currency, charge: "ch_" + strings.TrimPrefix(id, "pi_")}
}

// AddCustomer makes a customer known, with its email ("" for none).
func (f *Fake) AddCustomer(id, email string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.customers[id] = email
}

// updatePaymentIntent answers POST /v1/payment_intents/{id} for what caisse
// updates, its shipping: the intent with it, or 404 resource_missing.
// Stripe requires a name and an address line with any shipping.
func (f *Fake) updatePaymentIntent(w http.ResponseWriter, id string, form url.Values) {
	pi, ok := f.intents[id]
	if !ok {
		writeError(w, Error{Status: http.StatusNotFound, Code: "resource_missing", Param: "intent",
			Message: fmt.Sprintf("No such payment_intent: '%s'", id)})
		return
	}
	for k := range form {
		if !strings.HasPrefix(k, "shipping[") {
			writeError(w, unknownParam(k))
			return
		}
	}
	if form.Get("shipping[name]") == "" || form.Get("shipping[address][line1]") == "" {
		writeError(w, Error{Status: http.StatusBadRequest, Code: "parameter_missing", Param: "shipping[address][line1]",
			Message: "Missing required param: shipping[name] and shipping[address][line1]."})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "payment_intent", "amount": pi.amount, "currency": pi.currency,
		"status": "succeeded", "livemode": false, "shipping": map[string]any{
			"name": form.Get("shipping[name]"), "carrier": orNull(form.Get("shipping[carrier]")),
			"tracking_number": orNull(form.Get("shipping[tracking_number]")), "phone": orNull(form.Get("shipping[phone]")),
			"address": nested(form, "shipping[address]")}})
}

// AddShippingRate makes a shipping rate known, active or archived.
func (f *Fake) AddShippingRate(id string, active bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rates[id] = active
}

// retrieveShippingRate answers GET /v1/shipping_rates/{id} as Stripe
// does: the rate (a fixed 15.00 EUR), or 404 resource_missing.
func (f *Fake) retrieveShippingRate(w http.ResponseWriter, id string) {
	active, ok := f.rates[id]
	if !ok {
		writeError(w, Error{Status: http.StatusNotFound, Code: "resource_missing", Param: "id",
			Message: fmt.Sprintf("No such shipping rate: '%s'", id)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "shipping_rate", "active": active, "display_name": "Colissimo",
		"type": "fixed_amount", "fixed_amount": map[string]any{"amount": 1500, "currency": "eur"}, "livemode": false, "metadata": map[string]string{}})
}

// retrieveCustomer answers GET /v1/customers/{id} as Stripe does: the
// customer, or 404 resource_missing.
func (f *Fake) retrieveCustomer(w http.ResponseWriter, id string) {
	email, ok := f.customers[id]
	if !ok {
		writeError(w, Error{Status: http.StatusNotFound, Code: "resource_missing", Param: "id",
			Message: fmt.Sprintf("No such customer: '%s'", id)})
		return
	}
	var e any
	if email != "" {
		e = email
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "customer", "email": e, "livemode": false, "metadata": map[string]string{}})
}

// FailNext makes the next request to method and path (e.g. "POST",
// "/v1/refunds") answer e instead, once. Failures queue: calling it twice
// fails the next two requests. A failure is not kept under the request's
// idempotency key, as Stripe keeps none for a request it did not execute.
func (f *Fake) FailNext(method, path string, e Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := method + " " + path
	f.failures[k] = append(f.failures[k], e)
}

// LoseNextAnswer makes the Fake execute the next request to method and path
// but close the connection instead of answering, as when the network fails
// after Stripe acted: only the idempotency key keeps a retry from acting
// twice.
func (f *Fake) LoseNextAnswer(method, path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lost[method+" "+path]++
}

// serve records each request, checks its key, and answers a queued
// failure, an idempotent replay, or the route's answer; or loses the answer.
// Requests are served one at a time.
func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	w.Header().Set("Request-Id", fmt.Sprintf("req_fake_%d", f.seq))
	form, formErr := readForm(r)
	idem := r.Header.Get("Idempotency-Key")
	f.requests = append(f.requests, Request{
		Method: r.Method, Path: r.URL.Path, Form: form, IdempotencyKey: idem, Header: r.Header.Clone(),
	})
	if e, ok := authorize(r.Header.Get("Authorization")); !ok {
		writeError(w, e)
		return
	}
	if formErr != nil {
		writeError(w, *formErr)
		return
	}
	k := r.Method + " " + r.URL.Path
	if id, ok := strings.CutPrefix(r.URL.Path, "/v1/customers/"); ok && r.Method == http.MethodGet {
		if q := f.failures[k]; len(q) > 0 {
			f.failures[k] = q[1:]
			writeError(w, q[0])
			return
		}
		f.retrieveCustomer(w, id)
		return
	}
	if id, ok := strings.CutPrefix(r.URL.Path, "/v1/payment_intents/"); ok && r.Method == http.MethodPost && !strings.Contains(id, "/") {
		if q := f.failures[k]; len(q) > 0 {
			f.failures[k] = q[1:]
			writeError(w, q[0])
			return
		}
		f.updatePaymentIntent(w, id, form)
		return
	}
	if id, ok := strings.CutPrefix(r.URL.Path, "/v1/balance_transactions/"); ok && r.Method == http.MethodGet {
		if q := f.failures[k]; len(q) > 0 {
			f.failures[k] = q[1:]
			writeError(w, q[0])
			return
		}
		f.retrieveBalance(w, id, form)
		return
	}
	if id, ok := strings.CutPrefix(r.URL.Path, "/v1/shipping_rates/"); ok && r.Method == http.MethodGet {
		f.retrieveShippingRate(w, id)
		return
	}
	route, ok := f.routes[k]
	if !ok {
		writeError(w, Error{Status: http.StatusNotFound, Message: fmt.Sprintf("Unrecognized request URL (%s: %s).", r.Method, r.URL.Path)})
		return
	}
	if q := f.failures[k]; len(q) > 0 {
		f.failures[k] = q[1:]
		writeError(w, q[0])
		return
	}
	rec := httptest.NewRecorder()
	f.answer(rec, r, idem, form, route)
	if f.lost[k] > 0 {
		f.lost[k]--
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	maps.Copy(w.Header(), rec.Header())
	writeBody(w, rec.Code, rec.Body.Bytes())
}

// answer answers a request through its route, or replays the answer kept
// under its idempotency key.
func (f *Fake) answer(w http.ResponseWriter, r *http.Request, idem string, form url.Values, route func(http.ResponseWriter, url.Values)) {
	if r.Method != http.MethodPost || idem == "" {
		route(w, form)
		return
	}
	params := form.Encode()
	if s, ok := f.replays[idem]; ok {
		if s.method != r.Method || s.path != r.URL.Path || s.params != params {
			writeError(w, Error{Status: http.StatusBadRequest, Type: "idempotency_error",
				Message: fmt.Sprintf("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.", idem)})
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
		writeBody(w, s.status, s.body)
		return
	}
	rec := httptest.NewRecorder()
	route(rec, form)
	if rec.Code < 300 {
		f.replays[idem] = saved{method: r.Method, path: r.URL.Path, params: params, status: rec.Code, body: rec.Body.Bytes()}
	}
	writeBody(w, rec.Code, rec.Body.Bytes())
}

// authorize accepts any test-mode secret or restricted key, as stripe-mock
// does, and answers 401 like Stripe otherwise, showing only the key's ends.
func authorize(h string) (Error, bool) {
	key, ok := strings.CutPrefix(h, "Bearer ")
	switch {
	case !ok || key == "":
		return Error{Status: http.StatusUnauthorized, Message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."}, false
	case !strings.HasPrefix(key, "sk_test_") && !strings.HasPrefix(key, "rk_test_"):
		masked := key
		if len(key) > 12 {
			masked = key[:8] + strings.Repeat("*", len(key)-12) + key[len(key)-4:]
		} else {
			masked = strings.Repeat("*", len(key))
		}
		return Error{Status: http.StatusUnauthorized, Message: fmt.Sprintf("Invalid API Key provided: %s", masked)}, false
	}
	return Error{}, true
}

// readForm reads a request's parameters: a POST's form-encoded body, or the
// query of any other method. A body it cannot read gets Stripe's answer.
func readForm(r *http.Request) (url.Values, *Error) {
	if r.Method != http.MethodPost {
		return r.URL.Query(), nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return url.Values{}, &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("The request body could not be read: %v", err)}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); len(b) > 0 && mt != "application/x-www-form-urlencoded" {
		return url.Values{}, &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("Invalid request: the body must be form-encoded (application/x-www-form-urlencoded), not %q.", r.Header.Get("Content-Type"))}
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return url.Values{}, &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("Invalid request: the body is not form-encoded: %v", err)}
	}
	return form, nil
}

var (
	lineItemParam = regexp.MustCompile(`^line_items\[(\d+)\]\[(price_data\]\[currency|price_data\]\[unit_amount|price_data\]\[product_data\]\[name|quantity)\]$`)
	metadataParam = regexp.MustCompile(`^(metadata|payment_intent_data\[metadata\])\[[^\[\]]+\]$`)
	// What a session asks for besides the payment: a shipping address in
	// these countries, these shipping rates, a phone number.
	countryParam = regexp.MustCompile(`^shipping_address_collection\[allowed_countries\]\[\d+\]$`)
	rateParam    = regexp.MustCompile(`^shipping_options\[\d+\]\[shipping_rate\]$`)
)

// createSession serves POST /v1/checkout/sessions for one-off payments with
// inline prices, the way caisse creates them.
func (f *Fake) createSession(w http.ResponseWriter, form url.Values) {
	lines := map[int]map[string]string{}
	for k := range form {
		if m := lineItemParam.FindStringSubmatch(k); m != nil {
			i, _ := strconv.Atoi(m[1])
			if lines[i] == nil {
				lines[i] = map[string]string{}
			}
			lines[i][m[2]] = form.Get(k)
			continue
		}
		switch {
		case metadataParam.MatchString(k), countryParam.MatchString(k):
		case rateParam.MatchString(k):
			if active, ok := f.rates[form.Get(k)]; !ok || !active {
				writeError(w, Error{Status: http.StatusBadRequest, Code: "resource_missing", Param: k,
					Message: fmt.Sprintf("No such shipping rate: '%s'", form.Get(k))})
				return
			}
		case k == "phone_number_collection[enabled]":
		case slices.Contains([]string{"mode", "client_reference_id", "customer_email", "success_url", "cancel_url", "expires_at"}, k):
		default:
			writeError(w, unknownParam(k))
			return
		}
	}
	now := f.now()
	switch {
	case form.Get("mode") == "":
		writeError(w, Error{Status: http.StatusBadRequest, Code: "parameter_missing", Param: "mode", Message: "Missing required param: mode."})
		return
	case form.Get("mode") != "payment":
		writeError(w, Error{Status: http.StatusBadRequest, Param: "mode", Message: "The fake serves only mode=payment."})
		return
	case len(lines) == 0:
		writeError(w, Error{Status: http.StatusBadRequest, Code: "parameter_missing", Param: "line_items", Message: "You must provide at least one line item when `mode` is `payment`."})
		return
	}
	var total int64
	currency := ""
	for i := range len(lines) {
		l, ok := lines[i]
		param := fmt.Sprintf("line_items[%d]", i)
		if !ok {
			writeError(w, Error{Status: http.StatusBadRequest, Param: "line_items", Message: "Invalid array: line_items must be indexed from 0 without gaps."})
			return
		}
		amount, err1 := strconv.ParseInt(l["price_data][unit_amount"], 10, 64)
		qty, err2 := strconv.ParseInt(l["quantity"], 10, 64)
		switch {
		case l["price_data][currency"] == "" || l["price_data][product_data][name"] == "":
			writeError(w, Error{Status: http.StatusBadRequest, Code: "parameter_missing", Param: param + "[price_data]", Message: "Missing required param: currency or product_data[name]."})
			return
		case err1 != nil || amount < 0:
			writeError(w, Error{Status: http.StatusBadRequest, Code: "parameter_invalid_integer", Param: param + "[price_data][unit_amount]", Message: "Invalid non-negative integer"})
			return
		case err2 != nil || qty < 1:
			writeError(w, Error{Status: http.StatusBadRequest, Code: "parameter_invalid_integer", Param: param + "[quantity]", Message: "Invalid positive integer"})
			return
		case currency != "" && l["price_data][currency"] != currency:
			writeError(w, Error{Status: http.StatusBadRequest, Param: param + "[price_data][currency]", Message: "All line items must use the same currency."})
			return
		}
		currency = l["price_data][currency"]
		total += amount * qty
	}
	expires := now.Add(24 * time.Hour).Unix()
	if s := form.Get("expires_at"); s != "" {
		var err error
		if expires, err = strconv.ParseInt(s, 10, 64); err != nil {
			writeError(w, Error{Status: http.StatusBadRequest, Code: "parameter_invalid_integer", Param: "expires_at", Message: "Invalid integer: " + s})
			return
		}
		// Stripe's documented range: from 30 minutes to 24 hours after the
		// session is created.
		switch {
		case expires < now.Add(30*time.Minute).Unix():
			writeError(w, Error{Status: http.StatusBadRequest, Param: "expires_at", Message: "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation."})
			return
		case expires > now.Add(24*time.Hour).Unix():
			writeError(w, Error{Status: http.StatusBadRequest, Param: "expires_at", Message: "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation."})
			return
		}
	}
	id := fmt.Sprintf("cs_test_fake%06d", f.seq)
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "object": "checkout.session", "mode": "payment", "status": "open", "payment_status": "unpaid",
		"url":     "https://checkout.stripe.com/c/pay/" + id,
		"created": now.Unix(), "expires_at": expires, "livemode": false,
		"client_reference_id": orNull(form.Get("client_reference_id")),
		"customer_email":      orNull(form.Get("customer_email")),
		"success_url":         orNull(form.Get("success_url")),
		"cancel_url":          orNull(form.Get("cancel_url")),
		"metadata":            nested(form, "metadata"),
		"amount_total":        total, "amount_subtotal": total, "currency": currency,
		// Stripe creates the payment intent when the customer pays.
		"payment_intent": nil,
	})
}

// createRefund serves POST /v1/refunds for a payment intent: amount, or
// what is left of it to refund.
func (f *Fake) createRefund(w http.ResponseWriter, form url.Values) {
	for k := range form {
		isMetadata := strings.HasPrefix(k, "metadata[") && metadataParam.MatchString(k)
		if !isMetadata && k != "payment_intent" && k != "reason" && k != "amount" {
			writeError(w, unknownParam(k))
			return
		}
	}
	pi := form.Get("payment_intent")
	reason := form.Get("reason")
	in, ok := f.intents[pi]
	left := in.amount - f.refunded[pi]
	amount := left
	if v := form.Get("amount"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, Error{Status: http.StatusBadRequest, Code: "parameter_invalid_integer", Param: "amount",
				Message: fmt.Sprintf("Invalid positive integer: %q", v)})
			return
		}
		amount = n
	}
	switch {
	case pi == "":
		writeError(w, Error{Status: http.StatusBadRequest, Code: "parameter_missing", Message: "One of the following params should be provided for this request: payment_intent or charge."})
		return
	case reason != "" && !slices.Contains([]string{"duplicate", "fraudulent", "requested_by_customer"}, reason):
		writeError(w, Error{Status: http.StatusBadRequest, Code: "parameter_invalid_string", Param: "reason",
			Message: fmt.Sprintf("Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer (got %q)", reason)})
		return
	case !ok:
		writeError(w, Error{Status: http.StatusBadRequest, Code: "resource_missing", Param: "payment_intent", Message: fmt.Sprintf("No such payment_intent: '%s'", pi)})
		return
	case left <= 0:
		writeError(w, Error{Status: http.StatusBadRequest, Code: "charge_already_refunded", Message: fmt.Sprintf("Charge %s has already been refunded.", in.charge)})
		return
	case amount > left:
		writeError(w, Error{Status: http.StatusBadRequest, Code: "amount_too_large", Param: "amount",
			Message: fmt.Sprintf("Refund amount (%d) is greater than unrefunded amount on charge (%d)", amount, left)})
		return
	}
	id := fmt.Sprintf("re_fake%06d", f.seq)
	f.refunded[pi] += amount
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "object": "refund", "amount": amount, "currency": in.currency,
		"payment_intent": pi, "charge": in.charge, "status": "succeeded",
		"reason": orNull(reason), "metadata": nested(form, "metadata"), "created": f.now().Unix(),
	})
}

// listEvents serves GET /v1/events, newest first, filtered by created.
func (f *Fake) listEvents(w http.ResponseWriter, form url.Values) {
	var bounds []func(int64) bool
	for k := range form {
		if slices.Contains([]string{"limit", "starting_after", "ending_before"}, k) {
			continue
		}
		op, ok := map[string]func(a, b int64) bool{
			"created":      func(a, b int64) bool { return a == b },
			"created[gt]":  func(a, b int64) bool { return a > b },
			"created[gte]": func(a, b int64) bool { return a >= b },
			"created[lt]":  func(a, b int64) bool { return a < b },
			"created[lte]": func(a, b int64) bool { return a <= b },
		}[k]
		if !ok {
			writeError(w, unknownParam(k))
			return
		}
		v, err := strconv.ParseInt(form.Get(k), 10, 64)
		if err != nil {
			writeError(w, Error{Status: http.StatusBadRequest, Code: "parameter_invalid_integer", Param: k, Message: "Invalid integer: " + form.Get(k)})
			return
		}
		bounds = append(bounds, func(c int64) bool { return op(c, v) })
	}
	var items []listItem
	for _, e := range f.events {
		if !slices.ContainsFunc(bounds, func(in func(int64) bool) bool { return !in(e.created) }) {
			items = append(items, e)
		}
	}
	// Newest first; the stable sort of the reversed queue puts the event
	// queued last first among those of the same second.
	slices.Reverse(items)
	slices.SortStableFunc(items, func(a, b listItem) int { return cmp.Compare(b.created, a.created) })
	writeList(w, "/v1/events", "event", items, form)
}

// listEndpoints serves GET /v1/webhook_endpoints.
func (f *Fake) listEndpoints(w http.ResponseWriter, form url.Values) {
	for k := range form {
		if !slices.Contains([]string{"limit", "starting_after", "ending_before"}, k) {
			writeError(w, unknownParam(k))
			return
		}
	}
	writeList(w, "/v1/webhook_endpoints", "webhook_endpoint", f.endpoints, form)
}

// writeList answers one page of items (already in list order) as Stripe
// does, writing each item's bytes as they are.
func writeList(w http.ResponseWriter, path, object string, items []listItem, form url.Values) {
	limit := int64(10)
	if s := form.Get("limit"); s != "" {
		var err error
		if limit, err = strconv.ParseInt(s, 10, 64); err != nil || limit < 1 || limit > 100 {
			writeError(w, Error{Status: http.StatusBadRequest, Code: "parameter_invalid_integer", Param: "limit", Message: "Invalid integer: " + s + " (limit must be between 1 and 100)"})
			return
		}
	}
	at := func(param string) (int, bool) {
		id := form.Get(param)
		i := slices.IndexFunc(items, func(it listItem) bool { return it.id == id })
		if i < 0 {
			writeError(w, Error{Status: http.StatusBadRequest, Code: "resource_missing", Param: param, Message: fmt.Sprintf("No such %s: '%s'", object, id)})
		}
		return i, i >= 0
	}
	var page []listItem
	hasMore := false
	switch {
	case form.Has("starting_after") && form.Has("ending_before"):
		writeError(w, Error{Status: http.StatusBadRequest, Message: "You may only specify one of these parameters: ending_before, starting_after."})
		return
	case form.Has("ending_before"):
		i, ok := at("ending_before")
		if !ok {
			return
		}
		from := max(0, i-int(limit))
		page, hasMore = items[from:i], from > 0
	default:
		from := 0
		if form.Has("starting_after") {
			i, ok := at("starting_after")
			if !ok {
				return
			}
			from = i + 1
		}
		to := min(len(items), from+int(limit))
		page, hasMore = items[from:to], to < len(items)
	}
	var b bytes.Buffer
	b.WriteString(`{"object":"list","data":[`)
	for i, it := range page {
		if i > 0 {
			b.WriteString(",")
		}
		b.Write(it.raw)
	}
	fmt.Fprintf(&b, `],"has_more":%t,"url":%q}`, hasMore, path)
	writeBody(w, http.StatusOK, b.Bytes())
}

// unknownParam is Stripe's answer to a parameter it does not know.
func unknownParam(k string) Error {
	return Error{Status: http.StatusBadRequest, Code: "parameter_unknown", Param: k,
		Message: fmt.Sprintf("Received unknown parameter: %s (the fake knows only what caisse sends; stripe-mock checks the whole spec)", k)}
}

// nested collects the parameters prefix[key] into a map.
func nested(form url.Values, prefix string) map[string]string {
	m := map[string]string{}
	for k := range form {
		if rest, ok := strings.CutPrefix(k, prefix+"["); ok && strings.HasSuffix(rest, "]") && !strings.Contains(rest, "[") {
			m[strings.TrimSuffix(rest, "]")] = form.Get(k)
		}
	}
	return m
}

// orNull is s, or JSON null when empty.
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writeError answers e in Stripe's error shape.
func writeError(w http.ResponseWriter, e Error) {
	if e.Type == "" {
		e.Type = "invalid_request_error"
		if e.Status >= 500 {
			e.Type = "api_error"
		}
	}
	body := map[string]string{"type": e.Type, "message": e.Message}
	if e.Code != "" {
		body["code"] = e.Code
	}
	if e.Param != "" {
		body["param"] = e.Param
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(e.RetryAfter))
	}
	writeJSON(w, e.Status, map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"type":"api_error","message":"the fake could not encode its answer"}}`)
	}
	writeBody(w, status, b)
}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
