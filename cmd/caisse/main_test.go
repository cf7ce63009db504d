package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/inbox"
	"github.com/caisse/caisse/internal/poll"
	"github.com/caisse/caisse/stripe"
)

const (
	testSecret = "whsec_test_5b0d1c2e3f4a5b6c7d8e9f0a1b2c3d4e"
	testToken  = "admin-token-for-tests-0123456789"
)

// app is a real caisse serving on a free port over a real database.
type app struct {
	t    *testing.T
	db   testDB
	p    *Program
	url  string
	logs *syncBuffer
	env  map[string]string
	// now is caisse's clock: the real time, or clock's when the test
	// holds it (testClock).
	now   func() time.Time
	clock *clock

	mu    sync.Mutex
	final map[string]caisse.EventStatus // event id → last final status seen
	seen  chan struct{}
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testPollInterval is a setting of setup, not of caisse: how often an idle
// instance looks for events and jobs (tests use 10ms so they wait little).
const testPollInterval = "test:poll_interval"

// testClock is a setting of setup: caisse's clock is the app's clock,
// which stands still until the test moves it (a.clock.advance); its value,
// when not empty, is the time it starts at (RFC 3339), else the real time.
const testClock = "test:clock"

// testBackoff is a setting of setup: each of the outbox's three waits
// after a failed send, such as "1h", for a test that must see a row waiting.
const testBackoff = "test:backoff"

// testForgetEvery is a setting of setup: how often the job of
// CAISSE_PERSONAL_DATA_RETENTION looks for old orders, such as "50ms".
const testForgetEvery = "test:forget_every"

// clock is a time a test sets: it starts at the real time and moves only
// when the test says.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// setup starts caisse on a new database of the given kind with the test
// configuration; edit changes it first.
func setup(t *testing.T, db testDB, edit ...func(env map[string]string)) *app {
	t.Helper()
	env := map[string]string{
		"CAISSE_ADDR":           "127.0.0.1:0",
		"CAISSE_DATABASE_URL":   db.NewURL(t),
		"STRIPE_WEBHOOK_SECRET": testSecret,
		"CAISSE_ADMIN_TOKEN":    testToken,
		"CAISSE_MAX_ATTEMPTS":   "3",
	}
	for _, e := range edit {
		e(env)
	}
	cfg, _, err := LoadConfig(func(k string) string { return env[k] }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	poll := 10 * time.Millisecond
	if v, ok := env[testPollInterval]; ok {
		poll, _ = time.ParseDuration(v)
	}
	a := &app{t: t, db: db, logs: &syncBuffer{}, env: env, final: map[string]caisse.EventStatus{}, seen: make(chan struct{}, 1)}
	a.now = time.Now
	backoff := 10 * time.Millisecond
	if v, ok := env[testBackoff]; ok {
		backoff, _ = time.ParseDuration(v)
	}
	if v, ok := env[testClock]; ok {
		start := time.Now()
		if v != "" {
			var err error
			if start, err = time.Parse(time.RFC3339, v); err != nil {
				t.Fatal(err)
			}
		}
		a.clock = &clock{now: start}
		a.now = a.clock.Now
	}
	a.p = &Program{
		Now:          a.now,
		Config:       cfg,
		Logger:       slog.New(slog.NewJSONHandler(a.logs, nil)),
		Retry:        retryFast,
		PollInterval: poll,
		Observe:      a.observe,
		// A failed delivery is tried 4 times in moments, then failed.
		Backoff: []time.Duration{backoff, backoff, backoff},
		// Alerts and emails wait a second (not five) to gather.
		NoticeDelay: time.Second,
	}
	if v, ok := env[testForgetEvery]; ok {
		a.p.ForgetEvery, _ = time.ParseDuration(v)
	}
	if err := a.p.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.p.Close(); err != nil {
			t.Errorf("closing caisse: %v", err)
		}
		if strings.Contains(a.logs.String(), testSecret) {
			t.Errorf("the webhook secret appears in the logs")
		}
	})
	a.url = "http://" + a.p.HTTP.Addr()
	return a
}

// retryFast retries soon, so tests reach the dead letter in moments.
func retryFast(int) time.Duration { return 20 * time.Millisecond }

func (a *app) observe(r inbox.Report) {
	a.mu.Lock()
	if r.Status != caisse.EventPending && r.Status != "" {
		a.final[r.Event.ID] = r.Status
	}
	a.mu.Unlock()
	select {
	case a.seen <- struct{}{}:
	default:
	}
}

// wait blocks until every event has reached a final status (processed,
// ignored or failed) and returns those statuses.
func (a *app) wait(ids ...string) map[string]caisse.EventStatus {
	a.t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		a.mu.Lock()
		out := map[string]caisse.EventStatus{}
		for _, id := range ids {
			if s, ok := a.final[id]; ok {
				out[id] = s
			}
		}
		a.mu.Unlock()
		if len(out) == len(ids) {
			return out
		}
		select {
		case <-a.seen:
		case <-deadline:
			logs := a.logs.String()
			a.t.Fatalf("events not processed in time: %d of %d done; last logs:\n%s", len(out), len(ids), logs[max(0, len(logs)-4000):])
		}
	}
}

// until polls cond until it holds, for at most a minute, then fails the
// test saying what did not happen, with the logs.
func (a *app) until(what string, cond func() bool) {
	a.t.Helper()
	poll.Until(a.t, time.Minute, func() error {
		if cond() {
			return nil
		}
		return poll.Lazy(func() string {
			var logs string
			if a.logs != nil {
				logs = a.logs.String()
			}
			return fmt.Sprintf("%s; last logs:\n%s", what, logs[max(0, len(logs)-4000):])
		})
	})
}

// forget clears what wait has seen of these events, before a replay.
func (a *app) forget(ids ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		delete(a.final, id)
	}
}

// post delivers a body with a signature header and returns the status and body.
func (a *app) post(path string, body []byte, sig string) (int, string) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.url+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: payload, Secret: secret, Timestamp: at, Scheme: "v1",
	}).Header
}

// deliver signs and posts a payload like Stripe does and expects 200.
func (a *app) deliver(payload []byte) {
	a.t.Helper()
	now := time.Now
	if a.now != nil { // an app of setup's, whose clock may be the test's
		now = a.now
	}
	status, body := a.post("/webhooks/stripe", payload, sign(payload, testSecret, now()))
	if status != http.StatusOK || body != "{\"received\":true}\n" {
		a.t.Fatalf("delivery answered %d %s", status, body)
	}
}

// send builds an example event, delivers it and returns its id.
func (a *app) send(ex stripe.Example) string {
	a.t.Helper()
	if ex.EventID == "" {
		ex.EventID = stripe.NewID("evt")
	}
	payload, err := stripe.Build(ex)
	if err != nil {
		a.t.Fatal(err)
	}
	a.deliver(payload)
	return ex.EventID
}

// process sends the events one after another, each processed before the next.
func (a *app) process(exs ...stripe.Example) {
	a.t.Helper()
	for _, ex := range exs {
		id := a.send(ex)
		if s := a.wait(id)[id]; s != caisse.EventProcessed && s != caisse.EventIgnored {
			a.t.Fatalf("event %s (%s) ended %s", id, ex.Type, s)
		}
	}
}

// admin calls the admin API and decodes the answer into v.
func (a *app) admin(method, path string, body any, v any) int {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.url+path, r)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	if v != nil {
		if err := json.NewDecoder(res.Body).Decode(v); err != nil {
			a.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return res.StatusCode
}

func (a *app) putProduct(id string, stock int64) {
	a.t.Helper()
	if s := a.admin(http.MethodPut, "/api/admin/products/"+id, caisse.NewProductUpdate(id, 2500, "eur", stock), nil); s != http.StatusOK {
		a.t.Fatalf("PUT product %s: %d", id, s)
	}
}

func (a *app) product(id string) caisse.Product {
	a.t.Helper()
	var p caisse.Product
	if s := a.admin(http.MethodGet, "/api/admin/products/"+id, nil, &p); s != http.StatusOK {
		a.t.Fatalf("GET product %s: %d", id, s)
	}
	return p
}

func (a *app) order(id string) caisse.Order {
	a.t.Helper()
	var o caisse.Order
	if s := a.admin(http.MethodGet, "/api/admin/orders/"+id, nil, &o); s != http.StatusOK {
		a.t.Fatalf("GET order %s: %d", id, s)
	}
	return o
}

func (a *app) event(id string) caisse.Event {
	a.t.Helper()
	var e caisse.Event
	if s := a.admin(http.MethodGet, "/api/admin/events/"+id, nil, &e); s != http.StatusOK {
		a.t.Fatalf("GET event %s: %d", id, s)
	}
	return e
}

func (a *app) eventCount() int {
	a.t.Helper()
	var l struct{ Data []caisse.Event }
	a.admin(http.MethodGet, "/api/admin/events?limit=1000", nil, &l)
	return len(l.Data)
}

// cli runs a caisse command against this app's database.
func (a *app) cli(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return a.env[k] }}
	if code := m.Run(context.Background(), args); code != 0 {
		return out.String(), fmt.Errorf("caisse %s exited %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	return out.String(), nil
}
