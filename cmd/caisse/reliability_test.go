package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/poll"
	"github.com/caisse/caisse/internal/scenario"
	"github.com/caisse/caisse/stripe"
)

// A stream of thousands of signed events (shuffled, with duplicates) is
// driven at caisse while it is killed with SIGKILL several times and
// restarted. The sender behaves like Stripe and retries every delivery that
// did not get a 2xx. Every acknowledged event ends processed once, and the
// shop ends as a clean run of the same events leaves it.
func TestCrashes(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		seed := uint64(5)
		rng := rand.New(rand.NewPCG(seed, seed))
		s := scenario.Generate(rng, 500, 8)
		deliveries := s.Shuffled(rng, 4)

		clean := setup(t, db)
		clean.load(s)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(deliveries); i += 8 {
					clean.deliver(deliveries[i].Payload)
				}
			}()
		}
		wg.Wait()
		clean.waitProcessed(len(s.Events))
		want := clean.snapshot()

		dbURL := db.NewURL(t)
		var current atomic.Pointer[life]
		current.Store(&life{startInstance(t, dbURL, "CAISSE_RESCUE_AFTER=5s"), make(chan struct{})})
		current.Load().load(s)

		// The sender: every delivery until it is acknowledged, whatever happens.
		var acked sync.Map
		var attempts atomic.Int64
		done := make(chan struct{})
		jobs := make(chan scenario.Event)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for e := range jobs {
					deadline := time.After(2 * time.Minute)
				send:
					for {
						attempts.Add(1)
						l := current.Load()
						status, err := post(l.url, e.Payload)
						if status == http.StatusOK {
							acked.Store(e.ID, true)
							break
						}
						if err == nil {
							// caisse answered, and refused: send again at
							// once, while there is time.
							select {
							case <-deadline:
								break send
							default:
								continue
							}
						}
						// No answer: that caisse is gone. Stripe would back
						// off; this sender waits for the next caisse to
						// listen, which is all a back-off would wait for.
						select {
						case <-l.ended:
						case <-deadline:
							break send
						}
					}
				}
			}()
		}
		// The killer: SIGKILL at random moments, then a restart on the same database.
		crashes := 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			for crashes < 4 {
				select {
				case <-done:
					return
				case <-time.After(time.Duration(100+rng.IntN(400)) * time.Millisecond):
				}
				l := current.Load()
				l.cmd.Process.Signal(syscall.SIGKILL)
				<-l.exit
				crashes++
				current.Store(&life{startInstance(t, dbURL, "CAISSE_RESCUE_AFTER=5s"), make(chan struct{})})
				close(l.ended)
			}
		}()
		for _, e := range deliveries {
			jobs <- e
		}
		close(jobs)
		close(done)
		wg.Wait()

		if crashes == 0 {
			t.Fatal("caisse was never killed")
		}
		n := 0
		acked.Range(func(any, any) bool { n++; return true })
		if n != len(s.Events) {
			t.Fatalf("%d of %d events acknowledged", n, len(s.Events))
		}
		last := current.Load()
		last.waitProcessed(len(s.Events))
		if got := last.snapshot(); got != want {
			t.Fatalf("after %d crashes the shop differs from a clean run:\n got %s\nwant %s", crashes, got, want)
		}
		t.Logf("%s: %d deliveries (%d attempts) of %d events through %d crashes, none lost",
			db, len(deliveries), attempts.Load(), len(s.Events), crashes)
	})
}

// life is one caisse process of several run one after the other on the
// same database: ended is closed once the next one listens.
type life struct {
	*instance
	ended chan struct{}
}

// post delivers a signed payload to one caisse and returns the status.
func post(base string, payload []byte) (int, error) {
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/stripe", bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", sign(payload, testSecret, time.Now()))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// outage cuts caisse off its database and restores it.
type outage interface {
	down()
	up()
}

// proxy stands between caisse and PostgreSQL: down closes every connection
// and refuses new ones, as a failed database server or network does.
type proxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	p.up()
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.down)
	return p
}

func (p *proxy) up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// frozen makes the SQLite files immutable: even root cannot write them, as
// with a failing or read-only disk.
type frozen struct {
	t     *testing.T
	files []string
}

func (f frozen) set(flag string) {
	for _, file := range f.files {
		if out, err := exec.Command("chattr", flag, file).CombinedOutput(); err != nil {
			f.t.Fatalf("chattr %s %s: %v %s", flag, file, err, out)
		}
	}
}
func (f frozen) down() { f.set("+i") }
func (f frozen) up()   { f.set("-i") }

// While the database is down, no delivery is acknowledged and /readyz says
// not ready; once it is back, caisse recovers by itself and loses nothing.
func TestDatabaseOutage(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		var cut outage
		a := setup(t, db, func(env map[string]string) {
			// The production poll interval, to see how workers wait out an outage.
			env[testPollInterval] = "1s"
			if db == postgresDB {
				u, _ := url.Parse(env["CAISSE_DATABASE_URL"])
				p := newProxy(t, u.Host)
				u.Host = p.addr
				env["CAISSE_DATABASE_URL"] = u.String()
				cut = p
			}
		})
		if db == sqliteDB {
			path, _ := a.p.Config.SQLitePath()
			f := frozen{t: t, files: []string{path, path + "-wal"}}
			t.Cleanup(f.up)
			cut = f
		}
		a.putProduct("tee", 100)
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "before", ProductID: "tee"})

		cut.down()
		logsBefore := len(a.logs.String())
		var refused []string
		outageStart := time.Now()
		for i := range 20 {
			id := stripe.NewID("evt")
			payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.completed", EventID: id,
				OrderID: "during-" + id, ProductID: "tee"})
			status, body := a.post("/webhooks/stripe", payload, sign(payload, testSecret, time.Now()))
			if status == http.StatusOK {
				t.Fatalf("delivery %d acknowledged while the database is down", i)
			}
			if status != http.StatusServiceUnavailable {
				t.Fatalf("delivery %d: %d %s, want 503", i, status, body)
			}
			refused = append(refused, string(payload))
		}
		res, err := http.Get(a.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("/readyz answered %d during the outage", res.StatusCode)
		}
		// The workers meet the outage: the applier, looking for events,
		// and the dispatcher, for deliveries, go back to the database at
		// their pace (River's workers too, uncounted). Fifteen of caisse's
		// statements tried since the refused deliveries: a few seconds of
		// outage at the production poll interval, moments if they spin.
		statements := &a.p.DB.Statements
		triedBefore := statements.Load()
		poll.Until(t, time.Minute, func() error {
			if n := statements.Load() - triedBefore; n < 15 {
				return fmt.Errorf("the workers tried the database %d times during the outage, want 15", n)
			}
			return nil
		})
		tried := statements.Load() - triedBefore
		// The workers' and the queue's lines, not the refused deliveries'.
		linesDuring := 0
		for line := range strings.Lines(a.logs.String()[logsBefore:]) {
			if !strings.Contains(line, "webhook") && !strings.Contains(line, "not ready") {
				linesDuring++
			}
		}
		outageFor := time.Since(outageStart)
		cut.up()

		// Stripe delivers the refused events again; they are stored now.
		var ids []string
		for _, payload := range refused {
			poll.Until(t, time.Minute, func() error {
				if status, body := a.post("/webhooks/stripe", []byte(payload), sign([]byte(payload), testSecret, time.Now())); status != http.StatusOK {
					return fmt.Errorf("caisse did not recover: still %d %s", status, body)
				}
				return nil
			})
			e, _ := stripe.DecodeEvent([]byte(payload))
			ids = append(ids, e.ID)
		}
		for id, s := range a.wait(ids...) {
			if s != caisse.EventProcessed {
				t.Fatalf("event %s ended %s", id, s)
			}
		}
		if p := a.product("tee"); p.Stock != 100-1-20 {
			t.Fatalf("stock %d after the outage", p.Stock)
		}
		var orders struct{ Data []caisse.Order }
		a.admin(http.MethodGet, "/api/admin/orders?limit=1000", nil, &orders)
		if len(orders.Data) != 21 {
			t.Fatalf("%d orders after the outage, want 21", len(orders.Data))
		}
		res, _ = http.Get(a.url + "/readyz")
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("/readyz answered %d after recovery", res.StatusCode)
		}
		// Backing off, not spinning: a handful of log lines and of
		// attempts a second at most.
		if perSecond := float64(linesDuring) / outageFor.Seconds(); perSecond > 10 {
			t.Errorf("%d log lines in a %s outage: the workers spin", linesDuring, outageFor)
		}
		if perSecond := float64(tried) / outageFor.Seconds(); perSecond > 50 {
			t.Errorf("%d statements tried in a %s outage: the workers spin", tried, outageFor)
		}
		t.Logf("%s: %s outage, 20 deliveries refused with 503 and stored after recovery, %d worker log lines and %d statements tried during it",
			db, outageFor.Round(time.Millisecond), linesDuring, tried)
	})
}
