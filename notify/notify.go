// Package notify sends the shop's own endpoints (CAISSE_NOTIFY_URLS) a
// webhook for each change of an order or a product's availability, signed
// as Standard Webhooks (https://www.standardwebhooks.com) with
// CAISSE_NOTIFY_SECRET, so any of that specification's libraries verifies
// them.
//
// A message is {"type","timestamp","data"}: type is the delivery's topic
// (order.paid, product.availability_changed, …), timestamp when the change
// happened, data the order or product as the admin API shows it when the
// message is sent. Its webhook-id is the delivery's id, the same on every
// attempt, for the receiver to drop what it already has.
//
// It must not follow redirects nor show the secret in an error.
package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/outbound"
)

// TestType is the type of the message `caisse notify test` sends.
const TestType = "caisse.test"

// Config is what a Sender for one endpoint needs.
type Config struct {
	// URL is the endpoint: one of CAISSE_NOTIFY_URLS, http or https. Its
	// query may hold a token of the receiver's; it is never shown.
	URL string
	// Secret signs the messages (CAISSE_NOTIFY_SECRET): whsec_ and a base64
	// key of 24 to 64 bytes.
	Secret string
	// HTTPClient sends the requests; nil for one with a 15 s timeout.
	// Either way redirects are not followed: a 3xx fails the attempt.
	HTTPClient *http.Client
	// Now returns the current time, for webhook-timestamp and to read a
	// Retry-After date; nil for time.Now.
	Now func() time.Time
}

// String keeps the secret and the endpoint's query out of a printed Config.
func (c Config) String() string {
	return fmt.Sprintf("notify.Config{URL: %q, Secret: [secret]}", Recipient(c.URL))
}

// GoString keeps the secret out of a Config printed with %#v.
func (c Config) GoString() string { return c.String() }

// Sender sends webhooks to one endpoint. It implements caisse.Sender for the
// webhook channel; the dispatcher keeps one per endpoint, by Recipient.
type Sender struct {
	url       string
	recipient string
	key       []byte
	secrets   []string // the secret and the address's private parts, replaced in anything shown
	client    *http.Client
	now       func() time.Time
}

// String keeps the secret out of a printed Sender.
func (s *Sender) String() string {
	return fmt.Sprintf("notify.Sender{endpoint: %q, secret: [secret]}", s.recipient)
}

// GoString keeps the secret out of a Sender printed with %#v.
func (s *Sender) GoString() string { return s.String() }

// Recipient is the endpoint's address without its query, fragment or user
// name: what a delivery row records as its recipient.
func (s *Sender) Recipient() string { return s.recipient }

// Recipient returns an endpoint's address without its query, fragment or
// user name and password, which may hold the receiver's secrets: the
// delivery's recipient, shown to the owner. "" if it is not an address.
func Recipient(endpoint string) string {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil || u.Host == "" {
		return ""
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// Endpoints reads CAISSE_NOTIFY_URLS: web addresses separated by commas.
// Its errors name the variable and never quote an address, whose query may
// be secret.
func Endpoints(list string) ([]string, error) {
	var urls, recipients []string
	for i, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		if err := checkURL(raw); err != nil {
			return nil, fmt.Errorf("CAISSE_NOTIFY_URLS: address %d %w", i+1, err)
		}
		r := Recipient(raw)
		if slices.Contains(recipients, r) {
			return nil, caisse.WithFix(fmt.Errorf("CAISSE_NOTIFY_URLS lists %s twice", r), "list each endpoint once")
		}
		urls, recipients = append(urls, raw), append(recipients, r)
	}
	return urls, nil
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return caisse.WithFix(errors.New("is not a web address"), "write it as https://shop.example.com/path")
	}
	return nil
}

// New checks the configuration and returns a Sender. Its errors name
// CAISSE_NOTIFY_URLS or CAISSE_NOTIFY_SECRET and quote neither.
func New(cfg Config) (*Sender, error) {
	raw := strings.TrimSpace(cfg.URL)
	if err := checkURL(raw); err != nil {
		return nil, fmt.Errorf("CAISSE_NOTIFY_URLS: an address %w", err)
	}
	if strings.TrimSpace(cfg.Secret) == "" {
		return nil, caisse.WithFix(errors.New("CAISSE_NOTIFY_SECRET is required with CAISSE_NOTIFY_URLS"), "set it to whsec_ and a random base64 key (such as the output of openssl rand -base64 32), and give the same secret to the receiving side")
	}
	key, err := DecodeSecret(cfg.Secret)
	if err != nil {
		return nil, caisse.WithFix(fmt.Errorf("CAISSE_NOTIFY_SECRET is not a Standard Webhooks secret: %w", err),
			"set it to whsec_ and a random base64 key (such as the output of openssl rand -base64 32), the same as the receiving side's")
	}
	u, _ := url.Parse(raw)
	secret := strings.TrimSpace(cfg.Secret)
	secrets := []string{raw, secret, strings.TrimPrefix(secret, secretPrefix), u.RawQuery, u.Fragment}
	for _, values := range u.Query() {
		secrets = append(secrets, values...)
	}
	if u.User != nil {
		secrets = append(secrets, u.User.String())
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		}
	}
	// A short query value (a page number) is no secret, and replacing it
	// would garble every message.
	secrets = slices.DeleteFunc(secrets, func(s string) bool { return len(s) < 6 })
	s := &Sender{url: raw, recipient: Recipient(raw), key: key, secrets: secrets, client: outbound.Client(cfg.HTTPClient), now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// envelope is a message's body.
type envelope struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// testData is what a test message says.
type testData struct {
	Shop    string `json:"shop"`
	Message string `json:"message"`
}

var (
	// eventType is a full-stop delimited type, as Standard Webhooks asks.
	eventType = regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+$`)
	// messageID is what can go in webhook-id and the signed content: no
	// full stop (it delimits the signed parts), nothing a header cannot hold.
	messageID = regexp.MustCompile(`^[A-Za-z0-9_:-]{1,200}$`)
)

// Body returns the message a delivery sends: its type, when the change
// happened, and the order (for order.* types) or product (product.*) as the
// admin API shows it. caisse.TopicTest gives a caisse.test message.
func Body(n caisse.Notice) ([]byte, error) {
	e := envelope{Type: n.Delivery.Topic, Timestamp: n.Delivery.CreatedAt.UTC()}
	switch {
	case n.Delivery.Topic == caisse.TopicTest:
		e.Type = TestType
		e.Data = testData{Shop: n.ShopName, Message: "A test message from caisse: this endpoint receives the shop's webhooks."}
	case !eventType.MatchString(n.Delivery.Topic):
		return nil, caisse.Permanentf("%q is not a webhook type such as order.paid: this is a fault in caisse", n.Delivery.Topic)
	case strings.HasPrefix(n.Delivery.Topic, "product."):
		if n.Product == nil {
			return nil, caisse.Permanentf("the %s webhook names no product: this is a fault in caisse", n.Delivery.Topic)
		}
		e.Data = n.Product
		if n.Delivery.Topic == caisse.HookProductSold {
			e.Data = soldProduct{Product: n.Product, Sale: saleOf(n)}
		}
	default:
		if n.Order == nil {
			return nil, caisse.Permanentf("the %s webhook names no order: this is a fault in caisse", n.Delivery.Topic)
		}
		e.Data = n.Order
	}
	if n.Delivery.CreatedAt.IsZero() {
		return nil, caisse.Permanentf("the %s webhook has no time of change: this is a fault in caisse", e.Type)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, caisse.Permanentf("the %s webhook could not be written as JSON (%v): this is a fault in caisse", e.Type, err)
	}
	return b, nil
}

// soldProduct is the data of a product.sold webhook: the product as the
// admin API shows it, and the sale: which order, how many, at what price.
// Never who bought it.
type soldProduct struct {
	*caisse.Product
	Sale sale `json:"sale"`
}

type sale struct {
	OrderID    string `json:"order_id"`
	Quantity   int64  `json:"quantity"`
	UnitAmount int64  `json:"unit_amount"`
	Currency   string `json:"currency"`
}

func saleOf(n caisse.Notice) sale {
	s := sale{OrderID: n.Delivery.OrderID}
	if n.Order != nil {
		s.Currency = n.Order.Currency
		for _, l := range n.Order.Items {
			if l.ProductID == n.Delivery.ProductID {
				s.Quantity, s.UnitAmount = l.Quantity, l.UnitAmount
			}
		}
	}
	return s
}

// Send posts the delivery's message, signed. It returns nil once the
// endpoint answered 2xx, and otherwise a *caisse.DeliveryError: 410 Gone
// stops deliveries to the endpoint; 429 and 503 come back as Retry-After
// says; a redirect, any other status or no answer is retried, as Standard
// Webhooks advises (an endpoint in the middle of a deploy answers 404 for a
// while, and one that verifies with another secret 401 until it is fixed).
func (s *Sender) Send(ctx context.Context, n caisse.Notice) error {
	if n.Delivery.Recipient != "" && n.Delivery.Recipient != s.recipient {
		return caisse.Permanentf("a webhook for %s was handed to the sender of %s: this is a fault in caisse", Recipient(n.Delivery.Recipient), s.recipient)
	}
	id := n.Delivery.ID
	if n.Delivery.Topic == caisse.TopicTest {
		if id == "" {
			id = "test_" + randomID()
		}
		if n.Delivery.CreatedAt.IsZero() {
			n.Delivery.CreatedAt = s.now()
		}
	}
	if !messageID.MatchString(id) {
		return caisse.Permanentf("the webhook's id %q cannot be a webhook-id: this is a fault in caisse", id)
	}
	body, err := Body(n)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return caisse.Permanentf("the endpoint %s cannot be used: check CAISSE_NOTIFY_URLS", s.recipient)
	}
	ts := s.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(s.key, id, ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("error sending webhook %s to %s: interrupted: %w", id, s.recipient, ctx.Err())
		}
		return caisse.Retryf("could not reach %s (%s): caisse will try again", s.recipient, outbound.TransportCause(err, s.secrets))
	}
	answer := outbound.ReadAnswer(resp)
	return s.outcome(resp, answer)
}

func (s *Sender) outcome(resp *http.Response, answer []byte) error {
	code := resp.StatusCode
	status := strings.TrimSpace(fmt.Sprintf("%d %s", code, outbound.Snippet(answer, s.secrets)))
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		return caisse.Retryf("%s answered %d, a redirect, which caisse does not follow: set CAISSE_NOTIFY_URLS to the address it redirects to; caisse will try again", s.recipient, code)
	case code == http.StatusGone:
		return &caisse.DeliveryError{
			Message:   fmt.Sprintf("%s answered 410 Gone: it wants no more webhooks, so caisse sends it no more. Remove it from CAISSE_NOTIFY_URLS, or fix it and retry the delivery", s.recipient),
			Permanent: true,
			Gone:      true,
		}
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return &caisse.DeliveryError{
			Message:    fmt.Sprintf("%s asked caisse to wait (%s): caisse will try again", s.recipient, status),
			RetryAfter: outbound.RetryAfter(resp.Header.Get("Retry-After"), s.now()),
			Wait:       true,
		}
	case code == http.StatusBadRequest || code == http.StatusUnauthorized || code == http.StatusForbidden:
		return caisse.Retryf("%s refused the webhook (%s): caisse will try again. If it keeps refusing, check that it verifies signatures with the secret in CAISSE_NOTIFY_SECRET", s.recipient, status)
	case code >= 400 && code < 500:
		return caisse.Retryf("%s refused the webhook (%s): caisse will try again", s.recipient, status)
	}
	return caisse.Retryf("%s failed (%s): caisse will try again", s.recipient, status)
}

// randomID returns a fresh id for a test message that has none.
func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
