// Package outbox delivers caisse's outbox: it claims the rows that are due,
// hands each to its channel's caisse.Sender outside any transaction that
// applies events, and records what became of it, retrying with backoff until
// the row is delivered or failed for good. Each recipient has its own lane
// (each shop endpoint, each alert recipient, the mail server, Sanity), so a
// slow or dead one delays only itself; several instances share the work
// through leases, which an instance keeps alive while it sends, so no row is
// sent by two at once and a row is taken over only from an instance that is
// gone.
//
// It must not decide who is told of what: the rows it sends were written when
// the events were applied.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/caisse/caisse"
)

// Store is what the dispatcher needs of caisse's store.
type Store interface {
	// DueChannels returns the channels that have rows to send now, leaving
	// out the rows to the recipients in busy (by channel).
	DueChannels(ctx context.Context, now time.Time, busy map[caisse.Channel][]string) ([]caisse.Channel, error)
	// ClaimDeliveries leases up to limit due rows of a channel until
	// leaseUntil and returns them, leaving out the rows to the recipients
	// in busy.
	ClaimDeliveries(ctx context.Context, channel caisse.Channel, now, leaseUntil time.Time, limit int, busy []string) ([]*caisse.Delivery, error)
	// KeepLeases extends to until the leases of the rows held (by the
	// lease each was last given) while they still have that lease, and
	// returns the rows it extended.
	KeepLeases(ctx context.Context, held map[time.Time][]string, until time.Time) (map[string]bool, error)
	// FinishDelivery records one attempt of a claimed row, and the
	// recipient it was sent to when the row named none before ("": kept).
	FinishDelivery(ctx context.Context, id string, status caisse.DeliveryStatus, lastError, recipient string, next time.Time) error
	// PostponeDelivery hands a claimed row back, to be tried at next, and
	// says why in its last error, without counting an attempt: nothing was
	// sent (a customer email waits for the address), or the recipient asked
	// caisse to wait (429, 503).
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

// HeartbeatsPerLease is how many times per lease an instance extends the
// leases of the rows it holds: every Lease/3 (20 s at the default
// CAISSE_RESCUE_AFTER of 1m). A beat that cannot reach the database is tried
// again at the next; a row whose lease would end within two beats has its
// send cancelled, at least a third of the lease before the lease ends, so
// no other instance takes over a row this one is still sending.
const HeartbeatsPerLease = 3

// errLeaseLost ends a send whose row another instance took over: its lease
// had ended (this instance was stalled for longer than the lease).
var errLeaseLost = errors.New("the delivery was taken over by another instance")

// errLeaseUnsure ends a send whose lease could not be kept: the database did
// not answer, and another instance may take the row over once it ends.
var errLeaseUnsure = errors.New("the lease of the delivery could not be kept: the database did not answer")

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

	mu       sync.Mutex
	claiming map[caisse.Channel]bool // a claim runs for the channel
	lanes    map[lane]*laneState     // the lanes with messages in them
	held     map[string]*held        // the rows this instance holds, by id
	freed    chan struct{}           // a send ended: there is room in its lane
	stop     chan struct{}
	stopped  sync.WaitGroup // the loop, the claims and the sends
	beatStop chan struct{}
	beating  sync.WaitGroup
	ctx      context.Context
	cancel   context.CancelFunc
}

// lane is where a recipient's messages wait their turn: one per channel and
// recipient (each shop endpoint, each alert recipient, Sanity), and one for
// every email, which all go out through one mail server. A lane sends
// PerChannel messages at once; a slow or dead recipient fills its own lane
// only.
type lane struct {
	channel   caisse.Channel
	recipient string
}

func laneOf(r *caisse.Delivery) lane {
	if r.Channel == caisse.ChannelEmail {
		return lane{channel: r.Channel}
	}
	return lane{channel: r.Channel, recipient: r.Recipient}
}

// laneState is what a lane holds: the messages being sent, and those
// claimed that wait for a free sender.
type laneState struct {
	sending int
	waiting []*message
}

// message is one message to send: one row, or a group (see groups), with the
// context of its send, which the heartbeat cancels when the rows' lease
// cannot be kept.
type message struct {
	rows   []*caisse.Delivery
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// held is a row this instance holds: the lease it last gave the row, and
// the message it belongs to.
type held struct {
	until time.Time
	msg   *message
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
	d.claiming = map[caisse.Channel]bool{}
	d.lanes = map[lane]*laneState{}
	d.held = map[string]*held{}
	d.freed = make(chan struct{}, 1)
	d.stop = make(chan struct{})
	d.beatStop = make(chan struct{})
	// Sends outlive the caller's context, which ends at SIGTERM: Stop lets
	// the sends in flight finish.
	d.ctx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	d.stopped.Add(1)
	go d.loop()
	d.beating.Add(1)
	go d.heartbeat()
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
	// The leases are kept until the last send has ended.
	close(d.beatStop)
	d.beating.Wait()
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
		case <-d.freed:
		}
	}
}

// full reports whether a lane takes no more messages for now: it sends as
// many as it may at once, or has claimed messages waiting.
func (d *Dispatcher) full(l lane) bool {
	st := d.lanes[l]
	return st != nil && (st.sending >= d.PerChannel || len(st.waiting) > 0)
}

// busy returns, by channel, the recipients whose lanes are full, and the
// channels that are one lane (email) and full. d.mu is held.
func (d *Dispatcher) busy() (map[caisse.Channel][]string, map[caisse.Channel]bool) {
	recipients := map[caisse.Channel][]string{}
	whole := map[caisse.Channel]bool{}
	for l := range d.lanes {
		if !d.full(l) {
			continue
		}
		if l.channel == caisse.ChannelEmail {
			whole[l.channel] = true
			continue
		}
		recipients[l.channel] = append(recipients[l.channel], l.recipient)
	}
	return recipients, whole
}

// dispatch starts a claim for each channel with rows due in a lane that has
// room, unless one runs already. The rows of full lanes are not looked at:
// one statement finds every channel with work.
func (d *Dispatcher) dispatch() {
	d.mu.Lock()
	busy, whole := d.busy()
	d.mu.Unlock()
	due, err := d.Store.DueChannels(d.ctx, d.Now(), busy)
	if err != nil {
		d.Logger.Warn("could not look for deliveries to send; trying again shortly", "error", err.Error())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ch := range due {
		if d.claiming[ch] || whole[ch] {
			continue
		}
		d.claiming[ch] = true
		d.stopped.Add(1)
		go d.claim(ch)
	}
}

// claim claims a channel's due rows for the lanes that have room, and puts
// each message in its lane, until no more is due there. It never waits for
// a send: a lane that fills up is left out of the next claim.
func (d *Dispatcher) claim(ch caisse.Channel) {
	defer d.stopped.Done()
	defer func() {
		d.mu.Lock()
		d.claiming[ch] = false
		d.mu.Unlock()
	}()
	for {
		select {
		case <-d.stop:
			return
		default:
		}
		d.mu.Lock()
		busy, whole := d.busy()
		limit := 4 * d.PerChannel
		switch ch {
		case caisse.ChannelEmail:
			// One lane: claim what it can send now, and leave the rest to
			// the other instances.
			limit = d.PerChannel
			if st := d.lanes[lane{channel: ch}]; st != nil {
				limit -= st.sending
			}
		case caisse.ChannelAlert:
			// Every alert that is due, so that a storm of one cause goes out
			// as one message.
			limit = maxAlertsClaimed
		}
		d.mu.Unlock()
		if whole[ch] || limit <= 0 {
			return
		}
		now := d.Now()
		until := now.Add(d.Lease)
		rows, err := d.Store.ClaimDeliveries(d.ctx, ch, now, until, limit, busy[ch])
		if err != nil {
			d.Logger.Warn("could not claim deliveries; trying again shortly", "channel", string(ch), "error", err.Error())
			return
		}
		d.mu.Lock()
		for _, group := range groups(rows) {
			ctx, cancel := context.WithCancelCause(d.ctx)
			m := &message{rows: group, ctx: ctx, cancel: cancel}
			for _, r := range group {
				d.held[r.ID] = &held{until: until, msg: m}
			}
			l := laneOf(group[0])
			st := d.lanes[l]
			if st == nil {
				st = &laneState{}
				d.lanes[l] = st
			}
			st.waiting = append(st.waiting, m)
			d.start(l)
		}
		d.mu.Unlock()
		if len(rows) < limit {
			return
		}
	}
}

// start sends a lane's waiting messages while it has room. Once Stop is
// called, it starts none: their rows are left for their lease to end. d.mu
// is held.
func (d *Dispatcher) start(l lane) {
	st := d.lanes[l]
	select {
	case <-d.stop:
		for _, m := range st.waiting {
			m.cancel(nil)
			for _, r := range m.rows {
				delete(d.held, r.ID)
			}
		}
		st.waiting = nil
		if st.sending == 0 {
			delete(d.lanes, l)
		}
		return
	default:
	}
	for st.sending < d.PerChannel && len(st.waiting) > 0 {
		m := st.waiting[0]
		st.waiting = st.waiting[1:]
		st.sending++
		d.stopped.Add(1)
		go func() {
			defer d.stopped.Done()
			d.send(m)
			m.cancel(nil)
			d.mu.Lock()
			for _, r := range m.rows {
				delete(d.held, r.ID)
			}
			st.sending--
			if st.sending == 0 && len(st.waiting) == 0 {
				delete(d.lanes, l)
			} else {
				d.start(l)
			}
			d.mu.Unlock()
			select {
			case d.freed <- struct{}{}:
			default:
			}
		}()
	}
}

// heartbeat keeps the leases of the rows this instance holds alive, with
// one statement every Lease/HeartbeatsPerLease for all of them, until Stop
// has seen the last send end.
func (d *Dispatcher) heartbeat() {
	defer d.beating.Done()
	every := d.Lease / HeartbeatsPerLease
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-d.beatStop:
			return
		case <-tick.C:
		}
		d.beat(every)
	}
}

// beat extends the leases of the rows held. A row whose lease another
// instance took over has its send cancelled; so has one whose lease could
// not be extended and would end within two beats: a send is trusted to
// be the only one only while its lease is known to be kept.
func (d *Dispatcher) beat(every time.Duration) {
	d.mu.Lock()
	leases := map[time.Time][]string{}
	for id, h := range d.held {
		leases[h.until] = append(leases[h.until], id)
	}
	d.mu.Unlock()
	if len(leases) == 0 {
		return
	}
	now := d.Now()
	until := now.Add(d.Lease)
	kept, err := d.Store.KeepLeases(d.ctx, leases, until)
	if err != nil {
		d.Logger.Warn("could not keep the leases of the deliveries being sent; trying again shortly", "error", err.Error())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ids := range leases {
		for _, id := range ids {
			h := d.held[id]
			switch {
			case h == nil:
				// Sent and recorded meanwhile.
			case err == nil && kept[id]:
				h.until = until
			case err == nil:
				// Finished meanwhile, or taken over by another instance.
				h.msg.cancel(errLeaseLost)
			case !h.until.After(now.Add(2 * every)):
				// Stopped at least a third of the lease before it ends,
				// so the send is over before another instance may claim
				// the row.
				h.msg.cancel(errLeaseUnsure)
			}
		}
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
// the outcome on each of its rows. A send whose lease was lost records
// nothing: the row is another instance's, or will be once its lease ends.
func (d *Dispatcher) send(m *message) {
	ctx, group := m.ctx, m.rows
	if d.lost(ctx, group) {
		return
	}
	first := *group[0]
	sender := d.Sender(first)
	if sender == nil {
		for _, r := range group {
			d.finish(r, caisse.DeliverySkipped, fmt.Sprintf("not sent: the %s channel is not set up (any more) for %s", r.Channel, r.Recipient), time.Time{}, nil)
		}
		return
	}
	n, err := d.Store.Notice(ctx, first)
	if err != nil {
		if d.lost(ctx, group) {
			return
		}
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
			ctx, cancel := context.WithTimeout(ctx, sendTimeout)
			email, err := d.CustomerEmail(ctx, n.StripeCustomer)
			cancel()
			if err != nil {
				if d.lost(ctx, group) {
					return
				}
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
	sendCtx, cancel := context.WithTimeout(ctx, sendTimeout)
	err = sender.Send(sendCtx, n)
	cancel()
	if err == nil {
		// Recorded even if the lease was lost meanwhile: the recipient has it.
		for _, r := range group {
			d.finishTo(r, caisse.DeliveryDelivered, "", n.Delivery.Recipient, time.Time{}, nil)
		}
		return
	}
	if d.lost(ctx, group) {
		return
	}
	d.retry(group, err)
}

// lost reports whether the send of a message was stopped because its lease
// could not be kept, saying so. Nothing is recorded then: the row is
// another instance's now, or is sent again once its lease ends.
func (d *Dispatcher) lost(ctx context.Context, group []*caisse.Delivery) bool {
	cause := context.Cause(ctx)
	if cause != errLeaseLost && cause != errLeaseUnsure {
		return false
	}
	d.Logger.Warn("a delivery's send was stopped, and nothing recorded: "+cause.Error()+"; it is sent again once its lease ends, by this instance or another",
		"delivery", group[0].ID, "channel", string(group[0].Channel))
	return true
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

// retry records a failed attempt: the rows wait their backoff, or fail for
// good. A recipient that asked caisse to wait (429, 503) did not fail: the
// rows wait, their attempts unchanged, for what it asked and never less than
// the backoff of their next attempt (nor than a tenth of their age, so a
// recipient that keeps asking is asked about a hundred times over the
// table's total, not every second), until they are older than the backoff
// table's total: then they fail like any other.
func (d *Dispatcher) retry(group []*caisse.Delivery, err error) {
	de := caisse.AsDeliveryError(err)
	if de == nil {
		de = caisse.Retryf("%v", err)
	}
	var total time.Duration
	for _, b := range d.Backoff {
		total += b
	}
	now := d.Now()
	for _, r := range group {
		attempt := r.Attempts + 1 // this one
		asked := (de.Wait || de.RetryAfter > 0) && !de.Permanent && !de.Gone
		switch {
		case asked && now.Sub(r.CreatedAt) <= total:
			wait := max(min(de.RetryAfter, maxRetryAfter), jitter(d.Backoff[min(r.Attempts, len(d.Backoff)-1)]), now.Sub(r.CreatedAt)/10)
			d.wait(r, de.Error(), now.Add(wait), err)
		case asked:
			msg := fmt.Sprintf("%s; it has asked caisse to wait for longer than caisse retries a delivery (%s), so caisse stopped", de.Error(), total)
			d.finish(r, caisse.DeliveryFailed, msg, time.Time{}, err)
			d.failedForGood(r, &caisse.DeliveryError{Message: msg})
		case de.Permanent || de.Gone || attempt > len(d.Backoff):
			d.finish(r, caisse.DeliveryFailed, de.Error(), time.Time{}, err)
			d.failedForGood(r, de)
		default:
			d.finish(r, caisse.DeliveryPending, de.Error(), now.Add(jitter(d.Backoff[attempt-1])), err)
		}
	}
}

// jitter adds up to a tenth to a wait, so rows that failed together do not
// all come back at the same moment.
func jitter(wait time.Duration) time.Duration {
	return wait + time.Duration(rand.Int64N(int64(wait)/10+1))
}

// wait hands a row back to wait until next, as its recipient asked, without
// counting an attempt.
func (d *Dispatcher) wait(r *caisse.Delivery, why string, next time.Time, cause error) {
	if err := d.Store.PostponeDelivery(d.ctx, r.ID, why, next); err != nil {
		d.Logger.Error("could not put a delivery back to wait as its recipient asked; it is sent again after its lease", "delivery", r.ID, "error", err.Error())
		return
	}
	d.Logger.Warn("the recipient asked caisse to wait; not a failed attempt", "delivery", r.ID, "channel", string(r.Channel), "topic", r.Topic,
		"order_id", r.OrderID, "attempts", r.Attempts, "error", why, "next_attempt_at", next.UTC().Format(time.RFC3339))
	if d.Observe != nil {
		d.Observe(*r, caisse.DeliveryPending, cause)
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
		reason := "not sent: " + r.Recipient + " is gone (" + de.Error() + "); remove it from the configuration, or retry once it is back"
		if n, err := d.Store.FailRecipient(d.ctx, r.Channel, r.Recipient, reason); err != nil {
			d.Logger.Error("could not stop the deliveries to a recipient that is gone", "recipient", r.Recipient, "error", err.Error())
		} else if n > 0 {
			d.Logger.Error("a recipient is gone: its pending deliveries are failed", "recipient", r.Recipient, "failed", n)
		}
	}
	if r.Channel == caisse.ChannelAlert {
		return
	}
	key := r.ID
	if de.Gone {
		key = "gone:" + string(r.Channel) + ":" + r.Recipient
	}
	err := d.Store.WriteOutbox(d.ctx, caisse.AlertMessage(key, caisse.TopicDeliveryFailed, r.OrderID,
		caisse.DeliveryFailedAlert(r, r.Attempts+1, de.Error())))
	if err != nil {
		d.Logger.Error("could not write the alert about a failed delivery", "delivery", r.ID, "error", err.Error())
	}
}
