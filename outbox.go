package caisse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Channel is how a delivery reaches its recipient.
type Channel string

// The channels caisse delivers on.
const (
	ChannelEmail   Channel = "email"   // the customer, by email
	ChannelAlert   Channel = "alert"   // the shop's team: a Slack-compatible webhook, or email
	ChannelSanity  Channel = "sanity"  // a product's availability in the Sanity CMS
	ChannelWebhook Channel = "webhook" // the shop's own endpoints, signed as Standard Webhooks
	ChannelStripe  Channel = "stripe"  // a request to Stripe's API, such as a refund
)

// Channels lists every channel.
var Channels = []Channel{ChannelEmail, ChannelAlert, ChannelSanity, ChannelWebhook, ChannelStripe}

// DeliveryStatus is where an outbox row is in its delivery.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"   // to be sent, or between attempts
	DeliveryDelivered DeliveryStatus = "delivered" // the recipient has it
	DeliveryFailed    DeliveryStatus = "failed"    // every attempt failed, or one that cannot be retried: retryable by the owner
	DeliverySkipped   DeliveryStatus = "skipped"   // recorded, never sent: the channel is not set up, or no recipient is known
)

// DeliveryStatuses lists every delivery status.
var DeliveryStatuses = []DeliveryStatus{DeliveryPending, DeliveryDelivered, DeliveryFailed, DeliverySkipped}

// Topics: what a delivery says. Customer emails.
const (
	TopicOrderConfirmation = "order_confirmation"       // the order is paid
	TopicPaymentFailed     = "payment_failed"           // a payment attempt was declined (one email per attempt)
	TopicOrderRefunded     = "order_refunded"           // the order is refunded in full
	TopicPartialRefund     = "order_partially_refunded" // part of the order is refunded
	TopicRefundApology     = "refund_apology"           // caisse refunded an oversold or mismatched payment
	TopicOrderShipped      = "order_shipped"            // the order left, with its tracking (again, corrected, if it changes)
)

// Topics of the emails to a work's artist.
const (
	TopicArtistSale          = "artist_sale"           // a unit of the artist's work sold
	TopicArtistSaleCancelled = "artist_sale_cancelled" // that sale was undone: refunded, returned or lost to a dispute
)

// PayloadPayerOnly, true in a customer email's payload, says the email
// goes only to the address it was written with (who made a payment that
// did not pay the order), never to the order's customer.
const PayloadPayerOnly = "payer_only"

// CustomerTopic reports whether an email of this topic goes to the
// customer, whose address is read from the order when it is sent.
func CustomerTopic(topic string) bool {
	switch topic {
	case TopicOrderConfirmation, TopicPaymentFailed, TopicOrderRefunded, TopicPartialRefund, TopicRefundApology, TopicOrderShipped:
		return true
	}
	return false
}

// Topics of team alerts.
const (
	TopicDisputeOpened     = "dispute_opened"
	TopicDisputeClosed     = "dispute_closed"
	TopicOversold          = "order_oversold"
	TopicPaymentMismatch   = "order_payment_mismatch"
	TopicDeadLetter        = "event_dead_letter"
	TopicSignatureFailures = "signature_failures"
	TopicSilence           = "no_events"
	TopicEndpointProblem   = "stripe_endpoint"
	TopicDeliveryFailed    = "delivery_failed"
	TopicFraudWarning      = "fraud_warning" // a card issuer warned of fraud on an order's payment
	TopicPayoutFailed      = "payout_failed" // a payout to the shop's bank failed
	TopicTest              = "test"          // caisse notify test
)

// Topics of the CMS and of the shop's own webhooks.
const (
	TopicAvailability = "product_availability" // Sanity: the product's availability at send time
	// Outbound webhook types are the topics of the webhook channel:
	// order.paid, order.payment_failed, order.refunded, …, product.availability_changed.
)

// Delivery is one outbox row: one message, on one channel, to one recipient,
// written in the transaction of the change that causes it. Its ID is the
// idempotency key the recipient sees: the email's Message-ID, Sanity's
// transactionId, the outbound webhook-id.
type Delivery struct {
	ID      string  `json:"id"`
	Channel Channel `json:"channel"`
	// Topic says what the message is about (see the Topic constants, or an
	// outbound webhook type such as order.paid).
	Topic string `json:"topic"`
	// Recipient is who receives it: the customer's address (once the email
	// is sent; it is read from the order then), an artist's or a team
	// address, "slack", or the shop endpoint's address without its query.
	// Never a secret.
	Recipient string `json:"recipient"`
	OrderID   string `json:"order_id"`
	ProductID string `json:"product_id"`
	// EventID is the Stripe event that caused it, "" when none did.
	EventID       string         `json:"event_id"`
	Status        DeliveryStatus `json:"status"`
	Attempts      int            `json:"attempts"`
	LastError     string         `json:"last_error"`
	CreatedAt     time.Time      `json:"created_at"`
	DeliveredAt   *time.Time     `json:"delivered_at"`
	NextAttemptAt *time.Time     `json:"next_attempt_at"`
	// Payload is what the rules recorded when the row was written: the
	// details the message needs beyond the order or product (a declined
	// card's message, a dispute's reason, an alert's text).
	Payload map[string]any `json:"-"`
}

// Notice is what a sender needs to deliver one row, read when it is sent.
type Notice struct {
	Delivery Delivery
	// Order is the order the delivery is about, as the admin API shows it
	// now; nil when it is about none.
	Order *Order
	// Product is the product the delivery is about, as the admin API shows
	// it now; nil when it is about none.
	Product *Product
	// ItemNames are the names of the order's products in the catalogue
	// now, by product id, for lines that kept none.
	ItemNames map[string]string
	// CheckoutURL is the Stripe page where the customer pays the order's
	// caisse checkout, while it is open; "" otherwise.
	CheckoutURL string
	// StripeCustomer is the Stripe customer (cus_…) the order's payment
	// names, for a customer email: its email is the address when no event
	// brought one.
	StripeCustomer string
	// Group holds the other rows of the same topic and recipient sent in this
	// one message (alerts are grouped, so a storm of one cause is one message
	// with a count). Count is 1 + len(Group).
	Group []Delivery
	// ShopName is the shop's name (CAISSE_SHOP_NAME).
	ShopName string
}

// Count is how many rows the notice stands for.
func (n Notice) Count() int { return 1 + len(n.Group) }

// Sender delivers the notices of one channel. Send returns nil once the
// recipient has the message, including when it had it already (a resend
// after a crash is recognised by the delivery's ID). Any other outcome is an
// error; a *DeliveryError says whether and when to try again.
type Sender interface {
	Send(ctx context.Context, n Notice) error
}

// DeliveryError is a failed send that tells the dispatcher what to do next.
// An error of another type is retried with the usual backoff.
type DeliveryError struct {
	// Message says what went wrong, for the owner: never a secret.
	Message string
	// Permanent means trying again cannot help (a refused token, an
	// endpoint gone for good): the row is failed at once.
	Permanent bool
	// RetryAfter is how long the recipient asked to wait (429 or 503 with
	// Retry-After); 0 for the usual backoff. It implies Wait.
	RetryAfter time.Duration
	// Wait means the recipient is there and asked caisse to wait (429 Too
	// Many Requests, 503 Service Unavailable), with or without a
	// Retry-After: not a failed attempt. The row waits at least its usual
	// backoff, its attempts unchanged.
	Wait bool
	// Gone means the recipient is gone for good (an endpoint answering 410):
	// nothing more is sent to it, and the team is told. Gone implies Permanent.
	Gone bool
	// Action, when set, says what the owner can do about it ("set
	// CAISSE_SANITY_TOKEN to …"): the error's Fix.
	Action string
}

// Error returns what went wrong and, when it says, what to do about it.
func (e *DeliveryError) Error() string {
	if e.Action != "" {
		return e.Message + ": " + e.Action
	}
	return e.Message
}

// Fix returns what the owner can do about it, "" when it does not say.
func (e *DeliveryError) Fix() string { return e.Action }

// Do returns e saying what the owner can do about it.
func (e *DeliveryError) Do(action string) *DeliveryError {
	e.Action = action
	return e
}

// Retryf returns a DeliveryError to retry with the usual backoff.
func Retryf(format string, args ...any) *DeliveryError {
	return &DeliveryError{Message: fmt.Sprintf(format, args...)}
}

// Permanentf returns a DeliveryError that fails the row at once.
func Permanentf(format string, args ...any) *DeliveryError {
	return &DeliveryError{Message: fmt.Sprintf(format, args...), Permanent: true}
}

// AsDeliveryError returns err as a *DeliveryError, or nil.
func AsDeliveryError(err error) *DeliveryError {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de
	}
	return nil
}

// DeliveryFilter selects deliveries in a list.
type DeliveryFilter struct {
	Status  DeliveryStatus
	Channel Channel
	OrderID string
	Page
}

// Normalize checks the filter's status, channel and page.
func (f *DeliveryFilter) Normalize() error {
	if f.Status != "" && !slices.Contains(DeliveryStatuses, f.Status) {
		return Errorf(EINVALID, "unknown delivery status %q: use pending, delivered, failed or skipped", quoteShort(string(f.Status)))
	}
	if f.Channel != "" && !slices.Contains(Channels, f.Channel) {
		return Errorf(EINVALID, "unknown channel %q: use email, alert, sanity, webhook or stripe", quoteShort(string(f.Channel)))
	}
	return f.Page.Normalize()
}

// DeliveryService lists deliveries and sends failed ones again.
type DeliveryService interface {
	FindDelivery(ctx context.Context, id string) (*Delivery, error)
	// FindDeliveries lists deliveries, newest first.
	FindDeliveries(ctx context.Context, filter DeliveryFilter) ([]*Delivery, bool, error)
	// RetryDelivery sends a failed or skipped delivery again, its attempts
	// counted from zero.
	RetryDelivery(ctx context.Context, id string) (*Delivery, error)
	// RetryFailedDeliveries sends every failed delivery again and returns
	// their ids.
	RetryFailedDeliveries(ctx context.Context) ([]string, error)
}

// Recipients are who the outbox writes rows for, from the configuration:
// rows are written for the channels that are set up. A customer email is
// always recorded, skipped at once when there is no SMTP, so the owner sees
// that the buyer was not told.
type Recipients struct {
	// Email is true when SMTP is set up (CAISSE_SMTP_URL).
	Email bool
	// Alerts are the team's recipients: RecipientSlack for
	// CAISSE_ALERT_WEBHOOK_URL, and each address of CAISSE_ALERT_EMAIL.
	Alerts []string
	// Sanity is true when the Sanity CMS is set up.
	Sanity bool
	// Webhooks are the shop's endpoints (CAISSE_NOTIFY_URLS), as shown: each
	// URL without its query.
	Webhooks []string
	// AlertDelay is how long an alert waits before it is sent, and how long
	// alerts of one cause must have been quiet: a storm goes out as one
	// message with a count.
	AlertDelay time.Duration
	// EmailDelay is how long a customer email waits before it is sent: the
	// events about one payment come within moments of each other, and the
	// session's (with the customer's language) may come after the payment
	// intent's.
	EmailDelay time.Duration
}

// RecipientSlack names the Slack-compatible webhook among alert recipients.
const RecipientSlack = "slack"

// NoSMTP is the reason a customer email is skipped when there is no SMTP.
const NoSMTP = "no email was sent: CAISSE_SMTP_URL is not set"

// DeliveryID is the id of the delivery written under key: what the
// recipient sees as the idempotency key (Message-ID, transactionId,
// webhook-id). Made of letters, digits and "_", whatever the key holds.
func DeliveryID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "dlv_" + hex.EncodeToString(sum[:12])
}

// OutboxRow is one row a message is written as: one per recipient.
type OutboxRow struct {
	// Message is the message the row delivers.
	Message *OutboxMessage
	// Key makes the row unique: the message's key, followed by
	// ":recipient" on channels with several recipients. A row whose key
	// exists is not written again.
	Key string
	// Recipient is who the row goes to; "" for a customer email, whose
	// address is read from the order when it is sent.
	Recipient string
	// Status is pending, or skipped when the channel cannot send it.
	Status DeliveryStatus
	// LastError says why a skipped row is skipped.
	LastError string
	// Due is when the row is first tried.
	Due time.Time
}

// Rows fans a message written at now out to the recipients of its channel:
// the rows to write for it, none when its channel is not set up.
func (r Recipients) Rows(now time.Time, m *OutboxMessage) ([]OutboxRow, error) {
	var rows []OutboxRow
	switch m.Channel {
	case ChannelEmail:
		// A customer email names no recipient: the dispatcher reads the
		// address from the order when it sends it, and waits for one.
		row := OutboxRow{Message: m, Key: m.Key, Recipient: m.Recipient, Status: DeliveryPending, Due: now.Add(r.EmailDelay)}
		if !r.Email {
			row.Status, row.LastError = DeliverySkipped, NoSMTP
		}
		rows = append(rows, row)
	case ChannelAlert:
		for _, to := range r.Alerts {
			rows = append(rows, OutboxRow{Message: m, Key: m.Key + ":" + to, Recipient: to, Status: DeliveryPending, Due: now.Add(r.AlertDelay)})
		}
	case ChannelSanity:
		if r.Sanity {
			rows = append(rows, OutboxRow{Message: m, Key: m.Key, Recipient: "sanity", Status: DeliveryPending, Due: now})
		}
	case ChannelWebhook:
		for _, to := range r.Webhooks {
			rows = append(rows, OutboxRow{Message: m, Key: m.Key + ":" + to, Recipient: to, Status: DeliveryPending, Due: now})
		}
	case ChannelStripe:
		rows = append(rows, OutboxRow{Message: m, Key: m.Key, Recipient: "stripe", Status: DeliveryPending, Due: now})
	default:
		return nil, fmt.Errorf("error writing outbox message %s: no channel %q", m.Key, m.Channel)
	}
	return rows, nil
}
