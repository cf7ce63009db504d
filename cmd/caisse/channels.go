package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/notify"
	"github.com/caisse/caisse/sanity"
	"github.com/caisse/caisse/slack"
	"github.com/caisse/caisse/smtp"
)

// channels are the delivery channels the configuration sets up, each
// behind caisse.Sender.
type channels struct {
	email  *smtp.Sender // customer emails, and team alerts by email
	slack  *slack.Sender
	sanity *sanity.Sender
	// hooks are the shop's endpoints, by the recipient rows name them.
	hooks map[string]*notify.Sender
	// recipients says who the outbox writes rows for.
	recipients caisse.Recipients
}

// alertDelay is how long an alert waits before it goes out, so that a
// storm of one cause (fifty dead letters) is one message with a count;
// emailDelay how long a customer email waits, so that the session's event
// (with the customer's language) can arrive after the payment's.
const (
	alertDelay = 5 * time.Second
	emailDelay = 5 * time.Second
)

// openChannels builds the senders of every channel the configuration sets
// up. Each refusal names its variable and shows no secret.
func openChannels(cfg Config) (*channels, error) {
	c := &channels{hooks: map[string]*notify.Sender{}, recipients: caisse.Recipients{AlertDelay: alertDelay, EmailDelay: emailDelay}}
	var errs []error
	if cfg.SMTPURL != "" {
		s, err := smtp.New(smtpConfig(cfg))
		if err != nil {
			errs = append(errs, err)
		}
		c.email = s
		c.recipients.Email = true
		c.recipients.Alerts = append(c.recipients.Alerts, cfg.AlertEmails...)
	}
	if cfg.AlertWebhookURL != "" {
		s, err := slack.New(slack.Config{WebhookURL: cfg.AlertWebhookURL})
		if err != nil {
			errs = append(errs, err)
		}
		c.slack = s
		c.recipients.Alerts = append(c.recipients.Alerts, caisse.RecipientSlack)
	}
	if cfg.SanityProject != "" {
		s, err := sanity.New(sanity.Config{Project: cfg.SanityProject, Dataset: cfg.SanityDataset, Token: cfg.SanityToken,
			APIVersion: cfg.SanityAPIVersion, URL: cfg.SanityURL, Field: cfg.SanityField})
		if err != nil {
			errs = append(errs, err)
		}
		c.sanity = s
		c.recipients.Sanity = true
	}
	for _, raw := range cfg.NotifyURLs {
		s, err := notify.New(notify.Config{URL: raw, Secret: cfg.NotifySecret})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		shown := s.Recipient()
		if _, dup := c.hooks[shown]; dup {
			errs = append(errs, fmt.Errorf("CAISSE_NOTIFY_URLS names %s twice (with different queries): give each endpoint once", shown))
			continue
		}
		c.hooks[shown] = s
		c.recipients.Webhooks = append(c.recipients.Webhooks, shown)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// smtpConfig is the mail server's configuration: the emails' way back to
// the shop, and the host of their Message-IDs.
func smtpConfig(cfg Config) smtp.Config {
	c := smtp.Config{URL: cfg.SMTPURL, From: cfg.MailFrom, ShopName: cfg.ShopName, Locale: cfg.Locale, Templates: cfg.Templates,
		ShopURL: cfg.ShopURL}
	if u, err := url.Parse(cfg.PublicURL); err == nil && cfg.PublicURL != "" {
		c.MessageIDHost = u.Host
	}
	return c
}

// sender returns the sender of a row's channel and recipient, or nil when
// it is not set up (any more).
func (c *channels) sender(d caisse.Delivery) caisse.Sender {
	switch d.Channel {
	case caisse.ChannelEmail:
		if c.email != nil {
			return c.email
		}
	case caisse.ChannelAlert:
		if d.Recipient == caisse.RecipientSlack && c.slack != nil {
			return c.slack
		}
		if d.Recipient != caisse.RecipientSlack && c.email != nil {
			return c.email
		}
	case caisse.ChannelSanity:
		if c.sanity != nil {
			return c.sanity
		}
	case caisse.ChannelWebhook:
		if s, ok := c.hooks[d.Recipient]; ok {
			return s
		}
	}
	return nil
}

// testResult is what a test message on one channel came to.
type testResult struct {
	Channel string `json:"channel"`
	To      string `json:"to"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
}

// test sends one test message on each channel that is set up.
func (c *channels) test(ctx context.Context, cfg Config) []testResult {
	now := time.Now().UTC()
	send := func(ch caisse.Channel, to string, s caisse.Sender) testResult {
		d := caisse.Delivery{ID: fmt.Sprintf("dlv_test_%d", now.UnixNano()), Channel: ch, Topic: caisse.TopicTest, Recipient: to,
			CreatedAt: now, Status: caisse.DeliveryPending,
			Payload: caisse.TestAlert(cfg.ShopName).Payload()}
		r := testResult{Channel: string(ch), To: to}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := s.Send(ctx, caisse.Notice{Delivery: d, ShopName: cfg.ShopName}); err != nil {
			r.Error = err.Error()
		} else {
			r.OK = true
		}
		return r
	}
	var out []testResult
	if c.email != nil {
		to := slices.Clone(cfg.AlertEmails)
		if len(to) == 0 {
			// No team address: the sender's own, so the test reaches a person.
			to = []string{fromAddress(cfg.MailFrom)}
		}
		for _, a := range to {
			out = append(out, send(caisse.ChannelEmail, a, c.email))
		}
	}
	if c.slack != nil {
		out = append(out, send(caisse.ChannelAlert, caisse.RecipientSlack, c.slack))
	}
	if c.sanity != nil {
		out = append(out, send(caisse.ChannelSanity, "sanity", c.sanity))
	}
	for _, name := range c.recipients.Webhooks {
		out = append(out, send(caisse.ChannelWebhook, name, c.hooks[name]))
	}
	return out
}

// fromAddress is the address of a "Name <address>" sender.
func fromAddress(from string) string {
	if i, j := strings.LastIndex(from, "<"), strings.LastIndex(from, ">"); i >= 0 && j > i {
		return from[i+1 : j]
	}
	return strings.TrimSpace(from)
}

// notify sends one test message on each configured channel and says what
// worked, and why not.
func (m *Main) notify(ctx context.Context, args []string) error {
	if ok, err := m.group("notify", args); ok {
		return err
	}
	c := m.command("notify test")
	if _, err := c.parse(args[1:]); err != nil {
		return err
	}
	ch, err := openChannels(c.cfg)
	if err != nil {
		return err
	}
	results := ch.test(ctx, c.cfg)
	if len(results) == 0 {
		return fmt.Errorf("no channel is set up: set CAISSE_SMTP_URL, CAISSE_ALERT_WEBHOOK_URL, CAISSE_SANITY_PROJECT or CAISSE_NOTIFY_URLS")
	}
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	if err := c.print(results, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "CHANNEL\tTO\tRESULT")
		for _, r := range results {
			result := "sent"
			if !r.OK {
				result = "FAILED: " + r.Error
			}
			fmt.Fprintf(w, "%s\t%s\t%s\n", r.Channel, r.To, result)
		}
	}); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d channels failed", failed, len(results))
	}
	return nil
}
