// Package outbox delivers caisse's outbox: it claims the rows that are due,
// hands each to its channel's caisse.Sender outside any transaction that
// applies events, and records what became of it, retrying with backoff until
// the row is delivered or failed for good. Each channel is sent on by its
// own goroutines, so a slow or dead channel delays only itself; several
// instances share the work through leases, so no row is sent by two at once.
package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/caisse/caisse"
)

// Store is what the dispatcher needs of caisse's store.
type Store interface {
	// DueChannels returns the channels that have rows to send now.
	DueChannels(ctx context.Context, now time.Time) ([]caisse.Channel, error)
	// ClaimDeliveries leases up to limit due rows of a channel until
	// leaseUntil and returns them.
	ClaimDeliveries(ctx context.Context, channel caisse.Channel, now, leaseUntil time.Time, limit int) ([]*caisse.Delivery, error)
	// FinishDelivery records one attempt of a claimed row, and the
	// recipient it was sent to when the row named none before ("": kept).
	FinishDelivery(ctx context.Context, id string, status caisse.DeliveryStatus, lastError, recipient string, next time.Time) error
	// PostponeDelivery hands a claimed row back, to be tried at next, and
	// says why in its last error, without counting an attempt: nothing was
	// sent (a customer email waits for the address).
	PostponeDelivery(ctx context.Context, id, why string, next time.Time) error
	// FailRecipient fails the pending rows to a recipient gone for good.
	FailRecipient(ctx context.Context, channel caisse.Channel, recipient, reason string) (int64, error)
	// Notice reads what a row is about, as it is now.
	Notice(ctx context.Context, d caisse.Delivery) (caisse.Notice, error)
	// WriteOutbox writes messages (the dispatcher's own alerts).
	WriteOutbox(ctx context.Context, msgs ...caisse.OutboxMessage) error
	// PruneDeliveries deletes delivered and skipped rows older than before.
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)
	// OutboxWake is signalled when this instance wrote rows to send.
	OutboxWake() <-chan struct{}
}

// Backoff is how long a row waits after each failed attempt: about 5 s,
// 5 min, 30 min, 2 h, 5 h, 10 h and 10 h. After the attempt that follows the
// last wait, the row is failed.
var Backoff = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// DefaultAddressWait is how long a customer email waits for an address
// unless told otherwise.
const DefaultAddressWait = time.Hour

// sendTimeout bounds one send, however the sender is built.
const sendTimeout = 30 * time.Second

// maxAlertsClaimed bounds the alerts claimed at once, which are grouped by
// topic into messages.
const maxAlertsClaimed = 1000

// maxRetryAfter bounds how long a recipient's Retry-After may hold a row.
const maxRetryAfter = 12 * time.Hour

// Dispatcher sends the outbox's rows.
type Dispatcher struct {
	Store Store
	// Sender returns the sender of a row's channel and recipient, or nil when
	// that channel or recipient is not set up (any more): the row is then
	// skipped.
	Sender func(d caisse.Delivery) caisse.Sender
	// ShopName is given to every sender (CAISSE_SHOP_NAME).
	ShopName string
	Logger   *slog.Logger
	// Now returns the current time.
	Now func() time.Time
	// Lease is how long a claimed row is this instance's: one left by an
	// instance that died is sent again after it (CAISSE_RESCUE_AFTER).
	Lease time.Duration
	// Backoff is the wait after each failed attempt (nil: Backoff).
	Backoff []time.Duration
	// PerChannel is how many rows of one channel are sent at once.
	PerChannel int
	// Poll is how often the dispatcher looks for rows that came due, or
	// that another instance wrote.
	Poll time.Duration
	// Retention is how long delivered and skipped rows are kept (0: for ever).
	Retention time.Duration
	// AddressWait is how long a customer email waits for the customer's
	// address, when no event has brought one yet, before it is skipped
	// (CAISSE_ADDRESS_WAIT; 0: DefaultAddressWait). The event that brings
	// the address wakes it.
	AddressWait time.Duration
	// CustomerEmail, when set (a Stripe secret key is), reads the email of
	// the Stripe customer an order's payment names: the address of a
	// customer email when no event brought one.
	CustomerEmail func(ctx context.Context, customerID string) (string, error)
	// Observe, when set, sees every attempt: the row, its new status and the
	// sender's error. Metrics and tests use it.
	Observe func(d caisse.Delivery, status caisse.DeliveryStatus, err error)

	mu      sync.Mutex
	busy    map[caisse.Channel]bool
	stop    chan struct{}
	stopped sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

// Start starts delivering until Stop.
func (d *Dispatcher) Start(ctx context.Context) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Backoff == nil {
		d.Backoff = Backoff
	}
	d.PerChannel = max(d.PerChannel, 1)
	if d.Poll <= 0 {
		d.Poll = 500 * time.Millisecond
	}
	if d.Lease <= 0 {
		d.Lease = time.Minute
	}
	if d.AddressWait <= 0 {
		d.AddressWait = DefaultAddressWait
	}
	d.busy = map[caisse.Channel]bool{}
	d.stop = make(chan struct{})
	// Sends outlive the caller's context, which ends at SIGTERM: Stop lets
	// the sends in flight finish.
	d.ctx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	d.stopped.Add(1)
	go d.loop()
}

// Stop stops looking for rows and waits for the sends in flight; once ctx
// ends, it cancels them (their rows are sent again after their lease).
func (d *Dispatcher) Stop(ctx context.Context) {
	if d.stop == nil {
		return
	}
	close(d.stop)
	done := make(chan struct{})
	go func() { d.stopped.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		d.cancel()
		<-done
	}
	d.cancel()
}

func (d *Dispatcher) loop() {
	defer d.stopped.Done()
	tick := time.NewTicker(d.Poll)
	defer tick.Stop()
	var pruned time.Time
	for {
		if d.Retention > 0 && d.Now().Sub(pruned) > time.Hour {
			pruned = d.Now()
			if n, err := d.Store.PruneDeliveries(d.ctx, pruned.Add(-d.Retention)); err != nil {
				d.Logger.Warn("could not prune old deliveries", "error", err.Error())
			} else if n > 0 {
				d.Logger.Info("old deliveries pruned", "deleted", n, "retention", d.Retention.String())
			}
		}
		d.dispatch()
		select {
		case <-d.stop:
			return
		case <-tick.C:
		case <-d.Store.OutboxWake():
		}
	}
}

// dispatch starts a sender goroutine for each channel with rows due that
// has none running.
func (d *Dispatcher) dispatch() {
	due, err := d.Store.DueChannels(d.ctx, d.Now())
	if err != nil {
		d.Logger.Warn("could not look for deliveries to send; trying again shortly", "error", err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ch := range due {
		if d.busy[ch] {
			continue
		}
		d.busy[ch] = true
		d.stopped.Add(1)
		go d.drain(ch)
	}
}

// drain sends a channel's due rows until none is left.
func (d *Dispatcher) drain(ch caisse.Channel) {
	defer d.stopped.Done()
	defer func() {
		d.mu.Lock()
		d.busy[ch] = false
		d.mu.Unlock()
	}()
	for {
		select {
		case <-d.stop:
			return
		default:
		}
		now := d.Now()
		limit := 4 * d.PerChannel
		if ch == caisse.ChannelAlert {
			// Every alert that is due, so that a storm of one cause goes out
			// as one message.
			limit = maxAlertsClaimed
		}
		rows, err := d.Store.ClaimDeliveries(d.ctx, ch, now, now.Add(d.Lease), limit)
		if err != nil {
			d.Logger.Warn("could not claim deliveries; trying again shortly", "channel", string(ch), "error", err.Error())
			return
		}
		if len(rows) == 0 {
			return
		}
		sem := make(chan struct{}, d.PerChannel)
		var wg sync.WaitGroup
		for _, group := range groups(rows) {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				d.send(group)
			}()
		}
		wg.Wait()
	}
}

// groups splits claimed rows into messages: each row alone, but alerts of
// one topic to one recipient together, so a storm of one cause is one
// message with a count; and a product's Sanity updates together, since each
// sends the product's availability as it is now: two of them in flight at
// once could land in the wrong order and leave a stale value.
func groups(rows []*caisse.Delivery) [][]*caisse.Delivery {
	var out [][]*caisse.Delivery
	index := map[string]int{}
	for _, r := range rows {
		var k string
		switch r.Channel {
		case caisse.ChannelAlert:
			k = "alert\x00" + r.Topic + "\x00" + r.Recipient
		case caisse.ChannelSanity:
			k = "sanity\x00" + r.ProductID
		default:
			out = append(out, []*caisse.Delivery{r})
			continue
		}
		if i, ok := index[k]; ok {
			out[i] = append(out[i], r)
			continue
		}
		index[k] = len(out)
		out = append(out, []*caisse.Delivery{r})
	}
	return out
}

// send delivers one message (one row, or a group of alert rows) and records
// the outcome on each of its rows.
func (d *Dispatcher) send(group []*caisse.Delivery) {
	first := *group[0]
	sender := d.Sender(first)
	if sender == nil {
		for _, r := range group {
			d.finish(r, caisse.DeliverySkipped, fmt.Sprintf("not sent: the %s channel is not set up (any more) for %s", r.Channel, r.Recipient), time.Time{}, nil)
		}
		return
	}
	n, err := d.Store.Notice(d.ctx, first)
	if err != nil {
		d.retry(group, caisse.Retryf("could not read what delivery %s is about: %v", first.ID, err))
		return
	}
	n.ShopName = d.ShopName
	if first.Channel == caisse.ChannelEmail && caisse.CustomerTopic(first.Topic) && first.Recipient == "" &&
		first.Payload[caisse.PayloadPayerOnly] == true {
		d.finish(&first, caisse.DeliverySkipped, "no email was sent: no address is known for who made this payment, and the order's customer is never told of a payment that may not be theirs",
			time.Time{}, nil)
		return
	}
	if first.Channel == caisse.ChannelEmail && caisse.CustomerTopic(first.Topic) && first.Recipient == "" {
		// Who the customer is, as the order knows it now.
		if n.Order != nil {
			n.Delivery.Recipient = n.Order.CustomerEmail
		}
		if n.Delivery.Recipient == "" && n.StripeCustomer != "" && d.CustomerEmail != nil {
			// The Stripe customer's own email, as Stripe has it now.
			ctx, cancel := context.WithTimeout(d.ctx, sendTimeout)
			email, err := d.CustomerEmail(ctx, n.StripeCustomer)
			cancel()
			if err != nil {
				d.retry(group, caisse.Retryf("could not read the email of Stripe customer %s: %v", n.StripeCustomer, err))
				return
			}
			if caisse.ValidEmail(email) {
				n.Delivery.Recipient = email
			}
		}
		if n.Delivery.Recipient == "" {
			d.awaitAddress(&first)
			return
		}
	}
	for _, r := range group[1:] {
		n.Group = append(n.Group, *r)
	}
	ctx, cancel := context.WithTimeout(d.ctx, sendTimeout)
	err = sender.Send(ctx, n)
	cancel()
	if err == nil {
		for _, r := range group {
			d.finishTo(r, caisse.DeliveryDelivered, "", n.Delivery.Recipient, time.Time{}, nil)
		}
		return
	}
	d.retry(group, err)
}

// awaitAddress puts a customer email whose address no event has brought yet
// back to wait for it, until AddressWait after it was written: an event
// that brings the address wakes it at once. Waiting is not an attempt.
// Once the wait is over, the email is skipped, saying why.
func (d *Dispatcher) awaitAddress(r *caisse.Delivery) {
	until := r.CreatedAt.Add(d.AddressWait)
	if d.Now().Before(until) {
		why := "waiting for the customer's address: no event has brought one yet; it goes out as soon as one does, or is skipped at " +
			until.UTC().Format(time.RFC3339)
		if err := d.Store.PostponeDelivery(d.ctx, r.ID, why, until); err != nil {
			d.Logger.Error("could not put an email back to wait for its address; it is tried again after its lease", "delivery", r.ID, "error", err.Error())
		}
		return
	}
	d.finish(r, caisse.DeliverySkipped, fmt.Sprintf("no email was sent: no address is known for the customer (none came in the %s caisse waited for one, CAISSE_ADDRESS_WAIT)",
		d.AddressWait), time.Time{}, nil)
}

// retry records a failed attempt: the rows wait their backoff (or what the
// recipient asked for), or fail for good.
func (d *Dispatcher) retry(group []*caisse.Delivery, err error) {
	de := caisse.AsDeliveryError(err)
	if de == nil {
		de = caisse.Retryf("%v", err)
	}
	for _, r := range group {
		attempt := r.Attempts + 1 // this one
		switch {
		case de.Permanent || de.Gone || attempt > len(d.Backoff):
			d.finish(r, caisse.DeliveryFailed, de.Message, time.Time{}, err)
			d.failedForGood(r, de)
		default:
			wait := d.Backoff[attempt-1]
			// A little jitter, so rows that failed together do not all come
			// back at the same moment.
			wait += time.Duration(rand.Int64N(int64(wait)/10 + 1))
			if de.RetryAfter > 0 {
				wait = min(de.RetryAfter, maxRetryAfter)
			}
			d.finish(r, caisse.DeliveryPending, de.Message, d.Now().Add(wait), err)
		}
	}
}

func (d *Dispatcher) finish(r *caisse.Delivery, status caisse.DeliveryStatus, lastError string, next time.Time, cause error) {
	d.finishTo(r, status, lastError, "", next, cause)
}

// finishTo records an attempt and, for a row that named no recipient (a
// customer email), who it went to.
func (d *Dispatcher) finishTo(r *caisse.Delivery, status caisse.DeliveryStatus, lastError, to string, next time.Time, cause error) {
	if r.Recipient != "" {
		to = ""
	}
	if err := d.Store.FinishDelivery(d.ctx, r.ID, status, lastError, to, next); err != nil {
		// The row stays leased, and is sent again when its lease ends.
		d.Logger.Error("could not record a delivery; it is sent again after its lease", "delivery", r.ID, "error", err.Error())
		return
	}
	attrs := []any{"delivery", r.ID, "channel", string(r.Channel), "topic", r.Topic, "order_id", r.OrderID,
		"attempt", r.Attempts + 1, "outcome", string(status)}
	switch status {
	case caisse.DeliveryDelivered:
		d.Logger.Info("delivered", attrs...)
	case caisse.DeliveryPending:
		d.Logger.Warn("delivery failed, will retry", append(attrs, "error", lastError, "next_attempt_at", next.UTC().Format(time.RFC3339))...)
	case caisse.DeliveryFailed:
		d.Logger.Error("delivery failed for good: fix the cause, then retry it (caisse outbox retry "+r.ID+")", append(attrs, "error", lastError)...)
	default:
		d.Logger.Info("delivery skipped: "+lastError, attrs...)
	}
	if d.Observe != nil {
		d.Observe(*r, status, cause)
	}
}

// failedForGood tells the team a delivery failed for good (never about an
// alert: an alert about a failed alert could loop), and stops sending to a
// recipient that is gone.
func (d *Dispatcher) failedForGood(r *caisse.Delivery, de *caisse.DeliveryError) {
	if de.Gone {
		reason := "not sent: " + r.Recipient + " is gone (" + de.Message + "); remove it from the configuration, or retry once it is back"
		if n, err := d.Store.FailRecipient(d.ctx, r.Channel, r.Recipient, reason); err != nil {
			d.Logger.Error("could not stop the deliveries to a recipient that is gone", "recipient", r.Recipient, "error", err.Error())
		} else if n > 0 {
			d.Logger.Error("a recipient is gone: its pending deliveries are failed", "recipient", r.Recipient, "failed", n)
		}
	}
	if r.Channel == caisse.ChannelAlert {
		return
	}
	fields := map[string]string{"Delivery": r.ID, "Channel": string(r.Channel), "Topic": r.Topic, "To": r.Recipient,
		"Attempts": strconv.Itoa(r.Attempts + 1)}
	if r.OrderID != "" {
		fields["Order"] = r.OrderID
	}
	key := r.ID
	if de.Gone {
		key = "gone:" + string(r.Channel) + ":" + r.Recipient
	}
	err := d.Store.WriteOutbox(d.ctx, caisse.AlertMessage(key, caisse.TopicDeliveryFailed, r.OrderID, caisse.Alert{
		Title: fmt.Sprintf("A %s delivery failed for good", r.Channel),
		Text: fmt.Sprintf("caisse could not deliver %s (%s) to %s: %s. Fix the cause, then retry it: caisse outbox retry %s.",
			r.ID, r.Topic, r.Recipient, de.Message, r.ID),
		Fields: fields,
	}))
	if err != nil {
		d.Logger.Error("could not write the alert about a failed delivery", "delivery", r.ID, "error", err.Error())
	}
}
