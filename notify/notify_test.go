package notify_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/notify"
)

// The secret of the Standard Webhooks specification's published test
// vector, and another one.
const (
	secret      = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	otherSecret = "whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ="
)

// verifyFromSpec checks a message as the Standard Webhooks specification
// describes, written here independently of the package: the key is the
// base64 after whsec_; the signed content is id.timestamp.body; the
// signature header is a space-separated list of version,base64 entries of
// which one v1 must equal HMAC-SHA256 of the content; the timestamp must be
// within five minutes of now.
func verifyFromSpec(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("Webhook-Id"), h.Get("Webhook-Timestamp"), h.Get("Webhook-Signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing header")
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if skew := now.Unix() - unix; skew > 300 || skew < -300 {
		return errors.New("timestamp outside tolerance")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "." + string(body)))
	want := m.Sum(nil)
	for _, s := range strings.Split(sigs, " ") {
		if v, b64, ok := strings.Cut(s, ","); ok && v == "v1" {
			if got, err := base64.StdEncoding.DecodeString(b64); err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return errors.New("no matching signature")
}

func TestSpecTestVector(t *testing.T) {
	t.Parallel()
	const id, ts, body, sig = "msg_p5jXN8AQM9LWM0D4loKWxJek", int64(1614265330), `{"test": 2432232314}`, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", sig)
	at := time.Unix(ts, 0)
	if err := verifyFromSpec(secret, h, []byte(body), at); err != nil {
		t.Fatalf("the test's own verifier refuses the specification's vector: %v", err)
	}
	key, err := notify.DecodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	if got := notify.Sign(key, id, ts, []byte(body)); got != sig {
		t.Errorf("Sign = %s, want %s", got, sig)
	}
	if err := notify.Verify(key, h, []byte(body), at, 0); err != nil {
		t.Errorf("Verify refuses the specification's vector: %v", err)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	key, _ := notify.DecodeSecret(secret)
	other, _ := notify.DecodeSecret(otherSecret)
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"type":"order.paid"}`)
	headers := func(id string, ts time.Time, sig string) http.Header {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		h.Set("webhook-signature", sig)
		return h
	}
	good := notify.Sign(key, "msg_1", now.Unix(), body)
	tests := []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"valid", headers("msg_1", now, good), body, nil},
		{"one of several signatures", headers("msg_1", now, "v1a,AAAA "+notify.Sign(other, "msg_1", now.Unix(), body)+" "+good), body, nil},
		{"tampered body", headers("msg_1", now, good), []byte(`{"type":"order.refunded"}`), notify.ErrSignature},
		{"another id", headers("msg_2", now, good), body, notify.ErrSignature},
		{"another secret", headers("msg_1", now, notify.Sign(other, "msg_1", now.Unix(), body)), body, notify.ErrSignature},
		{"stale", headers("msg_1", now.Add(-6*time.Minute), notify.Sign(key, "msg_1", now.Add(-6*time.Minute).Unix(), body)), body, notify.ErrTimestamp},
		{"from the future", headers("msg_1", now.Add(6*time.Minute), notify.Sign(key, "msg_1", now.Add(6*time.Minute).Unix(), body)), body, notify.ErrTimestamp},
		{"missing signature", headers("msg_1", now, ""), body, notify.ErrMissingHeaders},
	}
	for _, tt := range tests {
		if err := notify.Verify(key, tt.h, tt.body, now, 0); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// endpoint is a shop's receiver: it verifies each message with its own
// copy of the secret, drops a webhook-id it has already accepted, and
// answers what the test queued, else 200.
type endpoint struct {
	srv    *httptest.Server
	secret string
	now    func() time.Time

	mu       sync.Mutex
	attempts []attempt         // every request, verified or not
	accepted map[string][]byte // body by webhook-id, accepted once
	answers  []scriptedAnswer  // next answers, first first
	counts   map[string]int    // accepted per webhook-id
}

type attempt struct {
	header http.Header
	body   []byte
	err    error // the verification's outcome
}

type scriptedAnswer struct {
	status int
	header http.Header
	body   string
}

func newEndpoint(t *testing.T, secret string, now func() time.Time) *endpoint {
	t.Helper()
	e := &endpoint{secret: secret, now: now, accepted: map[string][]byte{}, counts: map[string]int{}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := verifyFromSpec(e.secret, r.Header, body, e.now())
		e.mu.Lock()
		defer e.mu.Unlock()
		e.attempts = append(e.attempts, attempt{r.Header.Clone(), body, err})
		if len(e.answers) > 0 {
			a := e.answers[0]
			e.answers = e.answers[1:]
			for k, v := range a.header {
				w.Header()[k] = v
			}
			w.WriteHeader(a.status)
			_, _ = io.WriteString(w, a.body)
			return
		}
		if err != nil {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get("webhook-id")
		if _, seen := e.accepted[id]; !seen {
			e.accepted[id] = body
			e.counts[id]++
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *endpoint) answer(a ...scriptedAnswer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.answers = append(e.answers, a...)
}

func (e *endpoint) seen() []attempt {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]attempt(nil), e.attempts...)
}

func (e *endpoint) acceptedCount(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[id]
}

// clock is a time the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func setup(t *testing.T, receiverSecret string) (*endpoint, *notify.Sender, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)}
	e := newEndpoint(t, receiverSecret, c.now)
	s, err := notify.New(notify.Config{URL: e.srv.URL + "/hooks/caisse?token=receiverToken123", Secret: secret, HTTPClient: e.srv.Client(), Now: c.now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e, s, c
}

func paidOrder() *caisse.Order {
	return &caisse.Order{
		ID: "ord_42", Status: caisse.StatusPaid, Items: []caisse.Line{{ProductID: "art-1", Name: "Art", Quantity: 1, UnitAmount: 1500}},
		Currency: "eur", AmountTotal: 1500, AmountPaid: 1500, AmountDue: 1500, CustomerEmail: "ada@example.com",
		CheckoutSession: "cs_test_1", PaymentIntent: "pi_1",
		CreatedAt: time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
		Timeline: []caisse.TimelineEntry{{At: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), EventID: "evt_1", Type: "checkout.session.completed", From: caisse.StatusPending, To: caisse.StatusPaid}},
	}
}

func orderNotice(s *notify.Sender, topic string) caisse.Notice {
	return caisse.Notice{
		Delivery: caisse.Delivery{
			ID: "dl_0001", Channel: caisse.ChannelWebhook, Topic: topic, Recipient: s.Recipient(), OrderID: "ord_42",
			CreatedAt: time.Date(2026, 12, 1, 9, 0, 0, 123_000_000, time.UTC),
		},
		Order: paidOrder(),
	}
}

func TestSendSignsAStandardWebhook(t *testing.T) {
	t.Parallel()
	e, s, _ := setup(t, secret)
	n := orderNotice(s, "order.paid")
	if err := s.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	a := e.seen()
	if len(a) != 1 || a[0].err != nil {
		t.Fatalf("attempts = %+v, want one that verifies", a)
	}
	if got := a[0].header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := a[0].header.Get("webhook-id"); got != "dl_0001" {
		t.Errorf("webhook-id = %q, want the delivery's id", got)
	}
	var msg struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(a[0].body, &msg); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(n.Order)
	if msg.Type != "order.paid" || msg.Timestamp != "2026-12-01T09:00:00.123Z" || !bytes.Equal(msg.Data, want) {
		t.Errorf("message = %s\nwant data %s", a[0].body, want)
	}
}

func TestSendProductWebhook(t *testing.T) {
	t.Parallel()
	e, s, _ := setup(t, secret)
	p := &caisse.Product{ID: "art-1", Name: "Nocturne", Price: 120000, Currency: "eur", Stock: 0}
	p.Fill()
	n := caisse.Notice{Delivery: caisse.Delivery{ID: "dl_0002", Topic: "product.availability_changed", Recipient: s.Recipient(), CreatedAt: time.Now()}, Product: p}
	if err := s.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var msg struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(e.seen()[0].body, &msg)
	want, _ := json.Marshal(p)
	if msg.Type != "product.availability_changed" || !bytes.Equal(msg.Data, want) {
		t.Errorf("message = %s", e.seen()[0].body)
	}
}

// The endpoint fails once; the retry carries the same webhook-id, a new
// timestamp and a signature that verifies, and the endpoint, which drops ids
// it has, accepts the message once however often it comes.
func TestRetryCarriesTheSameIDAndIsAcceptedOnce(t *testing.T) {
	t.Parallel()
	e, s, c := setup(t, secret)
	n := orderNotice(s, "order.refunded")
	e.answer(scriptedAnswer{status: 500, body: "database is restarting"})
	err := s.Send(context.Background(), n)
	if de := caisse.AsDeliveryError(err); de == nil || de.Permanent {
		t.Fatalf("Send on a 500 = %v, want an error to retry", err)
	}
	c.advance(5 * time.Second)
	if err := s.Send(context.Background(), n); err != nil {
		t.Fatalf("retry: %v", err)
	}
	c.advance(30 * time.Minute) // a resend after a crash, long after
	if err := s.Send(context.Background(), n); err != nil {
		t.Fatalf("resend: %v", err)
	}
	a := e.seen()
	if len(a) != 3 {
		t.Fatalf("%d attempts, want 3", len(a))
	}
	for i, at := range a {
		if at.err != nil {
			t.Errorf("attempt %d does not verify: %v", i, at.err)
		}
		if id := at.header.Get("webhook-id"); id != "dl_0001" {
			t.Errorf("attempt %d has webhook-id %q", i, id)
		}
	}
	if a[0].header.Get("webhook-timestamp") == a[1].header.Get("webhook-timestamp") {
		t.Errorf("the retry kept the first attempt's timestamp")
	}
	if got := e.acceptedCount("dl_0001"); got != 1 {
		t.Errorf("message accepted %d times, want once", got)
	}
}

func TestTamperedOrForeignMessagesFailVerification(t *testing.T) {
	t.Parallel()
	e, s, c := setup(t, secret)
	if err := s.Send(context.Background(), orderNotice(s, "order.paid")); err != nil {
		t.Fatal(err)
	}
	a := e.seen()[0]
	tampered := bytes.Replace(a.body, []byte(`"amount_paid":1500`), []byte(`"amount_paid":15000`), 1)
	if bytes.Equal(tampered, a.body) {
		t.Fatal("the test did not change the body")
	}
	if err := verifyFromSpec(secret, a.header, tampered, c.now()); err == nil {
		t.Errorf("a tampered body verifies")
	}
	if err := verifyFromSpec(otherSecret, a.header, a.body, c.now()); err == nil {
		t.Errorf("the message verifies with another secret")
	}
	if err := verifyFromSpec(secret, a.header, a.body, c.now().Add(10*time.Minute)); err == nil {
		t.Errorf("the message verifies ten minutes later")
	}
}

func TestEndpointWithAnotherSecretRefusesAndIsRetried(t *testing.T) {
	t.Parallel()
	e, s, _ := setup(t, otherSecret)
	err := s.Send(context.Background(), orderNotice(s, "order.paid"))
	de := caisse.AsDeliveryError(err)
	if de == nil || de.Permanent || !strings.Contains(de.Message, "CAISSE_NOTIFY_SECRET") {
		t.Fatalf("Send = %v, want an error to retry that points at CAISSE_NOTIFY_SECRET", err)
	}
	if a := e.seen(); len(a) != 1 || a[0].err == nil {
		t.Errorf("the endpoint verified a message signed with another secret")
	}
}

func TestSendAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		answer     scriptedAnswer
		permanent  bool
		gone       bool
		retryAfter time.Duration
	}{
		{name: "gone", answer: scriptedAnswer{status: 410}, permanent: true, gone: true},
		{name: "rate limited", answer: scriptedAnswer{status: 429, header: http.Header{"Retry-After": {"20"}}}, retryAfter: 20 * time.Second},
		{name: "unavailable until a date", answer: scriptedAnswer{status: 503, header: http.Header{"Retry-After": {"Tue, 01 Dec 2026 09:32:00 GMT"}}}, retryAfter: 2 * time.Minute},
		{name: "unavailable", answer: scriptedAnswer{status: 503}},
		{name: "not found, mid-deploy", answer: scriptedAnswer{status: 404, body: "<html><h1>Not Found</h1></html>"}},
		{name: "unprocessable", answer: scriptedAnswer{status: 422}},
		{name: "bad gateway", answer: scriptedAnswer{status: 502}},
		{name: "answer echoing the endpoint's token", answer: scriptedAnswer{status: 400, body: "bad request to /hooks/caisse?token=receiverToken123"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, s, _ := setup(t, secret)
			e.answer(tt.answer)
			de := caisse.AsDeliveryError(s.Send(context.Background(), orderNotice(s, "order.paid")))
			if de == nil {
				t.Fatal("Send = nil, want a *caisse.DeliveryError")
			}
			if de.Permanent != tt.permanent || de.Gone != tt.gone || de.RetryAfter != tt.retryAfter {
				t.Errorf("Send = %+v, want permanent %v, gone %v, retry after %v", de, tt.permanent, tt.gone, tt.retryAfter)
			}
			if strings.Contains(de.Message, "receiverToken123") || strings.Contains(de.Message, "MfKQ9r8GKYqr") {
				t.Errorf("message %q shows a secret", de.Message)
			}
		})
	}
}

func TestRedirectFailsAndIsNotFollowed(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	t.Cleanup(elsewhere.Close)
	e, _, c := setup(t, secret)
	e.answer(scriptedAnswer{status: http.StatusMovedPermanently, header: http.Header{"Location": {elsewhere.URL + "/new"}}})
	s, err := notify.New(notify.Config{URL: e.srv.URL + "/hooks", Secret: secret, HTTPClient: &http.Client{}, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), orderNotice(s, "order.paid"))
	if de := caisse.AsDeliveryError(err); de == nil || !strings.Contains(de.Message, "redirect") {
		t.Fatalf("Send after a 301 = %v, want a failure about the redirect", err)
	}
	elsewhere.Close()
	if hits.Load() != 0 {
		t.Errorf("the redirect was followed")
	}
}

func TestTestMessage(t *testing.T) {
	t.Parallel()
	e, s, c := setup(t, secret)
	n := caisse.Notice{Delivery: caisse.Delivery{Channel: caisse.ChannelWebhook, Topic: caisse.TopicTest}, ShopName: "Atelier"}
	if err := s.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	a := e.seen()[0]
	if a.err != nil || a.header.Get("webhook-id") == "" {
		t.Fatalf("test message does not verify: %v", a.err)
	}
	var msg struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      struct{ Shop string }
	}
	_ = json.Unmarshal(a.body, &msg)
	if msg.Type != notify.TestType || msg.Data.Shop != "Atelier" || !msg.Timestamp.Equal(c.now()) {
		t.Errorf("test message = %s", a.body)
	}
}

func TestSendRefusesWhatItCannotSend(t *testing.T) {
	t.Parallel()
	e, s, _ := setup(t, secret)
	bad := []caisse.Notice{
		{Delivery: caisse.Delivery{ID: "dl_1", Topic: "order.paid", Recipient: s.Recipient(), CreatedAt: time.Now()}},                                     // no order
		{Delivery: caisse.Delivery{ID: "dl_2", Topic: "product.availability_changed", CreatedAt: time.Now()}, Order: paidOrder()},                         // no product
		{Delivery: caisse.Delivery{ID: "dl_3", Topic: caisse.TopicOversold, CreatedAt: time.Now()}, Order: paidOrder()},                                   // an alert topic
		{Delivery: caisse.Delivery{ID: "dl.4", Topic: "order.paid", CreatedAt: time.Now()}, Order: paidOrder()},                                           // a full stop in the id
		{Delivery: caisse.Delivery{ID: "dl_5", Topic: "order.paid", Recipient: "https://other.example/hooks", CreatedAt: time.Now()}, Order: paidOrder()}, // another endpoint's row
	}
	for _, n := range bad {
		if de := caisse.AsDeliveryError(s.Send(context.Background(), n)); de == nil || !de.Permanent {
			t.Errorf("Send(%+v) = %v, want a permanent failure", n.Delivery, de)
		}
	}
	if a := e.seen(); len(a) != 0 {
		t.Errorf("%d requests sent", len(a))
	}
}

func TestSendUnreachableAndInterrupted(t *testing.T) {
	t.Parallel()
	e, s, _ := setup(t, secret)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Send(ctx, orderNotice(s, "order.paid")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context = %v, want context.Canceled", err)
	}
	e.srv.Close()
	err := s.Send(context.Background(), orderNotice(s, "order.paid"))
	de := caisse.AsDeliveryError(err)
	if de == nil || de.Permanent {
		t.Fatalf("Send to a closed endpoint = %v, want an error to retry", err)
	}
	if strings.Contains(de.Message, "receiverToken123") {
		t.Errorf("message %q shows the endpoint's query", de.Message)
	}
}

func TestNewAndEndpoints(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		url, secret, names string
	}{
		{"ftp://shop.example/hooks", secret, "CAISSE_NOTIFY_URLS"},
		{"shop.example/hooks?token=s3cr3tQuery", secret, "CAISSE_NOTIFY_URLS"},
		{"https://shop.example/hooks", "", "CAISSE_NOTIFY_SECRET"},
		{"https://shop.example/hooks", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "CAISSE_NOTIFY_SECRET"},
		{"https://shop.example/hooks", "whsec_not base64!!", "CAISSE_NOTIFY_SECRET"},
		{"https://shop.example/hooks", "whsec_c2hvcnQ=", "CAISSE_NOTIFY_SECRET"},
	} {
		_, err := notify.New(notify.Config{URL: tt.url, Secret: tt.secret})
		if err == nil || !strings.Contains(err.Error(), tt.names) {
			t.Errorf("New(%q) = %v, want an error naming %s", tt.url, err, tt.names)
			continue
		}
		for _, leak := range []string{"MfKQ9r8GKYqr", "s3cr3tQuery", "c2hvcnQ", "not base64"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("New error %q quotes a secret", err)
			}
		}
	}
	urls, err := notify.Endpoints(" https://shop.example/hooks?token=abcdef123 , http://app:3000/caisse ,")
	if err != nil || len(urls) != 2 {
		t.Fatalf("Endpoints = %v, %v", urls, err)
	}
	if r := notify.Recipient("https://user:pw@shop.example/hooks?token=abcdef123#x"); r != "https://shop.example/hooks" {
		t.Errorf("Recipient = %q", r)
	}
	if _, err := notify.Endpoints("https://shop.example/hooks?a=1,https://shop.example/hooks?a=2"); err == nil {
		t.Errorf("Endpoints accepts one endpoint twice")
	}
	if _, err := notify.Endpoints("https://shop.example/ok,mailto:x?token=s3cr3tQuery"); err == nil || !strings.Contains(err.Error(), "CAISSE_NOTIFY_URLS") || strings.Contains(err.Error(), "s3cr3tQuery") {
		t.Errorf("Endpoints with a bad address = %v", err)
	}
}

func TestPrintingHidesTheSecret(t *testing.T) {
	t.Parallel()
	_, s, _ := setup(t, secret)
	cfg := notify.Config{URL: "https://shop.example/hooks?token=receiverToken123", Secret: secret}
	for _, v := range []any{cfg, &cfg, s} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, "MfKQ9r8GKYqr") || strings.Contains(out, "receiverToken123") {
				t.Errorf("%s prints a secret: %s", verb, out)
			}
		}
	}
}
