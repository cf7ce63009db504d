// Package slack delivers caisse's team alerts to a Slack-compatible incoming
// webhook (CAISSE_ALERT_WEBHOOK_URL): Slack's own, or Discord's, whose
// webhook address ending in /slack takes the same messages. Every message
// carries a plain text, which is all some receivers show, and Slack blocks
// for layout.
//
// The webhook's address is a secret (whoever has it can post to the
// channel): no error, log or printed value of this package contains it.
//
// It must not carry a buyer's personal data: alerts name orders, amounts and causes.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/outbound"
)

// Config is what a Sender needs.
type Config struct {
	// WebhookURL is the incoming webhook's address
	// (CAISSE_ALERT_WEBHOOK_URL), such as
	// https://hooks.slack.com/services/T…/B…/…: a secret. It must be https,
	// except to this machine (tests, a local relay).
	WebhookURL string
	// HTTPClient sends the requests; nil for one with a 15 s timeout. Either
	// way redirects are not followed: a 3xx fails the delivery.
	HTTPClient *http.Client
	// Now returns the current time, to read a Retry-After date; nil for
	// time.Now.
	Now func() time.Time
}

// String keeps the webhook's address out of a printed Config.
func (c Config) String() string { return "slack.Config{WebhookURL: [secret]}" }

// GoString keeps the webhook's address out of a Config printed with %#v.
func (c Config) GoString() string { return c.String() }

// Sender posts alerts to one incoming webhook. It implements caisse.Sender
// for the alert channel.
type Sender struct {
	url     string
	secrets []string // the address and its parts, replaced in anything shown
	client  *http.Client
	now     func() time.Time
}

// String keeps the webhook's address out of a printed Sender.
func (s *Sender) String() string { return "slack.Sender{webhook: [secret]}" }

// GoString keeps the webhook's address out of a Sender printed with %#v.
func (s *Sender) GoString() string { return s.String() }

// New checks the configuration and returns a Sender. Its errors name
// CAISSE_ALERT_WEBHOOK_URL and never quote it.
func New(cfg Config) (*Sender, error) {
	raw := strings.TrimSpace(cfg.WebhookURL)
	if raw == "" {
		return nil, caisse.WithFix(errors.New("CAISSE_ALERT_WEBHOOK_URL is empty"), "set it to the address of an incoming webhook, such as https://hooks.slack.com/services/…")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		// url.Parse's error quotes the address, which is a secret.
		return nil, caisse.WithFix(errors.New("CAISSE_ALERT_WEBHOOK_URL is not a web address"), "set it to the address Slack shows for the incoming webhook, such as https://hooks.slack.com/services/…")
	}
	if u.Scheme == "http" && !outbound.IsLoopback(u.Hostname()) {
		return nil, fmt.Errorf("CAISSE_ALERT_WEBHOOK_URL must start with https://: over plain http anyone on the way could read the address and post to the channel")
	}
	secrets := []string{raw, u.RequestURI(), u.EscapedPath(), u.Path, u.RawQuery}
	for _, part := range strings.Split(u.Path, "/") {
		// The token is one of the path's segments (the last for Slack, the
		// one before /slack for Discord); every long one is treated as secret.
		if len(part) >= 12 {
			secrets = append(secrets, part)
		}
	}
	if u.User != nil {
		secrets = append(secrets, u.User.String())
	}
	// A short piece ("/", a team id) is no secret, and replacing it would
	// garble every message.
	secrets = slices.DeleteFunc(secrets, func(s string) bool { return len(s) < 8 })
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Sender{url: raw, secrets: secrets, client: outbound.Client(cfg.HTTPClient), now: now}, nil
}

// Send posts the alert. It returns nil once the webhook accepted it, and
// otherwise a *caisse.DeliveryError saying whether to try again.
func (s *Sender) Send(ctx context.Context, n caisse.Notice) error {
	body, err := json.Marshal(newMessage(n))
	if err != nil {
		return caisse.Permanentf("the alert could not be written as JSON (%v): this is a fault in caisse", err)
	}
	resp, answer, err := s.post(ctx, body)
	if err != nil {
		return err
	}
	return s.outcome(resp, answer)
}

// post posts body to the webhook and reads its answer; its errors never
// quote the address.
func (s *Sender) post(ctx context.Context, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		// NewRequest's error quotes the address, which is a secret.
		return nil, nil, caisse.Permanentf("the alert webhook's address cannot be used: check CAISSE_ALERT_WEBHOOK_URL")
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("error sending alert: interrupted: %w", ctx.Err())
		}
		return nil, nil, caisse.Retryf("could not reach the alert webhook (%s): caisse will try again", outbound.TransportCause(err, s.secrets))
	}
	return resp, outbound.ReadAnswer(resp), nil
}

// Check asks the webhook whether it exists, posting nothing to the
// channel: it sends an empty message, which a live Slack webhook refuses
// with 400 (no_text, invalid_payload; Discord: "Cannot send an empty
// message"), while one that was deleted, revoked or mistyped answers 404,
// 403 or 410, as it would to an alert. It returns nil for a webhook that
// exists, else the error an alert would get.
func (s *Sender) Check(ctx context.Context) error {
	resp, answer, err := s.post(ctx, []byte("{}"))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusBadRequest || (resp.StatusCode >= 200 && resp.StatusCode < 300) {
		return nil
	}
	return s.outcome(resp, answer)
}

// outcome reads the webhook's answer as Slack documents it: 2xx delivered;
// 400 invalid_payload, 403 (action_prohibited, invalid_token, …), 404
// no_service and 410 channel_is_archived refused for good; 429 rate limited,
// with Retry-After; 5xx a failure on Slack's side.
func (s *Sender) outcome(resp *http.Response, answer []byte) error {
	code := resp.StatusCode
	said := outbound.Snippet(answer, s.secrets)
	status := strings.TrimSpace(fmt.Sprintf("%d %s", code, said))
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		return caisse.Permanentf("the alert webhook answered %d, a redirect, which caisse does not follow: set CAISSE_ALERT_WEBHOOK_URL to the webhook's own address, as Slack shows it", code)
	case code == http.StatusBadRequest:
		return caisse.Permanentf("the alert webhook refused the message as malformed (%s): this is a fault in caisse, not in your settings", status)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return caisse.Permanentf("the alert webhook refused to post (%s): it was revoked, its app removed, or the channel does not accept it. Create a new incoming webhook and set CAISSE_ALERT_WEBHOOK_URL to its address", status)
	case code == http.StatusNotFound:
		return caisse.Permanentf("the alert webhook does not exist (%s): it was deleted or mistyped. Create a new incoming webhook and set CAISSE_ALERT_WEBHOOK_URL to its address", status)
	case code == http.StatusGone:
		return &caisse.DeliveryError{
			Message:   fmt.Sprintf("the alert webhook's channel is archived (%s): unarchive it, or create a webhook for another channel and set CAISSE_ALERT_WEBHOOK_URL to its address", status),
			Permanent: true,
			Gone:      true,
		}
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return &caisse.DeliveryError{
			Message:    fmt.Sprintf("the alert webhook asked caisse to slow down (%s): caisse will try again", status),
			RetryAfter: outbound.RetryAfter(resp.Header.Get("Retry-After"), s.now()),
			Wait:       true,
		}
	case code >= 500 || code == http.StatusRequestTimeout:
		return caisse.Retryf("the alert webhook failed (%s): caisse will try again", status)
	}
	return caisse.Permanentf("the alert webhook refused the message (%s): check CAISSE_ALERT_WEBHOOK_URL", status)
}
