package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/scenario"
	"github.com/caisse/caisse/stripe"
)

// benchResult is one run of the load against one server.
type benchResult struct {
	Mode          string  `json:"mode"`
	Events        int     `json:"events"`
	Deliveries    int     `json:"deliveries"`
	Stored        int     `json:"stored"`
	AckPerSecond  float64 `json:"acked_per_second"`
	P50ms         float64 `json:"ack_p50_ms"`
	P99ms         float64 `json:"ack_p99_ms"`
	P999ms        float64 `json:"ack_p999_ms"`
	ProcessedPerS float64 `json:"processed_per_second,omitempty"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
	Errors        int64   `json:"errors"`
}

// bench measures how fast caisse acknowledges and processes a realistic
// event stream, and how close durable acknowledgement comes to verifying
// alone.
func (m *Main) bench(ctx context.Context, args []string) error {
	c := m.command("bench")
	dbKind := c.fs.String("db", "sqlite", "database of the caisse bench starts: sqlite or postgres")
	pgURL := c.fs.String("postgres-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server for --db postgres (bench creates and drops a schema)")
	target := c.fs.String("url", "", "bench a running caisse at this URL instead (its STRIPE_WEBHOOK_SECRET and CAISSE_ADMIN_TOKEN must be set here)")
	events := c.fs.Int("events", 20000, "distinct events to send (about 1 in 10 is also sent twice)")
	concurrency := c.fs.Int("concurrency", 32, "requests in flight")
	rate := c.fs.Int("rate", 0, "events a second to send (0: as fast as caisse answers)")
	verify := c.fs.Bool("verify-only", true, "also measure a verify-only caisse, the upper bound")
	stored := c.fs.Int("stored", 0, "also measure a caisse whose database already holds this many processed events (with their orders, facts and products)")
	if _, err := c.parse(args); err != nil {
		return err
	}
	secret, token := "whsec_bench_"+randomHex(8), "bench-admin-"+randomHex(12)
	if *target != "" {
		if len(c.cfg.WebhookSecrets) == 0 || c.cfg.AdminToken == "" {
			return fmt.Errorf("benching a running caisse needs its STRIPE_WEBHOOK_SECRET and CAISSE_ADMIN_TOKEN")
		}
		secret, token = c.cfg.WebhookSecrets[0], c.cfg.AdminToken
	}

	rng := mathrand.New(mathrand.NewPCG(1, 2))
	s := scenario.Generate(rng, *events/3+1, 50)
	if len(s.Events) > *events {
		s.Events = s.Events[:*events]
	}
	deliveries := s.Shuffled(rng, 10)
	fmt.Fprintf(m.Stderr, "bench: %d events (%d deliveries), %d in flight\n", len(s.Events), len(deliveries), *concurrency)

	run := func(mode string, seed int, extra ...string) (benchResult, error) {
		r := benchResult{Mode: mode, Events: len(s.Events), Deliveries: len(deliveries), Stored: seed}
		var srv *child
		base := *target
		if base == "" {
			dbURL, cleanup, err := benchDatabase(*dbKind, *pgURL)
			if err != nil {
				return r, err
			}
			defer cleanup()
			if seed > 0 {
				fmt.Fprintf(m.Stderr, "%s: storing %d events first\n", mode, seed)
				if err := benchSeed(ctx, dbURL, seed); err != nil {
					return r, err
				}
			}
			exe, err := os.Executable()
			if err != nil {
				return r, err
			}
			env := []string{"CAISSE_ADDR=127.0.0.1:0", "CAISSE_DATABASE_URL=" + dbURL, "STRIPE_WEBHOOK_SECRET=" + secret,
				"CAISSE_ADMIN_TOKEN=" + token, "CAISSE_LIVEMODE=",
				// When bench runs inside the test binary, this makes the child caisse.
				"CAISSE_TEST_BE_CAISSE=1"}
			if srv, err = startChild(exe, env, io.Discard, extra...); err != nil {
				return r, err
			}
			defer func() {
				srv.Cmd.Process.Signal(syscall.SIGTERM)
				<-srv.Exit
			}()
			base = srv.URL
		}
		if err := benchProducts(base, token, s.Products); err != nil {
			return r, err
		}
		start := time.Now()
		lat := make([]time.Duration, len(deliveries))
		var next, acked atomic.Int64
		var errs atomic.Int64
		var tick <-chan time.Time
		if *rate > 0 {
			t := time.NewTicker(time.Second / time.Duration(*rate))
			defer t.Stop()
			tick = t.C
		}
		var gate sync.Mutex
		var wg sync.WaitGroup
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}
		for range *concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if tick != nil {
						gate.Lock()
						<-tick
						gate.Unlock()
					}
					i := int(next.Add(1) - 1)
					if i >= len(deliveries) {
						return
					}
					payload := deliveries[i].Payload
					header := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
						Payload: payload, Secret: secret, Timestamp: time.Now(), Scheme: "v1"}).Header
					t0 := time.Now()
					req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/stripe", bytes.NewReader(payload))
					req.Header.Set("Stripe-Signature", header)
					res, err := client.Do(req)
					if err == nil {
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
					lat[i] = time.Since(t0)
					if err != nil || res.StatusCode != http.StatusOK {
						errs.Add(1)
					}
					acked.Add(1)
				}
			}()
		}
		stop := progress(m.Stderr, mode, func() string {
			return fmt.Sprintf("acked %d/%d", acked.Load(), len(deliveries))
		})
		wg.Wait()
		ackTime := time.Since(start)
		stop()
		r.AckPerSecond = float64(len(deliveries)) / ackTime.Seconds()
		slices.Sort(lat)
		pct := func(p float64) float64 {
			return float64(lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)].Microseconds()) / 1000
		}
		r.P50ms, r.P99ms, r.P999ms = pct(0.50), pct(0.99), pct(0.999)
		r.Errors = errs.Load()
		if mode != "verify-only" {
			stop := progress(m.Stderr, mode, func() string {
				done, _ := benchMetric(base, `caisse_events{status="processed"}`)
				return fmt.Sprintf("processed %.0f/%d", done-float64(seed), len(s.Events))
			})
			// Done once no event is pending: a cheap question even with
			// millions of events stored, unlike counting them.
			for {
				pending, err := benchPending(base, token)
				if err != nil {
					stop()
					return r, err
				}
				if !pending {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			stop()
			r.ProcessedPerS = float64(len(s.Events)) / time.Since(start).Seconds()
		}
		if srv != nil {
			_, r.PeakRSSMiB = srv.RSS()
		}
		return r, nil
	}

	var results []benchResult
	durable, err := run("durable", 0)
	if err != nil {
		return err
	}
	results = append(results, durable)
	var only, grown *benchResult
	if *verify && *target == "" {
		r, err := run("verify-only", 0, "--verify-only")
		if err != nil {
			return err
		}
		results = append(results, r)
		only = &results[len(results)-1]
	}
	if *stored > 0 && *target == "" {
		r, err := run("durable", *stored)
		if err != nil {
			return err
		}
		results = append(results, r)
		grown = &results[len(results)-1]
	}
	return c.print(results, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "MODE\tDB\tSTORED\tEVENTS\tACKED/S\tP50 MS\tP99 MS\tP99.9 MS\tPROCESSED/S\tPEAK RSS MIB\tERRORS\n")
		for _, r := range results {
			processed := "-"
			if r.ProcessedPerS > 0 {
				processed = strconv.FormatFloat(r.ProcessedPerS, 'f', 0, 64)
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t%.0f\t%d\n", r.Mode, *dbKind, r.Stored, r.Deliveries,
				r.AckPerSecond, r.P50ms, r.P99ms, r.P999ms, processed, r.PeakRSSMiB, r.Errors)
		}
		if only != nil {
			fmt.Fprintf(w, "\ndurable ack rate / verify-only ack rate = %.2f\n", durable.AckPerSecond/only.AckPerSecond)
		}
		if grown != nil {
			fmt.Fprintf(w, "with %d events stored / empty: ack rate %.2f, p99 %.2f, processing rate %.2f\n", grown.Stored,
				grown.AckPerSecond/durable.AckPerSecond, grown.P99ms/durable.P99ms, grown.ProcessedPerS/durable.ProcessedPerS)
		}
	})
}

// progress prints a status line every second until stopped.
func progress(w io.Writer, mode string, status func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintf(w, "\r%-60s\r", "")
				return
			case <-t.C:
				fmt.Fprintf(w, "\r%s: %s", mode, status())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// benchSeed fills a fresh bench database with n processed events and what
// they made, as a shop that has run for a long while.
func benchSeed(ctx context.Context, dbURL string, n int) error {
	db, err := openMigrated(ctx, Config{DatabaseURL: dbURL}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer db.Close()
	ex := stripe.Example{Type: "checkout.session.completed", EventID: "evt_seed", OrderID: "o_seed"}
	payload, err := stripe.Build(ex)
	if err != nil {
		return err
	}
	e, err := stripe.DecodeEvent(payload)
	if err != nil {
		return err
	}
	ef, err := stripe.Facts(e)
	if err != nil || len(ef.Facts) == 0 {
		return fmt.Errorf("error building a seed fact: %v", err)
	}
	fact, err := json.Marshal(ef.Facts[0])
	if err != nil {
		return err
	}
	return db.Core().Seed(ctx, n, payload, string(fact))
}

// benchDatabase makes a fresh database for one bench run.
func benchDatabase(kind, pgURL string) (string, func(), error) {
	switch kind {
	case "sqlite":
		dir, err := os.MkdirTemp("", "caisse-bench-")
		if err != nil {
			return "", nil, err
		}
		return "sqlite:" + filepath.Join(dir, "caisse.db"), func() { os.RemoveAll(dir) }, nil
	case "postgres":
		schema := "caisse_bench_" + randomHex(6)
		db, err := sql.Open("pgx", pgURL)
		if err != nil {
			return "", nil, err
		}
		if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
			db.Close()
			return "", nil, fmt.Errorf("creating a schema on %s: %w", redactURL(pgURL), err)
		}
		u, err := url.Parse(pgURL)
		if err != nil {
			return "", nil, err
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), func() { db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); db.Close() }, nil
	}
	return "", nil, fmt.Errorf("--db must be sqlite or postgres")
}

func benchProducts(base, token string, products []scenario.Product) error {
	for _, p := range products {
		body, _ := json.Marshal(caisse.NewProductUpdate(p.Name, p.Price, "eur", p.Stock))
		req, _ := http.NewRequest(http.MethodPut, base+"/api/admin/products/"+p.ID, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("creating product %s: %d", p.ID, res.StatusCode)
		}
	}
	return nil
}

// benchPending reports whether any event waits to be processed.
func benchPending(base, token string) (bool, error) {
	req, _ := http.NewRequest(http.MethodGet, base+"/api/admin/events?status=pending&limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&page); err != nil || res.StatusCode != http.StatusOK {
		return false, fmt.Errorf("error listing pending events: %d %v", res.StatusCode, err)
	}
	return len(page.Data) > 0, nil
}

func benchMetric(base, name string) (float64, error) {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
