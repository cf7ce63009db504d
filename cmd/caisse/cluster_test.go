package main

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/child"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/poll"
	"github.com/caisse/caisse/internal/scenario"
	"github.com/caisse/caisse/internal/stripemock"
	"github.com/caisse/caisse/stripe"
)

// TestMain lets the test binary be caisse itself, so the cluster tests start
// real `caisse serve` processes without building anything. Otherwise it runs
// the tests, then stops the stripe-mock they shared.
//
// Most of these tests wait (on a database's fsync, on a server's timeout)
// far more than they compute, so unless -test.parallel says otherwise, more
// of them run at once than the machine has cores: on 2 cores the package
// takes 45 s instead of 110.
func TestMain(m *testing.M) {
	if os.Getenv("CAISSE_TEST_BE_CAISSE") == "1" {
		main()
		return
	}
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(max(8, 4*runtime.GOMAXPROCS(0))))
	}
	stripemock.Main(m)
}

// instance is a `caisse serve` process.
type instance struct {
	*app
	*child.Process
	cmd  *exec.Cmd
	logs *syncBuffer
	exit chan error
}

// startInstance starts caisse as a separate process on the database at dbURL.
func startInstance(t *testing.T, dbURL string, extra ...string) *instance {
	t.Helper()
	env := append([]string{"CAISSE_TEST_BE_CAISSE=1",
		"CAISSE_ADDR=127.0.0.1:0", "CAISSE_DATABASE_URL=" + dbURL,
		"STRIPE_WEBHOOK_SECRET=" + testSecret, "CAISSE_ADMIN_TOKEN=" + testToken,
		"CAISSE_RESCUE_AFTER=10s", "CAISSE_LIVEMODE="}, extra...)
	logs := &syncBuffer{}
	c, err := child.Start(os.Args[0], []string{"serve"}, env, logs)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		c.Cmd.Process.Kill()
		if strings.Contains(logs.String(), testSecret) {
			t.Errorf("the webhook secret appears in an instance's logs")
		}
	})
	return &instance{app: &app{t: t, url: c.URL}, Process: c, cmd: c.Cmd, logs: logs, exit: c.Exit}
}

// deliverAny delivers a payload as Stripe does: to one instance, and again
// to the next one for as long as the answer is not a 2xx.
func deliverAny(t *testing.T, instances []*instance, first int, payload []byte) {
	deadline := time.Now().Add(60 * time.Second)
	for i := first; time.Now().Before(deadline); i++ {
		in := instances[i%len(instances)]
		req, _ := http.NewRequest(http.MethodPost, in.url+"/webhooks/stripe", bytes.NewReader(payload))
		req.Header.Set("Stripe-Signature", sign(payload, testSecret, time.Now()))
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode/100 == 2 {
				return
			}
		}
	}
	t.Errorf("no instance accepted a delivery in a minute")
}

// problems returns the log lines of level WARN or ERROR, at most the last 40.
func problems(logs string) string {
	var out []string
	for line := range strings.Lines(logs) {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, line)
		}
	}
	return strings.Join(out[max(0, len(out)-40):], "")
}

// countEvents counts the events in a status through the admin API, page by
// page. (The metrics count only what waits, and only every few seconds.)
func (a *app) countEvents(status caisse.EventStatus) int {
	a.t.Helper()
	n, after := 0, ""
	for {
		var page struct {
			Data    []caisse.Event
			HasMore bool `json:"has_more"`
		}
		if s := a.admin(http.MethodGet, "/api/admin/events?limit=1000&status="+string(status)+"&starting_after="+after, nil, &page); s != http.StatusOK {
			a.t.Fatalf("listing %s events: %d", status, s)
		}
		n += len(page.Data)
		if !page.HasMore || len(page.Data) == 0 {
			return n
		}
		after = page.Data[len(page.Data)-1].ID
	}
}

// waitProcessed waits until n events are processed and none waits, as seen
// through an instance's admin API (the processing happens in other processes).
func (a *app) waitProcessed(n int) {
	a.t.Helper()
	// A safety net, not a measure: under the race detector on two busy
	// cores, SQLite processes a few dozen events a second. It ends before
	// go test's own 10-minute limit, so that what is stuck gets printed.
	poll.UntilEvery(a.t, 5*time.Minute, 50*time.Millisecond, func() error {
		done := a.countEvents(caisse.EventProcessed)
		if done == n && a.countEvents(caisse.EventPending) == 0 {
			return nil
		}
		if failed := a.countEvents(caisse.EventFailed); failed > 0 {
			a.t.Fatalf("%v events are dead letters", failed)
		}
		return poll.Lazy(func() string {
			var pending struct{ Data []caisse.Event }
			a.admin(http.MethodGet, "/api/admin/events?status=pending", nil, &pending)
			return fmt.Sprintf("%v of %d events processed; pending: %+v", done, n, pending.Data)
		})
	})
}

// Three instances on one PostgreSQL database, events delivered round-robin
// with each duplicate sent to two instances at the same moment, one instance
// stopped mid-stream: every event is processed once, and the shop ends as a
// single instance applying the events in their natural order leaves it.
func TestSeveralInstances(t *testing.T) {
	t.Parallel()
	seed := uint64(4)
	s := scenario.Generate(rand.New(rand.NewPCG(seed, seed)), 40, 5)

	single := setup(t, postgresDB)
	single.load(s)
	for _, e := range s.Events {
		single.deliver(e.Payload)
		single.wait(e.ID)
	}
	want := single.snapshot()

	for _, stop := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(stop.String(), func(t *testing.T) {
			t.Parallel()
			dbURL := postgresDB.NewURL(t)
			var instances []*instance
			var mu sync.Mutex
			var wg sync.WaitGroup
			for range 3 { // they migrate the new database together
				wg.Add(1)
				go func() {
					defer wg.Done()
					in := startInstance(t, dbURL)
					mu.Lock()
					instances = append(instances, in)
					mu.Unlock()
				}()
			}
			wg.Wait()
			if len(instances) != 3 {
				t.FailNow()
			}
			t.Cleanup(func() {
				if t.Failed() {
					for i, in := range instances {
						t.Logf("instance %d's warnings and errors:\n%s", i, problems(in.logs.String()))
					}
				}
			})
			instances[0].load(s)

			rng := rand.New(rand.NewPCG(seed, uint64(stop)))
			events := s.Shuffled(rng, 0)
			jobs := make(chan int)
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range jobs {
						if i%4 == 0 { // a duplicate, to two instances at once
							var both sync.WaitGroup
							for k := range 2 {
								both.Add(1)
								go func() { defer both.Done(); deliverAny(t, instances, i+k, events[i].Payload) }()
							}
							both.Wait()
						} else {
							deliverAny(t, instances, i, events[i].Payload)
						}
					}
				}()
			}
			for i := range events {
				if i == len(events)/2 {
					if err := instances[2].cmd.Process.Signal(stop); err != nil {
						t.Fatal(err)
					}
					if stop == syscall.SIGTERM {
						// A graceful stop: in-flight work finishes, the process exits 0.
						if err := <-instances[2].exit; err != nil {
							t.Errorf("caisse exited with %v after SIGTERM:\n%s", err, instances[2].logs.String())
						}
						// Running jobs finish rather than fail: no attempt is lost to the stop.
						if strings.Contains(instances[2].logs.String(), "event processing failed") {
							t.Errorf("jobs failed at SIGTERM instead of finishing:\n%s", problems(instances[2].logs.String()))
						}
					}
				}
				jobs <- i
			}
			close(jobs)
			wg.Wait()

			instances[0].waitProcessed(len(s.Events))
			if got := instances[0].snapshot(); got != want {
				t.Fatalf("three instances diverged from one:\n got %s\nwant %s", got, want)
			}
			for _, in := range instances[:2] {
				if logs := in.logs.String(); strings.Contains(logs, "dead letter") || strings.Contains(logs, "deadlock") {
					t.Errorf("an instance logged a failure:\n%s", logs)
				}
			}
		})
	}
}

// Many buyers pay for the last unit at once, through three instances: one
// sale, the rest oversold, stock never below zero.
func TestNoDoubleSaleAcrossInstances(t *testing.T) {
	t.Parallel()
	dbURL := postgresDB.NewURL(t)
	var instances []*instance
	for range 3 {
		instances = append(instances, startInstance(t, dbURL))
	}
	instances[0].putProduct("artwork", 1)
	const buyers = 30
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.completed",
				OrderID: fmt.Sprintf("ord_%02d", i), ProductID: "artwork", Amount: 90000})
			deliverAny(t, instances, i, payload)
		}()
	}
	wg.Wait()
	instances[1].waitProcessed(buyers)
	var orders struct{ Data []caisse.Order }
	instances[2].admin(http.MethodGet, "/api/admin/orders?limit=1000", nil, &orders)
	sold := 0
	for _, o := range orders.Data {
		if !o.Oversold {
			sold++
		}
	}
	if len(orders.Data) != buyers || sold != 1 {
		t.Fatalf("%d orders, %d sold; want %d orders and one sale", len(orders.Data), sold, buyers)
	}
	if p := instances[0].product("artwork"); p.Stock != 0 || p.Reserved != 0 {
		t.Fatalf("product %+v", p)
	}
}

// An event being applied when its instance is killed (SIGKILL) is picked up
// by another instance, and its effects apply once.
func TestKilledInstanceJobIsRescued(t *testing.T) {
	t.Parallel()
	dbURL := postgresDB.NewURL(t)
	first := startInstance(t, dbURL)
	first.putProduct("tee", 5)

	// Hold the lock the event's batch takes on its payment, so the event
	// is certainly claimed, inside its batch's transaction, when the
	// instance dies.
	db, err := sql.Open("pgx", dbtest.SQLURL(dbURL))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const lockKey = `hashtextextended(current_schema() || ':' || 'pi_o1', 0)`
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`); err != nil {
		t.Fatal(err)
	}
	payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.completed", EventID: "evt_rescue", OrderID: "o1", ProductID: "tee"})
	deliverAny(t, []*instance{first}, 0, payload)
	poll.Until(t, 30*time.Second, func() error {
		// A transaction waiting for the payment's lock is the instance's
		// batch (an advisory lock's 64-bit key is its classid and objid).
		var waiting int
		if err := db.QueryRow(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND ((classid::bigint << 32) | objid::bigint) = ` + lockKey).Scan(&waiting); err != nil {
			return err
		}
		if waiting != 1 {
			return fmt.Errorf("the event was never claimed: %d transactions wait for the payment's lock, want 1", waiting)
		}
		return nil
	})

	second := startInstance(t, dbURL)
	first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.exit
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock(`+lockKey+`)`); err != nil {
		t.Fatal(err)
	}
	second.waitProcessed(1)
	if p := second.product("tee"); p.Stock != 4 {
		t.Fatalf("stock %d, want 4: the sale applied %d times", p.Stock, 5-p.Stock)
	}
	if e := second.event("evt_rescue"); e.Status != caisse.EventProcessed || e.OrderID != "o1" {
		t.Fatalf("event %+v", e)
	}
	if o := second.order("o1"); o.Status != caisse.StatusPaid || len(o.Timeline) != 1 {
		t.Fatalf("order %+v", o)
	}
}
