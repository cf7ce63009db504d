package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/database"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/poll"
	"github.com/caisse/caisse/outbox"
)

// openStore opens and migrates a store on a database (several on one url
// behave as several instances), with alerts to Slack and webhooks to two
// endpoints set up, and SMTP when email is true.
func openStore(t *testing.T, url string, email bool) *database.DB {
	t.Helper()
	s, err := database.New(url)
	if err != nil {
		t.Fatal(err)
	}
	s.Logger = slog.New(slog.DiscardHandler)
	s.Outbox = caisse.Recipients{Email: email, Alerts: []string{caisse.RecipientSlack},
		Webhooks: []string{"https://a.example/hook", "https://b.example/hook"}, Sanity: true}
	ctx := context.Background()
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// recipient is a channel's far end: it records what it gets and answers
// what the test says.
type recipient struct {
	mu       sync.Mutex
	got      []caisse.Notice
	perID    map[string]int
	inFlight map[string]int
	overlap  bool
	answer   func(n caisse.Notice, try int) error
	block    chan struct{} // when set, Send waits for it to close
	sent     chan struct{}
}

func newRecipient(answer func(n caisse.Notice, try int) error) *recipient {
	return &recipient{perID: map[string]int{}, inFlight: map[string]int{}, answer: answer, sent: make(chan struct{}, 1000)}
}

func (r *recipient) Send(ctx context.Context, n caisse.Notice) error {
	r.mu.Lock()
	id := n.Delivery.ID
	r.inFlight[id]++
	if r.inFlight[id] > 1 {
		r.overlap = true
	}
	r.perID[id]++
	try := r.perID[id]
	r.mu.Unlock()
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
		}
	}
	var err error
	if r.answer != nil {
		err = r.answer(n, try)
	}
	r.mu.Lock()
	r.inFlight[id]--
	if err == nil {
		r.got = append(r.got, n)
	}
	r.mu.Unlock()
	r.sent <- struct{}{}
	return err
}

func (r *recipient) notices() []caisse.Notice {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]caisse.Notice(nil), r.got...)
}

// dispatch starts a dispatcher on s whose every channel goes to rcpt.
func dispatch(t *testing.T, s *database.DB, rcpt caisse.Sender, edit ...func(*outbox.Dispatcher)) *outbox.Dispatcher {
	t.Helper()
	d := &outbox.Dispatcher{
		Store:      s.Store,
		Sender:     func(caisse.Delivery) caisse.Sender { return rcpt },
		Logger:     slog.New(slog.DiscardHandler),
		Lease:      time.Minute,
		Backoff:    []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond},
		PerChannel: 4,
		Poll:       10 * time.Millisecond,
		ShopName:   "Galerie",
	}
	for _, e := range edit {
		e(d)
	}
	d.Start(context.Background())
	t.Cleanup(func() { d.Stop(context.Background()) })
	return d
}

// until polls cond for a minute at most.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, time.Minute, func() error {
		if !cond() {
			return errors.New(what)
		}
		return nil
	})
}

func deliveries(t *testing.T, s *database.DB, f caisse.DeliveryFilter) []*caisse.Delivery {
	t.Helper()
	f.Limit = 1000
	l, _, err := s.FindDeliveries(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func count(t *testing.T, s *database.DB, f caisse.DeliveryFilter) int {
	return len(deliveries(t, s, f))
}

func email(key, to string) caisse.OutboxMessage {
	return caisse.OutboxMessage{Key: key, Channel: caisse.ChannelEmail, Topic: caisse.TopicOrderConfirmation, Recipient: to, OrderID: "o1"}
}

// Each row is written for the recipients that are set up, delivered once
// with its id, and recorded delivered; a customer email without SMTP is
// skipped at once, one without an address waits for one (no attempt spent)
// until CAISSE_ADDRESS_WAIT is over, then is skipped saying why.
func TestRowsAreWrittenForWhatIsSetUpAndDeliveredOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		s := openStore(t, url, true)
		ctx := context.Background()
		msgs := []caisse.OutboxMessage{
			email("m1", "buyer@example.com"),
			email("m2", ""),
			{Key: "w1", Channel: caisse.ChannelWebhook, Topic: caisse.HookOrderPaid, OrderID: "o1"},
			caisse.AlertMessage("a1", caisse.TopicOversold, "o1", caisse.Alert{Title: "t", Text: "x"}),
			{Key: "s1", Channel: caisse.ChannelSanity, Topic: caisse.TopicAvailability, ProductID: "art"},
		}
		if err := s.Store.WriteOutbox(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
		if err := s.Store.WriteOutbox(ctx, msgs...); err != nil { // written twice: one row each still
			t.Fatal(err)
		}
		all := deliveries(t, s, caisse.DeliveryFilter{})
		if len(all) != 6 { // two emails, two webhooks (one per endpoint), one alert, one Sanity update
			t.Fatalf("%d rows, want 6: %+v", len(all), all)
		}
		if skipped := deliveries(t, s, caisse.DeliveryFilter{Status: caisse.DeliverySkipped}); len(skipped) != 0 {
			t.Fatalf("skipped at once: %+v", skipped)
		}
		rcpt := newRecipient(nil)
		dispatch(t, s, rcpt)
		until(t, "every row delivered", func() bool { return count(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryDelivered}) == 5 })
		// The email whose customer has no address yet waits for one,
		// without spending an attempt.
		until(t, "the email without an address waits", func() bool {
			l := deliveries(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryPending})
			return len(l) == 1 && strings.HasPrefix(l[0].LastError, "waiting for the customer's address")
		})
		waiting := deliveries(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryPending})[0]
		if waiting.Attempts != 0 || waiting.NextAttemptAt == nil || waiting.NextAttemptAt.Sub(waiting.CreatedAt) != outbox.DefaultAddressWait {
			t.Errorf("the waiting email %+v: no attempt spent, due when the wait is over", waiting)
		}
		// Once the wait is over, it is recorded not sent, saying why.
		later := openStore(t, kind.NewURL(t), true)
		if err := later.Store.WriteOutbox(ctx, email("m4", "")); err != nil {
			t.Fatal(err)
		}
		dispatch(t, later, rcpt, func(d *outbox.Dispatcher) { d.Now = func() time.Time { return time.Now().Add(2 * time.Hour) } })
		until(t, "the email without an address skipped", func() bool {
			l := deliveries(t, later, caisse.DeliveryFilter{Status: caisse.DeliverySkipped})
			return len(l) == 1 && strings.Contains(l[0].LastError, "no address is known") && l[0].Attempts == 1
		})
		seen := map[string]bool{}
		for _, n := range rcpt.notices() {
			if seen[n.Delivery.ID] || !strings.HasPrefix(n.Delivery.ID, "dlv_") || n.ShopName != "Galerie" {
				t.Errorf("notice %+v: sent twice, or a bad id or shop", n.Delivery)
			}
			seen[n.Delivery.ID] = true
		}

		// Without SMTP the customer email is recorded, and skipped at once.
		noSMTP := openStore(t, kind.NewURL(t), false)
		if err := noSMTP.Store.WriteOutbox(ctx, email("m3", "buyer@example.com")); err != nil {
			t.Fatal(err)
		}
		rows := deliveries(t, noSMTP, caisse.DeliveryFilter{})
		if len(rows) != 1 || rows[0].Status != caisse.DeliverySkipped || !strings.Contains(rows[0].LastError, "CAISSE_SMTP_URL") {
			t.Fatalf("an email without SMTP: %+v", rows)
		}
	})
}

// A failed send is retried with backoff, carrying the same id each time,
// until it gets through; a refusal that cannot change fails the row at once;
// a row out of attempts fails for good. Either way the team is told, except
// about an alert.
func TestFailedSendsAreRetriedThenFailed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		s := openStore(t, kind.NewURL(t), true)
		ctx := context.Background()
		rcpt := newRecipient(func(n caisse.Notice, try int) error {
			switch n.Delivery.Recipient {
			case "flaky@example.com":
				if try < 3 {
					return caisse.Retryf("421 try later")
				}
			case "never@example.com":
				return caisse.Retryf("451 mailbox busy")
			case "nobody@example.com":
				return caisse.Permanentf("550 no such mailbox")
			}
			if n.Delivery.Channel == caisse.ChannelAlert && n.Delivery.Topic == caisse.TopicOversold {
				return caisse.Permanentf("403 forbidden")
			}
			return nil
		})
		dispatch(t, s, rcpt)
		if err := s.Store.WriteOutbox(ctx, email("flaky", "flaky@example.com"), email("never", "never@example.com"),
			email("nobody", "nobody@example.com"),
			caisse.AlertMessage("a", caisse.TopicOversold, "o1", caisse.Alert{Title: "t", Text: "x"})); err != nil {
			t.Fatal(err)
		}
		until(t, "the rows settle, and the team is told", func() bool {
			return count(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryPending, Channel: caisse.ChannelEmail}) == 0 &&
				count(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryFailed}) == 3 &&
				count(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryDelivered, Channel: caisse.ChannelAlert}) == 2
		})
		byTo := map[string]*caisse.Delivery{}
		for _, d := range deliveries(t, s, caisse.DeliveryFilter{Channel: caisse.ChannelEmail}) {
			byTo[d.Recipient] = d
		}
		if d := byTo["flaky@example.com"]; d.Status != caisse.DeliveryDelivered || d.Attempts != 3 {
			t.Errorf("a flaky recipient: %+v, want delivered at the third attempt", d)
		}
		if d := byTo["never@example.com"]; d.Status != caisse.DeliveryFailed || d.Attempts != 4 || !strings.Contains(d.LastError, "451") {
			t.Errorf("a recipient that always fails: %+v, want failed after 1 + 3 retries", d)
		}
		if d := byTo["nobody@example.com"]; d.Status != caisse.DeliveryFailed || d.Attempts != 1 || !strings.Contains(d.LastError, "550") {
			t.Errorf("a permanent refusal: %+v, want failed at once", d)
		}
		rcpt.mu.Lock()
		tries := rcpt.perID[byTo["flaky@example.com"].ID]
		rcpt.mu.Unlock()
		if tries != 3 {
			t.Errorf("the flaky row was sent %d times under its id, want 3", tries)
		}
		// Two emails failed for good: two alerts (delivered). The alert that
		// failed raised none.
		alerts := deliveries(t, s, caisse.DeliveryFilter{Channel: caisse.ChannelAlert})
		var failedAbout []string
		for _, a := range alerts {
			if a.Topic == caisse.TopicDeliveryFailed {
				failedAbout = append(failedAbout, a.Payload["text"].(string))
			}
		}
		if len(failedAbout) != 2 {
			t.Fatalf("%d alerts about failed deliveries, want 2: %+v", len(failedAbout), alerts)
		}

		// The owner retries the failed email: it is sent again, from zero.
		d, err := s.RetryDelivery(ctx, byTo["nobody@example.com"].ID)
		if err != nil || d.Status != caisse.DeliveryPending || d.Attempts != 0 {
			t.Fatalf("retry: %+v %v", d, err)
		}
		until(t, "the retried row fails again", func() bool {
			d, _ := s.FindDelivery(ctx, byTo["nobody@example.com"].ID)
			return d.Status == caisse.DeliveryFailed
		})
	})
}

// A recipient's Retry-After is honoured; an endpoint answering 410 is gone:
// its other pending rows fail too, and the team hears of it once.
func TestRetryAfterAndGone(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		s := openStore(t, kind.NewURL(t), true)
		ctx := context.Background()
		now := time.Now()
		rcpt := newRecipient(func(n caisse.Notice, try int) error {
			switch n.Delivery.Recipient {
			case "busy@example.com":
				return &caisse.DeliveryError{Message: "429 slow down", RetryAfter: 90 * time.Minute}
			case "https://a.example/hook":
				return &caisse.DeliveryError{Message: "410 Gone", Permanent: true, Gone: true}
			}
			return nil
		})
		rcpt.block = make(chan struct{})
		dispatch(t, s, rcpt, func(d *outbox.Dispatcher) {
			d.PerChannel = 1
			// Long enough for a row to wait as long as its recipient asks.
			d.Backoff = []time.Duration{time.Millisecond, time.Millisecond, 24 * time.Hour}
		})
		var hooks []caisse.OutboxMessage
		for i := range 5 {
			hooks = append(hooks, caisse.OutboxMessage{Key: fmt.Sprint("w", i), Channel: caisse.ChannelWebhook, Topic: caisse.HookOrderPaid, OrderID: "o1"})
		}
		if err := s.Store.WriteOutbox(ctx, append(hooks, email("busy", "busy@example.com"))...); err != nil {
			t.Fatal(err)
		}
		close(rcpt.block)
		until(t, "the rows settle", func() bool {
			return count(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryFailed, Channel: caisse.ChannelWebhook}) == 5 &&
				count(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryDelivered, Channel: caisse.ChannelWebhook}) == 5
		})
		rcpt.mu.Lock()
		sentToGone := 0
		for _, n := range rcpt.got {
			if n.Delivery.Recipient == "https://a.example/hook" {
				sentToGone++
			}
		}
		rcpt.mu.Unlock()
		if sentToGone != 0 {
			t.Fatalf("%d deliveries accepted by a gone endpoint", sentToGone)
		}
		gone := deliveries(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryFailed, Channel: caisse.ChannelWebhook})
		for _, d := range gone {
			if d.Recipient != "https://a.example/hook" {
				t.Fatalf("a row to another endpoint failed: %+v", d)
			}
		}
		var goneAlerts int
		for _, a := range deliveries(t, s, caisse.DeliveryFilter{Channel: caisse.ChannelAlert}) {
			if a.Topic == caisse.TopicDeliveryFailed && strings.Contains(a.Payload["text"].(string), "410") {
				goneAlerts++
			}
		}
		if goneAlerts != 1 {
			t.Fatalf("%d alerts about the gone endpoint, want 1", goneAlerts)
		}
		until(t, "the busy row waits, no attempt spent", func() bool {
			l := deliveries(t, s, caisse.DeliveryFilter{Channel: caisse.ChannelEmail})
			return len(l) == 1 && l[0].Attempts == 0 && strings.Contains(l[0].LastError, "429")
		})
		busy := deliveries(t, s, caisse.DeliveryFilter{Channel: caisse.ChannelEmail})[0]
		if busy.Status != caisse.DeliveryPending || busy.NextAttemptAt == nil || busy.NextAttemptAt.Before(now.Add(89*time.Minute)) {
			t.Fatalf("a 429 with Retry-After of 90 minutes: %+v", busy)
		}
	})
}

// A storm of alerts of one cause is one message with a count.
func TestAlertsOfOneCauseAreGrouped(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		s := openStore(t, kind.NewURL(t), true)
		ctx := context.Background()
		var storm []caisse.OutboxMessage
		for i := range 50 {
			storm = append(storm, caisse.AlertMessage(fmt.Sprint("evt_", i), caisse.TopicDeadLetter, "", caisse.Alert{Title: "dead", Text: "x"}))
		}
		storm = append(storm, caisse.AlertMessage("o9", caisse.TopicOversold, "o9", caisse.Alert{Title: "oversold", Text: "y"}))
		if err := s.Store.WriteOutbox(ctx, storm...); err != nil {
			t.Fatal(err)
		}
		rcpt := newRecipient(nil)
		dispatch(t, s, rcpt, func(d *outbox.Dispatcher) { d.PerChannel = 100 })
		until(t, "every alert delivered", func() bool { return count(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryDelivered}) == 51 })
		got := rcpt.notices()
		counts := map[string]int{}
		for _, n := range got {
			counts[n.Delivery.Topic] += n.Count()
		}
		if len(got) != 2 || counts[caisse.TopicDeadLetter] != 50 || counts[caisse.TopicOversold] != 1 {
			var messages []string
			for _, n := range got {
				messages = append(messages, fmt.Sprintf("%s×%d", n.Delivery.Topic, n.Count()))
			}
			t.Fatalf("messages %v, want one of 50 dead letters and one oversold", messages)
		}
	})
}

// Several instances share the work and never send one row at the same
// time; a row left by an instance that died is sent after its lease.
func TestInstancesShareTheOutbox(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		url := kind.NewURL(t)
		ctx := context.Background()
		first := openStore(t, url, true)
		var msgs []caisse.OutboxMessage
		for i := range 200 {
			msgs = append(msgs, email(fmt.Sprint("e", i), fmt.Sprintf("buyer%d@example.com", i)))
		}
		if err := first.Store.WriteOutbox(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
		// An instance claims rows and dies before sending them.
		dead, err := first.Store.ClaimDeliveries(ctx, caisse.ChannelEmail, time.Now(), time.Now().Add(300*time.Millisecond), 10, nil)
		if err != nil || len(dead) != 10 {
			t.Fatalf("claim: %d rows, %v", len(dead), err)
		}
		rcpt := newRecipient(nil)
		for range 3 {
			s := first
			if kind == dbtest.Postgres {
				s = openStore(t, url, true)
			}
			dispatch(t, s, rcpt, func(d *outbox.Dispatcher) { d.PerChannel = 8 })
			if kind == dbtest.SQLite {
				break // one writer: one instance per file
			}
		}
		until(t, "all 200 delivered", func() bool {
			return count(t, first, caisse.DeliveryFilter{Status: caisse.DeliveryDelivered}) == 200
		})
		rcpt.mu.Lock()
		defer rcpt.mu.Unlock()
		if rcpt.overlap {
			t.Fatal("a row was being sent by two instances at once")
		}
		for id, n := range rcpt.perID {
			if n != 1 {
				t.Errorf("row %s sent %d times", id, n)
			}
		}
		if len(rcpt.perID) != 200 {
			t.Fatalf("%d rows sent, want 200", len(rcpt.perID))
		}
	})
}

// A channel that hangs delays only itself: the others are delivered
// meanwhile. A row on a channel that is not set up any more is skipped.
func TestSlowChannelDelaysOnlyItself(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		s := openStore(t, kind.NewURL(t), true)
		ctx := context.Background()
		stuck := newRecipient(nil)
		stuck.block = make(chan struct{})
		fast := newRecipient(nil)
		dispatch(t, s, nil, func(d *outbox.Dispatcher) {
			d.Sender = func(dl caisse.Delivery) caisse.Sender {
				switch dl.Channel {
				case caisse.ChannelSanity:
					return stuck
				case caisse.ChannelWebhook:
					return nil // not set up any more
				}
				return fast
			}
		})
		if err := s.Store.WriteOutbox(ctx, caisse.OutboxMessage{Key: "s", Channel: caisse.ChannelSanity, Topic: caisse.TopicAvailability, ProductID: "art"},
			email("e", "buyer@example.com"), caisse.OutboxMessage{Key: "w", Channel: caisse.ChannelWebhook, Topic: caisse.HookOrderPaid, OrderID: "o1"}); err != nil {
			t.Fatal(err)
		}
		until(t, "the email delivered while Sanity hangs", func() bool {
			return count(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryDelivered, Channel: caisse.ChannelEmail}) == 1
		})
		until(t, "the webhooks skipped", func() bool {
			return count(t, s, caisse.DeliveryFilter{Status: caisse.DeliverySkipped, Channel: caisse.ChannelWebhook}) == 2
		})
		if n := count(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryPending, Channel: caisse.ChannelSanity}); n != 1 {
			t.Fatalf("the hanging Sanity row: %d pending", n)
		}
		close(stuck.block)
		until(t, "Sanity delivered once free", func() bool {
			return count(t, s, caisse.DeliveryFilter{Status: caisse.DeliveryDelivered, Channel: caisse.ChannelSanity}) == 1
		})
	})
}

// Delivered and skipped rows older than the retention are pruned; those
// still to send, and failed ones, stay.
func TestOldDeliveriesArePruned(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		s := openStore(t, kind.NewURL(t), false)
		ctx := context.Background()
		if err := s.Store.WriteOutbox(ctx, email("skipped", "buyer@example.com"),
			caisse.AlertMessage("a", caisse.TopicOversold, "o1", caisse.Alert{Title: "t", Text: "x"})); err != nil {
			t.Fatal(err)
		}
		n, err := s.Store.PruneDeliveries(ctx, time.Now().Add(time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("pruned %d (%v), want the skipped email only", n, err)
		}
		if l := deliveries(t, s, caisse.DeliveryFilter{}); len(l) != 1 || l[0].Channel != caisse.ChannelAlert || l[0].Status != caisse.DeliveryPending {
			t.Fatalf("left %+v, want the pending alert", l)
		}
		if n, err := s.Store.PruneDeliveries(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("pruned %d rows younger than the retention (%v)", n, err)
		}
	})
}
