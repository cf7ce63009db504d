package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mathrand "math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/child"
	"github.com/caisse/caisse/internal/scenario"
)

// Result is one run of the load against one server.
type Result struct {
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

// Modes of a run.
const (
	modeDurable    = "durable"
	modeVerifyOnly = "verify-only"
)

// options are caisse-bench's flags.
type options struct {
	db          string
	postgresURL string
	url         string
	caisse      string
	events      int
	concurrency int
	rate        int
	verifyOnly  bool
	stored      int
	json        bool
}

func (m *Main) parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("caisse-bench", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.db, "db", "sqlite", "database of the caisse the bench starts: sqlite or postgres")
	fs.StringVar(&o.postgresURL, "postgres-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server for --db postgres (the bench creates and drops a schema)")
	fs.StringVar(&o.url, "url", "", "bench a running caisse at this URL instead (its STRIPE_WEBHOOK_SECRET and CAISSE_ADMIN_TOKEN must be set here)")
	fs.StringVar(&o.caisse, "caisse", "", "the caisse binary to start (default: build it from the caisse repository in the current folder)")
	fs.IntVar(&o.events, "events", 20000, "distinct events to send (about 1 in 10 is also sent twice)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "requests in flight")
	fs.IntVar(&o.rate, "rate", 0, "events a second to send (0: as fast as caisse answers)")
	fs.BoolVar(&o.verifyOnly, "verify-only", true, "also measure a verify-only server, the upper bound: caisse's webhook handler storing nothing")
	fs.IntVar(&o.stored, "stored", 0, "also measure a caisse whose database already holds this many processed events (with their orders, facts and products)")
	fs.BoolVar(&o.json, "json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(m.Stderr, "caisse-bench takes no arguments, only flags (got %q)\n", fs.Args())
		return o, errUsage
	}
	switch {
	case o.db != "sqlite" && o.db != "postgres":
		return o, fmt.Errorf("--db must be sqlite or postgres, not %q", o.db)
	case o.events < 1 || o.concurrency < 1 || o.rate < 0 || o.stored < 0:
		return o, fmt.Errorf("--events and --concurrency must be at least 1, --rate and --stored at least 0")
	}
	return o, nil
}

// bench measures how fast caisse acknowledges and processes a realistic
// event stream, and how close durable acknowledgement comes to verifying
// alone.
func (m *Main) bench(ctx context.Context, args []string) error {
	o, err := m.parse(args)
	if err != nil {
		return err
	}
	secret, token := "whsec_bench_"+randomHex(8), "bench-admin-"+randomHex(12)
	if o.url != "" {
		secret, _, _ = strings.Cut(m.Getenv("STRIPE_WEBHOOK_SECRET"), ",")
		token = m.Getenv("CAISSE_ADMIN_TOKEN")
		if strings.TrimSpace(secret) == "" || token == "" {
			return fmt.Errorf("benching a running caisse (--url) needs its STRIPE_WEBHOOK_SECRET and CAISSE_ADMIN_TOKEN in this environment")
		}
		secret = strings.TrimSpace(secret)
	} else if o.caisse == "" {
		dir, err := os.MkdirTemp("", "caisse-bench-build-")
		if err != nil {
			return fmt.Errorf("error making a folder to build caisse in: %w", err)
		}
		defer os.RemoveAll(dir)
		fmt.Fprintf(m.Stderr, "building caisse (pass --caisse PATH to use a binary already built)\n")
		if o.caisse, err = buildCaisse(ctx, dir, m.Stderr); err != nil {
			return err
		}
	} else if _, err := os.Stat(o.caisse); err != nil {
		return fmt.Errorf("--caisse: %w", err)
	}

	rng := mathrand.New(mathrand.NewPCG(1, 2))
	s := scenario.Generate(rng, o.events/3+1, 50)
	if len(s.Events) > o.events {
		s.Events = s.Events[:o.events]
	}
	deliveries := s.Shuffled(rng, 10)
	fmt.Fprintf(m.Stderr, "bench: %d events (%d deliveries), %d in flight\n", len(s.Events), len(deliveries), o.concurrency)

	run := func(mode string, seed int) (Result, error) {
		r := Result{Mode: mode, Events: len(s.Events), Deliveries: len(deliveries), Stored: seed}
		var srv *child.Process
		base := o.url
		if base == "" {
			var err error
			var stop func()
			if srv, stop, err = m.startServer(ctx, o, mode, seed, secret, token); err != nil {
				return r, err
			}
			defer stop()
			base = srv.URL
		}
		if mode == modeDurable {
			if err := putProducts(base, token, s.Products); err != nil {
				return r, err
			}
		}
		start := time.Now()
		lat := make([]time.Duration, len(deliveries))
		var next, acked atomic.Int64
		var errs atomic.Int64
		var tick <-chan time.Time
		if o.rate > 0 {
			t := time.NewTicker(time.Second / time.Duration(o.rate))
			defer t.Stop()
			tick = t.C
		}
		var gate sync.Mutex
		var wg sync.WaitGroup
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency}}
		for range o.concurrency {
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
		if mode == modeDurable {
			stop := progress(m.Stderr, mode, func() string {
				pending, _ := readMetric(base, "caisse_queue_depth")
				return fmt.Sprintf("%.0f of %d events still to process", pending, len(s.Events))
			})
			// Done once no event is pending: a cheap question even with
			// millions of events stored, unlike counting them.
			for {
				pending, err := anyPending(base, token)
				if err != nil {
					stop()
					return r, err
				}
				if !pending {
					break
				}
				select {
				case <-ctx.Done():
					stop()
					return r, ctx.Err()
				case <-time.After(100 * time.Millisecond):
				}
			}
			stop()
			r.ProcessedPerS = float64(len(s.Events)) / time.Since(start).Seconds()
		}
		if srv != nil {
			_, r.PeakRSSMiB = srv.RSS()
		}
		return r, nil
	}

	var results []Result
	durable, err := run(modeDurable, 0)
	if err != nil {
		return err
	}
	results = append(results, durable)
	var only, grown *Result
	if o.verifyOnly && o.url == "" {
		r, err := run(modeVerifyOnly, 0)
		if err != nil {
			return err
		}
		results = append(results, r)
		only = &results[len(results)-1]
	}
	if o.stored > 0 && o.url == "" {
		r, err := run(modeDurable, o.stored)
		if err != nil {
			return err
		}
		results = append(results, r)
		grown = &results[len(results)-1]
	}
	if o.json {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	w := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "MODE\tDB\tSTORED\tEVENTS\tACKED/S\tP50 MS\tP99 MS\tP99.9 MS\tPROCESSED/S\tPEAK RSS MIB\tERRORS\n")
	for _, r := range results {
		processed := "-"
		if r.ProcessedPerS > 0 {
			processed = strconv.FormatFloat(r.ProcessedPerS, 'f', 0, 64)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t%.0f\t%d\n", r.Mode, o.db, r.Stored, r.Deliveries,
			r.AckPerSecond, r.P50ms, r.P99ms, r.P999ms, processed, r.PeakRSSMiB, r.Errors)
	}
	if only != nil {
		fmt.Fprintf(w, "\ndurable ack rate / verify-only ack rate = %.2f\n", durable.AckPerSecond/only.AckPerSecond)
	}
	if grown != nil {
		fmt.Fprintf(w, "with %d events stored / empty: ack rate %.2f, p99 %.2f, processing rate %.2f\n", grown.Stored,
			grown.AckPerSecond/durable.AckPerSecond, grown.P99ms/durable.P99ms, grown.ProcessedPerS/durable.ProcessedPerS)
	}
	return w.Flush()
}

// startServer starts the server one run measures: the real `caisse serve`
// on a fresh database (first seeded with seed events) for a durable run, or
// this program's verify-only server. stop ends it and drops its database.
func (m *Main) startServer(ctx context.Context, o options, mode string, seed int, secret, token string) (srv *child.Process, stop func(), err error) {
	var cleanups []func()
	stop = func() {
		for _, f := range slices.Backward(cleanups) {
			f()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	exe, args := o.caisse, []string{"serve"}
	env := []string{"CAISSE_ADDR=127.0.0.1:0", "STRIPE_WEBHOOK_SECRET=" + secret}
	if mode == modeVerifyOnly {
		if exe, err = os.Executable(); err != nil {
			return nil, stop, fmt.Errorf("error finding caisse-bench's own binary to start its verify-only server: %w", err)
		}
		args = []string{verifyOnlyServer}
	} else {
		dbURL, drop, err := newDatabase(o.db, o.postgresURL)
		if err != nil {
			return nil, stop, err
		}
		cleanups = append(cleanups, drop)
		if seed > 0 {
			fmt.Fprintf(m.Stderr, "%s: storing %d events first\n", mode, seed)
			if err := seedDatabase(ctx, o.db, dbURL, seed); err != nil {
				return nil, stop, err
			}
		}
		env = append(env, "CAISSE_DATABASE_URL="+dbURL, "CAISSE_ADMIN_TOKEN="+token, "CAISSE_LIVEMODE=")
	}
	logs := &logTail{}
	srv, err = child.Start(exe, args, env, logs)
	if err != nil {
		return nil, stop, fmt.Errorf("%s run: %w; its last log lines:\n%s", mode, err, logs)
	}
	cleanups = append(cleanups, func() {
		srv.Cmd.Process.Signal(syscall.SIGTERM)
		<-srv.Exit
	})
	return srv, stop, nil
}

// logTail keeps the last lines a server logged, to say why it did not start.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

// logTailLines is how many lines a logTail keeps.
const logTailLines = 20

func (t *logTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, string(p))
	if len(t.lines) > logTailLines {
		t.lines = slices.Delete(t.lines, 0, len(t.lines)-logTailLines)
	}
	return len(p), nil
}

func (t *logTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "")
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

// putProducts creates the scenario's products through the admin API.
func putProducts(base, token string, products []scenario.Product) error {
	for _, p := range products {
		body, _ := json.Marshal(caisse.NewProductUpdate(p.Name, p.Price, "eur", p.Stock))
		req, _ := http.NewRequest(http.MethodPut, base+"/api/admin/products/"+p.ID, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("error creating product %s: %w", p.ID, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("error creating product %s: caisse answered %d (is CAISSE_ADMIN_TOKEN caisse's?)", p.ID, res.StatusCode)
		}
	}
	return nil
}

// anyPending reports whether any event waits to be processed.
func anyPending(base, token string) (bool, error) {
	req, _ := http.NewRequest(http.MethodGet, base+"/api/admin/events?status=pending&limit=1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("error listing pending events: %w", err)
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

// readMetric reads one value from a server's /metrics (0 when absent).
func readMetric(base, name string) (float64, error) {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
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
