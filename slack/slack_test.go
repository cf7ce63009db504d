package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/slack"
)

// hookPath is the incoming webhook's path on the test receiver; its last
// segment is the secret part of a Slack webhook's address.
const hookPath = "/services/T0001/B0001/s3cretW3bhookT0ken42"

// receiver is an incoming webhook: it takes JSON with a text at hookPath,
// answers 400 no_text to a message without one, 404 no_service elsewhere,
// and otherwise what the test tells it.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	messages [][]byte
	status   int
	header   http.Header
	body     string
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{status: http.StatusOK, body: "ok"}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != hookPath {
			http.Error(w, "no_service", http.StatusNotFound)
			return
		}
		if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(req.Body)
		var msg struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(b, &msg) != nil {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		if msg.Text == "" {
			http.Error(w, "no_text", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.messages = append(r.messages, b)
		status, header, body := r.status, r.header, r.body
		r.mu.Unlock()
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return r.srv.URL + hookPath }

func (r *receiver) answer(status int, body string, header http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.body, r.header = status, body, header
}

func (r *receiver) received(t *testing.T) [][]byte {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.messages...)
}

// last returns the one message received, checked against Slack's rules.
func (r *receiver) last(t *testing.T) posted {
	t.Helper()
	msgs := r.received(t)
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	return checkMessage(t, msgs[0])
}

func newSender(t *testing.T, r *receiver, now func() time.Time) *slack.Sender {
	t.Helper()
	s, err := slack.New(slack.Config{WebhookURL: r.url(), HTTPClient: r.srv.Client(), Now: now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// posted is a received message, decoded.
type posted struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type string `json:"type"`
		Text *struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"text"`
		Fields []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"fields"`
		Elements []struct {
			Type string          `json:"type"`
			Text json.RawMessage `json:"text"`
			URL  string          `json:"url"`
		} `json:"elements"`
	} `json:"blocks"`
}

// checkMessage decodes a message and checks it against Block Kit's rules:
// a text always; blocks of known types, each within Slack's limits.
func checkMessage(t *testing.T, raw []byte) posted {
	t.Helper()
	var m posted
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("message is not the JSON an incoming webhook takes: %v\n%s", err, raw)
	}
	if strings.TrimSpace(m.Text) == "" {
		t.Errorf("message has no text (the fallback):\n%s", raw)
	}
	if len(m.Blocks) == 0 || len(m.Blocks) > 50 {
		t.Errorf("message has %d blocks, want 1 to 50", len(m.Blocks))
	}
	runes := utf8.RuneCountInString
	for i, b := range m.Blocks {
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || b.Text.Text == "" || runes(b.Text.Text) > 150 {
				t.Errorf("block %d: a header needs a plain_text of 1 to 150 characters: %+v", i, b.Text)
			}
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				t.Errorf("block %d: a section needs a text or fields", i)
			}
			if b.Text != nil && (b.Text.Type != "mrkdwn" && b.Text.Type != "plain_text" || b.Text.Text == "" || runes(b.Text.Text) > 3000) {
				t.Errorf("block %d: bad section text %+v", i, b.Text)
			}
			if len(b.Fields) > 10 {
				t.Errorf("block %d: %d fields, Slack takes at most 10", i, len(b.Fields))
			}
			for _, f := range b.Fields {
				if f.Type != "mrkdwn" && f.Type != "plain_text" || f.Text == "" || runes(f.Text) > 2000 {
					t.Errorf("block %d: bad field %+v", i, f)
				}
			}
		case "actions":
			if len(b.Elements) == 0 || len(b.Elements) > 25 {
				t.Errorf("block %d: %d elements", i, len(b.Elements))
			}
			for _, e := range b.Elements {
				var label struct{ Type, Text string }
				if e.Type != "button" || json.Unmarshal(e.Text, &label) != nil || label.Type != "plain_text" || label.Text == "" || runes(label.Text) > 75 {
					t.Errorf("block %d: bad button %+v", i, e)
				}
				if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || len(e.URL) > 3000 {
					t.Errorf("block %d: button link %q is not a web address", i, e.URL)
				}
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				t.Errorf("block %d: %d elements", i, len(b.Elements))
			}
			for _, e := range b.Elements {
				var s string
				if e.Type != "mrkdwn" && e.Type != "plain_text" || json.Unmarshal(e.Text, &s) != nil || s == "" {
					t.Errorf("block %d: bad context element %+v", i, e)
				}
			}
		default:
			t.Errorf("block %d has unknown type %q", i, b.Type)
		}
	}
	return m
}

func (m posted) block(typ string) (found []int) {
	for i, b := range m.Blocks {
		if b.Type == typ {
			found = append(found, i)
		}
	}
	return found
}

func disputeNotice() caisse.Notice {
	return caisse.Notice{
		Delivery: caisse.Delivery{
			ID: "dl_1", Channel: caisse.ChannelAlert, Topic: caisse.TopicDisputeOpened, Recipient: "slack", OrderID: "ord_42",
			Payload: map[string]any{
				"title": "Dispute opened",
				"text":  "The buyer of ord_42 disputes the payment.",
				"fields": map[string]any{
					"Order":        "ord_42",
					"Reason":       "fraudulent",
					"Amount":       caisse.FormatAmount(1500, "eur"),
					"Evidence due": "2026-12-24",
				},
				"link": "https://dashboard.stripe.com/disputes/dp_1",
			},
		},
		ShopName: "Galerie Nord",
	}
}

func TestSendPostsTextAndBlocks(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	if err := newSender(t, r, nil).Send(context.Background(), disputeNotice()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	m := r.last(t)
	for _, want := range []string{"Dispute opened", "Galerie Nord", "The buyer of ord_42", "15.00 EUR", "fraudulent", "2026-12-24", "https://dashboard.stripe.com/disputes/dp_1"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	if h := m.block("header"); len(h) != 1 || m.Blocks[h[0]].Text.Text != "Dispute opened" {
		t.Errorf("header = %v, want one saying Dispute opened", h)
	}
	var labels []string
	for _, i := range m.block("section") {
		for _, f := range m.Blocks[i].Fields {
			labels = append(labels, strings.SplitN(f.Text, "\n", 2)[0])
		}
	}
	if got, want := strings.Join(labels, " "), "*Amount* *Reason* *Evidence due* *Order*"; got != want {
		t.Errorf("fields = %s, want %s", got, want)
	}
	a := m.block("actions")
	if len(a) != 1 || m.Blocks[a[0]].Elements[0].URL != "https://dashboard.stripe.com/disputes/dp_1" {
		t.Errorf("want one button to the dispute, got %+v", m.Blocks)
	}
}

func TestSendEscapesMarkup(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	n := disputeNotice()
	n.Delivery.Payload["text"] = "<!channel> refund <https://evil.example|here> & ship"
	n.Delivery.Payload["fields"] = map[string]any{"Reason": "<@U123>"}
	if err := newSender(t, r, nil).Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	raw := string(r.received(t)[0])
	m := checkMessage(t, []byte(raw))
	all := m.Text
	for _, b := range m.Blocks {
		if b.Text != nil {
			all += b.Text.Text
		}
		for _, f := range b.Fields {
			all += f.Text
		}
	}
	for _, bad := range []string{"<!channel>", "<https://evil", "<@U123>"} {
		if strings.Contains(all, bad) {
			t.Errorf("message passes %q to Slack as markup", bad)
		}
	}
	if !strings.Contains(all, "&lt;!channel&gt; refund") || !strings.Contains(all, "&amp; ship") {
		t.Errorf("message does not escape the text:\n%s", all)
	}
}

func TestSendGroupsAlerts(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	n := caisse.Notice{Delivery: caisse.Delivery{ID: "dl_0", Topic: caisse.TopicOversold, OrderID: "o_1",
		Payload: map[string]any{"text": "Sold with no unit left.", "fields": map[string]any{"Amount": "15.00 EUR"}, "link": "https://dashboard.stripe.com/payments/pi_1"}}}
	for i := 2; i <= 12; i++ {
		n.Group = append(n.Group, caisse.Delivery{ID: fmt.Sprintf("dl_%d", i), Topic: caisse.TopicOversold, OrderID: fmt.Sprintf("o_%d", i)})
	}
	if err := newSender(t, r, nil).Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	m := r.last(t)
	if h := m.Blocks[m.block("header")[0]].Text.Text; h != "12 × Order oversold" {
		t.Errorf("header = %q, want 12 × Order oversold", h)
	}
	if !strings.Contains(m.Text, "12 × Order oversold") || !strings.Contains(m.Text, "o_1, o_2, o_3, o_4, o_5 and 7 more") {
		t.Errorf("text does not count and list the orders:\n%s", m.Text)
	}
	if len(m.block("actions")) != 0 || strings.Contains(m.Text, "15.00 EUR") {
		t.Errorf("a grouped alert shows one row's fields or link: %+v", m)
	}
}

func TestSendTestMessage(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	n := caisse.Notice{Delivery: caisse.Delivery{Topic: caisse.TopicTest, Recipient: "slack"}, ShopName: "Atelier"}
	if err := newSender(t, r, nil).Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	m := r.last(t)
	if !strings.Contains(m.Text, "Test alert") || !strings.Contains(m.Text, "Atelier") {
		t.Errorf("test message = %q", m.Text)
	}
}

func TestSendKeepsWithinSlackLimits(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	fields := map[string]any{}
	for i := range 25 {
		fields[fmt.Sprintf("Field %02d", i)] = strings.Repeat("v", 2500)
	}
	n := caisse.Notice{Delivery: caisse.Delivery{Topic: caisse.TopicDeadLetter, Payload: map[string]any{
		"title":  strings.Repeat("Très long titre ", 20),
		"text":   strings.Repeat("é", 5000),
		"fields": fields,
		"link":   "javascript:alert(1)",
	}}}
	if err := newSender(t, r, nil).Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	m := r.last(t) // checks every limit
	if len(m.block("actions")) != 0 {
		t.Errorf("a link that is not a web address became a button")
	}
}

func TestSendAnswers(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		status     int
		body       string
		header     http.Header
		permanent  bool
		gone       bool
		retryAfter time.Duration
		says       string
	}{
		{name: "invalid payload", status: 400, body: "invalid_payload", permanent: true, says: "invalid_payload"},
		{name: "revoked", status: 403, body: "invalid_token", permanent: true, says: "CAISSE_ALERT_WEBHOOK_URL"},
		{name: "no service", status: 404, body: "no_service", permanent: true, says: "CAISSE_ALERT_WEBHOOK_URL"},
		{name: "archived", status: 410, body: "channel_is_archived", permanent: true, gone: true, says: "archived"},
		{name: "rate limited", status: 429, body: "rate_limited", header: http.Header{"Retry-After": {"30"}}, retryAfter: 30 * time.Second, says: "try again"},
		{name: "rate limited until a date", status: 429, header: http.Header{"Retry-After": {now.Add(2 * time.Minute).Format(http.TimeFormat)}}, retryAfter: 2 * time.Minute},
		{name: "rate limited without a delay", status: 429, retryAfter: 0},
		{name: "unavailable", status: 503, header: http.Header{"Retry-After": {"120"}}, retryAfter: 2 * time.Minute},
		{name: "server error", status: 500, body: "<html><body><h1>Internal error</h1></body></html>", says: "500 Internal error"},
		{name: "bad gateway", status: 502},
		{name: "other refusal", status: 422, body: "no_text", permanent: true},
		{name: "answer quoting the address", status: 404, body: "Cannot POST " + hookPath, permanent: true, says: "[secret]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newReceiver(t)
			r.answer(tt.status, tt.body, tt.header)
			err := newSender(t, r, func() time.Time { return now }).Send(context.Background(), disputeNotice())
			de := caisse.AsDeliveryError(err)
			if de == nil {
				t.Fatalf("Send = %v, want a *caisse.DeliveryError", err)
			}
			if de.Permanent != tt.permanent || de.Gone != tt.gone || de.RetryAfter != tt.retryAfter {
				t.Errorf("Send = %+v, want permanent %v, gone %v, retry after %v", de, tt.permanent, tt.gone, tt.retryAfter)
			}
			if !strings.Contains(de.Message, tt.says) {
				t.Errorf("message %q does not say %q", de.Message, tt.says)
			}
			assertNoSecret(t, de.Message, r)
		})
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(elsewhere.Close)
	r := newReceiver(t)
	r.answer(http.StatusFound, "", http.Header{"Location": {elsewhere.URL + "/moved"}})
	// Even a client that follows redirects does not, once given to New.
	s, err := slack.New(slack.Config{WebhookURL: r.url(), HTTPClient: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), disputeNotice())
	if de := caisse.AsDeliveryError(err); de == nil || !de.Permanent || !strings.Contains(de.Message, "redirect") {
		t.Fatalf("Send after a 302 = %v, want a permanent failure about the redirect", err)
	}
	elsewhere.Close() // waits for any request in flight
	if hits.Load() != 0 {
		t.Errorf("the redirect was followed")
	}
}

func TestSendUnreachable(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	s := newSender(t, r, nil)
	r.srv.Close()
	err := s.Send(context.Background(), disputeNotice())
	de := caisse.AsDeliveryError(err)
	if de == nil || de.Permanent {
		t.Fatalf("Send to a closed server = %v, want an error to retry", err)
	}
	assertNoSecret(t, de.Message, r)
}

func TestSendInterrupted(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := newSender(t, r, nil).Send(ctx, disputeNotice())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a cancelled context = %v, want context.Canceled", err)
	}
	assertNoSecret(t, err.Error(), r)
}

func TestNewChecksTheAddress(t *testing.T) {
	t.Parallel()
	const token = "xoxbSecretPartOfTheHook"
	for _, raw := range []string{
		"",
		"hooks.slack.com/services/T0/B0/" + token,
		"http://hooks.slack.com/services/T0/B0/" + token,
		"ftp://hooks.slack.com/services/T0/B0/" + token,
		"https://hooks.slack.com/services/T0/B0/" + token + "%zz",
		"https:///services/" + token,
	} {
		_, err := slack.New(slack.Config{WebhookURL: raw})
		if err == nil {
			t.Errorf("New(%q) = nil error", raw)
			continue
		}
		if !strings.Contains(err.Error(), "CAISSE_ALERT_WEBHOOK_URL") {
			t.Errorf("New(%q) = %v, which does not name CAISSE_ALERT_WEBHOOK_URL", raw, err)
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("New(%q) = %v, which quotes the secret", raw, err)
		}
	}
	if _, err := slack.New(slack.Config{WebhookURL: "https://discord.com/api/webhooks/1/" + token + "/slack"}); err != nil {
		t.Errorf("New refuses a Discord /slack address: %v", err)
	}
}

func TestPrintingHidesTheAddress(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	cfg := slack.Config{WebhookURL: r.url()}
	s := newSender(t, r, nil)
	for _, v := range []any{cfg, &cfg, s} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			assertNoSecret(t, fmt.Sprintf(verb, v), r)
		}
	}
}

func assertNoSecret(t *testing.T, s string, r *receiver) {
	t.Helper()
	if strings.Contains(s, "s3cretW3bhookT0ken42") || strings.Contains(s, r.url()) {
		t.Errorf("%q contains the webhook's secret address", s)
	}
}

// Check asks whether the webhook exists without posting anything: a live
// one refuses the empty message; a deleted one answers 404, said as an
// alert's delivery would say it, without the address.
func TestCheck(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	if err := newSender(t, r, nil).Check(context.Background()); err != nil {
		t.Fatalf("Check of a live webhook: %v", err)
	}
	if n := len(r.received(t)); n != 0 {
		t.Errorf("Check posted %d messages", n)
	}
	gone, err := slack.New(slack.Config{WebhookURL: r.srv.URL + "/services/T0001/B0001/deletedW3bhookT0ken", HTTPClient: r.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	err = gone.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "deletedW3bhook") {
		t.Fatalf("Check of a deleted webhook: %v", err)
	}
}
