package stripemock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// call sends one request to the Fake the way Stripe's clients do and returns
// the status, the body and the headers of the answer.
func call(t *testing.T, f *Fake, method, path string, form url.Values, idem string) (int, []byte, http.Header) {
	t.Helper()
	target, body := f.URL+path, ""
	if method == http.MethodPost {
		body = form.Encode()
	} else if len(form) > 0 {
		target += "?" + form.Encode()
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+TestKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b, res.Header
}

// stripeError reads an answer in Stripe's error shape.
func stripeError(t *testing.T, b []byte) Error {
	t.Helper()
	var e struct {
		Error struct {
			Type, Code, Message, Param string
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Type == "" || e.Error.Message == "" {
		t.Fatalf("not a Stripe error: %s (%v)", b, err)
	}
	return Error{Type: e.Error.Type, Code: e.Error.Code, Message: e.Error.Message, Param: e.Error.Param}
}

func sessionForm(order string, expires int64) url.Values {
	return url.Values{
		"mode":                                          {"payment"},
		"client_reference_id":                           {order},
		"metadata[order_id]":                            {order},
		"line_items[0][price_data][currency]":           {"eur"},
		"line_items[0][price_data][unit_amount]":        {"1500"},
		"line_items[0][price_data][product_data][name]": {"Print"},
		"line_items[0][quantity]":                       {"2"},
		"expires_at":                                    {strconv.FormatInt(expires, 10)},
	}
}

func TestFakeCheckoutSession(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	in := func(d time.Duration) int64 { return now.Add(d).Unix() }
	for _, tc := range []struct {
		name      string
		edit      func(url.Values)
		wantCode  int
		wantParam string
	}{
		{"valid", func(url.Values) {}, http.StatusOK, ""},
		{"expires in under 30 minutes", func(v url.Values) { v.Set("expires_at", strconv.FormatInt(in(29*time.Minute), 10)) }, http.StatusBadRequest, "expires_at"},
		{"expires after 24 hours", func(v url.Values) { v.Set("expires_at", strconv.FormatInt(in(25*time.Hour), 10)) }, http.StatusBadRequest, "expires_at"},
		{"negative unit amount", func(v url.Values) { v.Set("line_items[0][price_data][unit_amount]", "-1") }, http.StatusBadRequest, "line_items[0][price_data][unit_amount]"},
		{"no mode", func(v url.Values) { v.Del("mode") }, http.StatusBadRequest, "mode"},
		{"no line items", func(v url.Values) {
			for k := range v {
				if strings.HasPrefix(k, "line_items") {
					v.Del(k)
				}
			}
		}, http.StatusBadRequest, "line_items"},
		{"unknown parameter", func(v url.Values) { v.Set("allow_promotion_codes", "true") }, http.StatusBadRequest, "allow_promotion_codes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := NewFake(t)
			f.SetNow(func() time.Time { return now })
			form := sessionForm("ord_1", in(30*time.Minute))
			tc.edit(form)
			code, body, _ := call(t, f, http.MethodPost, "/v1/checkout/sessions", form, "")
			if code != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", code, tc.wantCode, body)
			}
			if tc.wantCode != http.StatusOK {
				if e := stripeError(t, body); e.Param != tc.wantParam || e.Type != "invalid_request_error" {
					t.Errorf("error %+v, want an invalid_request_error on %s", e, tc.wantParam)
				}
				return
			}
			var s map[string]any
			if err := json.Unmarshal(body, &s); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"object": "checkout.session", "client_reference_id": "ord_1", "mode": "payment",
				"expires_at": float64(in(30 * time.Minute)), "amount_total": float64(3000), "currency": "eur",
				"metadata": map[string]any{"order_id": "ord_1"}, "payment_intent": nil,
			}
			for k, v := range want {
				if got := s[k]; fmt.Sprint(got) != fmt.Sprint(v) {
					t.Errorf("%s = %v, want %v", k, got, v)
				}
			}
			id, _ := s["id"].(string)
			if !strings.HasPrefix(id, "cs_test_") || s["url"] == nil {
				t.Errorf("id %q, url %v: want cs_test_… and a url", id, s["url"])
			}
		})
	}
}

func TestFakeIdempotency(t *testing.T) {
	t.Parallel()
	f := NewFake(t)
	form := sessionForm("ord_1", time.Now().Add(time.Hour).Unix())

	code1, first, _ := call(t, f, http.MethodPost, "/v1/checkout/sessions", form, "checkout:ord_1")
	code2, again, h := call(t, f, http.MethodPost, "/v1/checkout/sessions", form, "checkout:ord_1")
	if code1 != http.StatusOK || code2 != http.StatusOK || !bytes.Equal(first, again) || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("same key and parameters: %d %s, then %d %s (replayed %q); want the first answer replayed",
			code1, first, code2, again, h.Get("Idempotent-Replayed"))
	}
	_, other, _ := call(t, f, http.MethodPost, "/v1/checkout/sessions", sessionForm("ord_2", time.Now().Add(time.Hour).Unix()), "checkout:ord_2")
	if bytes.Equal(first, other) {
		t.Error("another key got the same session")
	}
	form.Set("client_reference_id", "ord_9")
	code, body, _ := call(t, f, http.MethodPost, "/v1/checkout/sessions", form, "checkout:ord_1")
	if e := stripeError(t, body); code != http.StatusBadRequest || e.Type != "idempotency_error" {
		t.Errorf("same key, other parameters: %d %+v, want 400 idempotency_error", code, e)
	}
}

func TestFakeRefund(t *testing.T) {
	t.Parallel()
	f := NewFake(t)
	f.AddPaymentIntent("pi_1", 9000, "eur")
	refund := url.Values{"payment_intent": {"pi_1"}, "metadata[order_id]": {"ord_1"}}

	code, body, _ := call(t, f, http.MethodPost, "/v1/refunds", refund, "refund:oversold:ord_1")
	var r struct {
		ID            string            `json:"id"`
		Amount        int64             `json:"amount"`
		PaymentIntent string            `json:"payment_intent"`
		Metadata      map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(body, &r); err != nil || code != http.StatusOK {
		t.Fatalf("refund: %d %s (%v)", code, body, err)
	}
	if !strings.HasPrefix(r.ID, "re_") || r.Amount != 9000 || r.PaymentIntent != "pi_1" || r.Metadata["order_id"] != "ord_1" {
		t.Errorf("refund %+v, want re_… of 9000 on pi_1 for ord_1", r)
	}
	if _, again, _ := call(t, f, http.MethodPost, "/v1/refunds", refund, "refund:oversold:ord_1"); !bytes.Equal(again, body) {
		t.Errorf("retry with the same key: %s, want %s", again, body)
	}

	for _, tc := range []struct {
		name     string
		form     url.Values
		wantCode string
	}{
		{"refunded again under another key", refund, "charge_already_refunded"},
		{"unknown payment intent", url.Values{"payment_intent": {"pi_404"}}, "resource_missing"},
		{"reason Stripe does not have", url.Values{"payment_intent": {"pi_1"}, "reason": {"oversold"}}, "parameter_invalid_string"},
		{"unknown parameter", url.Values{"payment_intent": {"pi_1"}, "instructions_email": {"a@example.com"}}, "parameter_unknown"},
	} {
		code, body, _ := call(t, f, http.MethodPost, "/v1/refunds", tc.form, "other:"+tc.name)
		if e := stripeError(t, body); code != http.StatusBadRequest || e.Code != tc.wantCode {
			t.Errorf("%s: %d %+v, want 400 %s", tc.name, code, e, tc.wantCode)
		}
	}
}

// A refund of an amount refunds that part of the payment; Stripe refuses
// one over what is left, and a refund with no amount refunds the rest.
func TestFakeRefundAnAmount(t *testing.T) {
	t.Parallel()
	f := NewFake(t)
	f.AddPaymentIntent("pi_1", 9000, "eur")
	for i, tc := range []struct {
		form     url.Values
		amount   int64
		wantCode string
	}{
		{url.Values{"payment_intent": {"pi_1"}, "amount": {"5000"}}, 5000, ""},
		{url.Values{"payment_intent": {"pi_1"}, "amount": {"4001"}}, 0, "amount_too_large"},
		{url.Values{"payment_intent": {"pi_1"}, "amount": {"0"}}, 0, "parameter_invalid_integer"},
		{url.Values{"payment_intent": {"pi_1"}}, 4000, ""},
		{url.Values{"payment_intent": {"pi_1"}, "amount": {"1"}}, 0, "charge_already_refunded"},
	} {
		code, body, _ := call(t, f, http.MethodPost, "/v1/refunds", tc.form, fmt.Sprint("refund:", i))
		if tc.wantCode != "" {
			if e := stripeError(t, body); code != http.StatusBadRequest || e.Code != tc.wantCode {
				t.Errorf("%v: %d %+v, want 400 %s", tc.form, code, e, tc.wantCode)
			}
			continue
		}
		var r struct {
			Amount int64 `json:"amount"`
		}
		if err := json.Unmarshal(body, &r); err != nil || code != http.StatusOK || r.Amount != tc.amount {
			t.Errorf("%v: %d %s, want a refund of %d", tc.form, code, body, tc.amount)
		}
	}
}

func TestFakeFailNext(t *testing.T) {
	t.Parallel()
	f := NewFake(t)
	f.AddPaymentIntent("pi_1", 100, "eur")
	f.FailNext(http.MethodPost, "/v1/refunds", Error{Status: http.StatusInternalServerError, Message: "boom"})
	f.FailNext(http.MethodPost, "/v1/refunds", Error{Status: http.StatusPaymentRequired, Type: "card_error", Code: "card_declined", Message: "declined"})
	form := url.Values{"payment_intent": {"pi_1"}}

	for i, want := range []struct {
		status int
		typ    string
	}{
		{http.StatusInternalServerError, "api_error"},
		{http.StatusPaymentRequired, "card_error"},
		{http.StatusOK, ""},
	} {
		code, body, _ := call(t, f, http.MethodPost, "/v1/refunds", form, "refund:1")
		if code != want.status {
			t.Fatalf("request %d: %d %s, want %d", i+1, code, body, want.status)
		}
		if want.typ != "" {
			if e := stripeError(t, body); e.Type != want.typ {
				t.Errorf("request %d: type %q, want %q", i+1, e.Type, want.typ)
			}
		}
	}
	if got := len(f.Requests()); got != 3 {
		t.Errorf("%d requests recorded, want 3", got)
	}
}

func TestFakeLoseNextAnswer(t *testing.T) {
	t.Parallel()
	f := NewFake(t)
	f.AddPaymentIntent("pi_1", 100, "eur")
	f.LoseNextAnswer(http.MethodPost, "/v1/refunds")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.URL+"/v1/refunds", strings.NewReader("payment_intent=pi_1"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+TestKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Idempotency-Key", "refund:1")
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("answered %s, want the connection closed", res.Status)
	}
	// The refund was made: the same key replays it, another is refused.
	form := url.Values{"payment_intent": {"pi_1"}}
	if code, body, h := call(t, f, http.MethodPost, "/v1/refunds", form, "refund:1"); code != http.StatusOK || h.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry: %d %s, want the refund replayed", code, body)
	}
	if code, body, _ := call(t, f, http.MethodPost, "/v1/refunds", form, "refund:2"); code != http.StatusBadRequest || stripeError(t, body).Code != "charge_already_refunded" {
		t.Errorf("another key: %d %s, want charge_already_refunded", code, body)
	}
}

func TestFakeAuthorization(t *testing.T) {
	t.Parallel()
	f := NewFake(t)
	const key = "sk_live_0123456789HIDDEN_abcdef"
	for _, auth := range []string{"", "Bearer " + key, "Basic x"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.URL+"/v1/events", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || bytes.Contains(b, []byte("HIDDEN")) {
			t.Errorf("Authorization %q: %d %s, want 401 without the key", auth, res.StatusCode, b)
		}
	}
}

func TestFakeEventList(t *testing.T) {
	t.Parallel()
	f := NewFake(t)
	// Five events over three seconds; evt_3 and evt_4 in the same second.
	// The bytes are unusual on purpose: spacing, key order, escapes.
	raws := map[string]string{
		"evt_1": `{"id":"evt_1","object":"event","created":100}`,
		"evt_2": `{ "created" : 200, "id" : "evt_2", "note": "caf\u00e9" }`,
		"evt_3": "{\n  \"id\": \"evt_3\",\n  \"created\": 300\n}",
		"evt_4": `{"id":"evt_4","created":300,"n":1.50}`,
		"evt_5": `{"id":"evt_5","created":400}`,
	}
	for _, id := range []string{"evt_1", "evt_2", "evt_3", "evt_4", "evt_5"} {
		f.AddEvent([]byte(raws[id]))
	}
	page := func(t *testing.T, form url.Values) ([]string, bool) {
		t.Helper()
		code, body, _ := call(t, f, http.MethodGet, "/v1/events", form, "")
		var l struct {
			Object  string            `json:"object"`
			Data    []json.RawMessage `json:"data"`
			HasMore bool              `json:"has_more"`
			URL     string            `json:"url"`
		}
		if err := json.Unmarshal(body, &l); err != nil || code != http.StatusOK || l.Object != "list" || l.URL != "/v1/events" {
			t.Fatalf("GET /v1/events?%s: %d %s (%v)", form.Encode(), code, body, err)
		}
		var ids []string
		for _, raw := range l.Data {
			var e struct{ ID string }
			json.Unmarshal(raw, &e)
			if string(raw) != raws[e.ID] {
				t.Errorf("%s listed as %s, want the bytes queued: %s", e.ID, raw, raws[e.ID])
			}
			ids = append(ids, e.ID)
		}
		return ids, l.HasMore
	}
	for _, tc := range []struct {
		name    string
		form    url.Values
		want    string
		hasMore bool
	}{
		{"all, newest first", url.Values{}, "evt_5 evt_4 evt_3 evt_2 evt_1", false},
		{"first page", url.Values{"limit": {"2"}}, "evt_5 evt_4", true},
		{"next page", url.Values{"limit": {"2"}, "starting_after": {"evt_4"}}, "evt_3 evt_2", true},
		{"last page", url.Values{"limit": {"2"}, "starting_after": {"evt_2"}}, "evt_1", false},
		{"created[gte]", url.Values{"created[gte]": {"300"}}, "evt_5 evt_4 evt_3", false},
		{"created[gt] and [lte]", url.Values{"created[gt]": {"100"}, "created[lte]": {"300"}}, "evt_4 evt_3 evt_2", false},
		{"ending_before", url.Values{"limit": {"2"}, "ending_before": {"evt_2"}}, "evt_4 evt_3", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ids, hasMore := page(t, tc.form)
			if got := strings.Join(ids, " "); got != tc.want || hasMore != tc.hasMore {
				t.Errorf("got %q has_more %t, want %q has_more %t", got, hasMore, tc.want, tc.hasMore)
			}
		})
	}
	for _, tc := range []struct {
		name      string
		form      url.Values
		wantParam string
	}{
		{"limit over 100", url.Values{"limit": {"101"}}, "limit"},
		{"unknown cursor", url.Values{"starting_after": {"evt_9"}}, "starting_after"},
		{"unknown parameter", url.Values{"types[]": {"charge.refunded"}}, "types[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, body, _ := call(t, f, http.MethodGet, "/v1/events", tc.form, "")
			if e := stripeError(t, body); code != http.StatusBadRequest || e.Param != tc.wantParam {
				t.Errorf("%d %+v, want 400 on %s", code, e, tc.wantParam)
			}
		})
	}
}

func TestFakeWebhookEndpoints(t *testing.T) {
	t.Parallel()
	f := NewFake(t)
	f.SetWebhookEndpoints(
		WebhookEndpoint{ID: "we_1", URL: "https://shop.example/webhooks/stripe", Status: "enabled", APIVersion: "2025-03-31.basil", EnabledEvents: []string{"*"}},
		WebhookEndpoint{ID: "we_2", URL: "https://old.example/hook", Status: "disabled"},
	)
	code, body, _ := call(t, f, http.MethodGet, "/v1/webhook_endpoints", url.Values{"limit": {"1"}, "starting_after": {"we_1"}}, "")
	want := `{"object":"list","data":[{"api_version":null,"application":null,"created":1234567890,"description":null,"enabled_events":[],"id":"we_2","livemode":false,"metadata":{},"object":"webhook_endpoint","status":"disabled","url":"https://old.example/hook"}],"has_more":false,"url":"/v1/webhook_endpoints"}`
	if code != http.StatusOK || string(body) != want {
		t.Errorf("second page: %d %s\nwant %s", code, body, want)
	}
}
