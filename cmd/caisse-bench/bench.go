package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/child"
	"github.com/caisse/caisse/internal/scenario"
)

// Result is one run of the load against one server.
type Result struct {
	Mode       string `json:"mode"`
	DB         string `json:"db"`
	Events     int    `json:"events"`
	Deliveries int    `json:"deliveries"`
	Stored     int    `json:"stored"`
	// Rate is the events a second the sender kept to (0: as fast as the
	// server answered).
	Rate          int     `json:"rate,omitempty"`
	AckPerSecond  float64 `json:"acked_per_second"`
	P50ms         float64 `json:"ack_p50_ms"`
	P99ms         float64 `json:"ack_p99_ms"`
	P999ms        float64 `json:"ack_p999_ms"`
	ProcessedPerS float64 `json:"processed_per_second,omitempty"`
	// Processed is the number of events the CPU and statements are divided
	// by: the distinct events caisse processed, or the deliveries the inline
	// handler or the verify-only server acknowledged (they keep nothing to
	// recognise a second delivery by, so each one is work done).
	Processed int `json:"processed"`
	// CPUmsPerEvent is ProcessCPUmsPerEvent + BackendsCPUmsPerEvent.
	CPUmsPerEvent float64 `json:"cpu_ms_per_event"`
	// ProcessCPUmsPerEvent is the server process's CPU time (user and
	// system, all threads) over the run, per processed event.
	ProcessCPUmsPerEvent float64 `json:"process_cpu_ms_per_event"`
	// BackendsCPUmsPerEvent is the CPU time of the PostgreSQL backends
	// serving the server's connections over the run, per processed event.
	BackendsCPUmsPerEvent float64 `json:"backends_cpu_ms_per_event"`
	// Backends is how many PostgreSQL backends served it during the run.
	Backends int `json:"backends"`
	// StatementsPerEvent is the SQL statements the server ran over the run
	// (BEGIN and COMMIT included) per processed event; 0 when not counted.
	StatementsPerEvent float64 `json:"statements_per_event"`
	PeakRSSMiB         float64 `json:"peak_rss_mib"`
	Errors             int64   `json:"errors"`
}

// Modes of a run.
const (
	modeDurable    = "durable"
	modeVerifyOnly = "verify-only"
	modeInlineNode = "inline-node"
)

// options are caisse-bench's flags.
type options struct {
	// db is the database of the run at hand; dbs are those --db names.
	db          string
	dbs         []string
	postgresURL string
	url         string
	caisse      string
	events      int
	concurrency int
	duplicates  int
	rate        int
	steadyRate  int
	cpuprofile  string
	// profile is the file the run at hand's CPU profile goes to ("": none).
	profile    string
	verifyOnly bool
	stored     int
	inlineNode string
	json       bool
}

func (m *Main) parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("caisse-bench", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.db, "db", "sqlite", "database of the caisse the bench starts: sqlite, postgres, or both (sqlite,postgres), each run in turn on the same stream")
	fs.StringVar(&o.postgresURL, "postgres-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server for --db postgres (the bench creates and drops a schema)")
	fs.StringVar(&o.url, "url", "", "bench a running caisse at this URL instead (its STRIPE_WEBHOOK_SECRET and CAISSE_ADMIN_TOKEN must be set here)")
	fs.StringVar(&o.caisse, "caisse", "", "the caisse binary to start (default: build it from the caisse repository in the current folder)")
	fs.IntVar(&o.events, "events", 20000, "distinct events to send")
	fs.IntVar(&o.duplicates, "duplicates", 10, "about 1 event in this many is delivered again, and 1 in this many of those once more, as Stripe retries (3: half as many deliveries again as events; 0: none)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "requests in flight")
	fs.IntVar(&o.rate, "rate", 0, "events a second to send (0: as fast as caisse answers)")
	fs.IntVar(&o.steadyRate, "steady-rate", 0, "then run caisse once more on each database at this many events a second, for the acknowledgement latency at a steady rate (0: no such run)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of each caisse run into this folder (caisse-DB-MODE.pprof), read with 'go tool pprof'; the caisse built (or given with --caisse) must be built with -tags cpuprofile")
	fs.BoolVar(&o.verifyOnly, "verify-only", true, "also measure a verify-only server, the upper bound: caisse's webhook handler storing nothing")
	fs.IntVar(&o.stored, "stored", 0, "also measure a caisse whose database already holds this many processed events (with their orders, facts and products)")
	fs.StringVar(&o.inlineNode, "inline-node", "", "also measure the inline handler in this folder (a Node server applying each event inline; needs --db postgres, node and npm): npm install, a fresh database, the same deliveries")
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
	if o.db == "both" {
		o.db = "sqlite,postgres"
	}
	for db := range strings.SplitSeq(o.db, ",") {
		if db != "sqlite" && db != "postgres" || slices.Contains(o.dbs, db) {
			return o, fmt.Errorf("--db must be sqlite, postgres or both (sqlite,postgres), not %q", o.db)
		}
		o.dbs = append(o.dbs, db)
	}
	o.db = o.dbs[0]
	switch {
	case o.events < 1 || o.concurrency < 1 || o.rate < 0 || o.steadyRate < 0 || o.stored < 0 || o.duplicates < 0 || o.duplicates == 1:
		return o, fmt.Errorf("--events and --concurrency must be at least 1, --rate, --steady-rate and --stored at least 0, --duplicates 0 or at least 2")
	case o.inlineNode != "" && !slices.Contains(o.dbs, "postgres"):
		return o, fmt.Errorf("--inline-node runs the inline handler on PostgreSQL: add --db postgres (or --db both)")
	case len(o.dbs) > 1 && o.url != "":
		return o, fmt.Errorf("--url benches the one caisse running there: give --db its database alone")
	}
	return o, nil
}

// bench measures how fast caisse acknowledges and processes a realistic
// event stream and what each event costs it, how close durable
// acknowledgement comes to verifying alone, and, with --inline-node, what
// the same stream costs a handler that applies each event inline.
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
		tags := ""
		if o.cpuprofile != "" {
			tags = "cpuprofile"
		}
		dir, err := os.MkdirTemp("", "caisse-bench-build-")
		if err != nil {
			return fmt.Errorf("error making a folder to build caisse in: %w", err)
		}
		defer os.RemoveAll(dir)
		fmt.Fprintf(m.Stderr, "building caisse (pass --caisse PATH to use a binary already built)\n")
		if o.caisse, err = buildCaisse(ctx, dir, tags, m.Stderr); err != nil {
			return err
		}
	} else if _, err := os.Stat(o.caisse); err != nil {
		return fmt.Errorf("--caisse: %w", err)
	}
	var inlineDir string
	if o.inlineNode != "" {
		if inlineDir, err = prepareInlineNode(ctx, o.inlineNode, m.Stderr); err != nil {
			return err
		}
	}
	// admin watches PostgreSQL's backends and creates the inline handler's
	// database.
	var admin *sql.DB
	if slices.Contains(o.dbs, "postgres") {
		if admin, err = sql.Open("pgx", o.postgresURL); err != nil {
			return fmt.Errorf("error connecting to PostgreSQL (see --postgres-url): %w", err)
		}
		defer admin.Close()
	}

	rng := mathrand.New(mathrand.NewPCG(1, 2))
	s := scenario.Generate(rng, o.events/3+1, 50)
	if len(s.Events) > o.events {
		s.Events = s.Events[:o.events]
	}
	deliveries := s.Shuffled(rng, o.duplicates)
	fmt.Fprintf(m.Stderr, "bench: %d events (%d deliveries), %d in flight\n", len(s.Events), len(deliveries), o.concurrency)

	// run measures one server: o says its database and the rate to send at.
	run := func(o options, mode string, seed int) (Result, error) {
		r := Result{Mode: mode, DB: o.db, Events: len(s.Events), Deliveries: len(deliveries), Stored: seed, Rate: o.rate}
		if o.cpuprofile != "" && mode == modeDurable {
			name := fmt.Sprintf("caisse-%s-%s.pprof", o.db, mode)
			if seed > 0 {
				name = fmt.Sprintf("caisse-%s-stored.pprof", o.db)
			} else if o.rate > 0 {
				name = fmt.Sprintf("caisse-%s-rate%d.pprof", o.db, o.rate)
			}
			o.profile = filepath.Join(o.cpuprofile, name)
		}
		srv, stop, err := m.startRun(ctx, o, mode, seed, secret, token, inlineDir, admin)
		if err != nil {
			return r, err
		}
		defer stop()
		switch mode {
		case modeDurable:
			err = putProducts(srv.url, token, s.Products)
		case modeInlineNode:
			err = srv.inline.putProducts(ctx, s.Products)
		}
		if err != nil {
			return r, err
		}

		// The run starts here: the figures count from now.
		statementsBefore, err := srv.statements()
		if err != nil {
			return r, err
		}
		cpuBefore := processCPU(srv.pid)
		var backends *backendWatch
		if srv.app != "" {
			if backends, err = watchBackends(ctx, admin, srv.app); err != nil {
				fmt.Fprintf(m.Stderr, "%s: PostgreSQL's CPU is left out: %v\n", mode, err)
			}
		}
		start := time.Now()
		acks, err := send(ctx, o, srv.url, secret, deliveries, m.Stderr, mode)
		if err != nil {
			return r, err
		}
		r.AckPerSecond = float64(len(deliveries)) / acks.time.Seconds()
		r.P50ms, r.P99ms, r.P999ms = acks.p50, acks.p99, acks.p999
		r.Errors = acks.errors
		switch mode {
		case modeDurable:
			if err := waitProcessed(ctx, srv.url, token, len(s.Events), m.Stderr); err != nil {
				return r, err
			}
			r.Processed = len(s.Events)
			r.ProcessedPerS = float64(r.Processed) / time.Since(start).Seconds()
		case modeInlineNode:
			r.Processed = acks.ok
			r.ProcessedPerS = float64(r.Processed) / acks.time.Seconds()
		default:
			r.Processed = acks.ok
		}

		// The run ends here.
		cpu := processCPU(srv.pid) - cpuBefore
		var backendTicks int64
		if backends != nil {
			if backendTicks, r.Backends, err = backends.Stop(ctx); err != nil {
				fmt.Fprintf(m.Stderr, "%s: %v\n", mode, err)
			}
		}
		statementsAfter, err := srv.statements()
		if err != nil {
			return r, err
		}
		if r.Processed > 0 {
			n := float64(r.Processed)
			r.ProcessCPUmsPerEvent = ticksToMs(cpu) / n
			r.BackendsCPUmsPerEvent = ticksToMs(backendTicks) / n
			r.CPUmsPerEvent = r.ProcessCPUmsPerEvent + r.BackendsCPUmsPerEvent
			r.StatementsPerEvent = (statementsAfter - statementsBefore) / n
		}
		r.PeakRSSMiB = srv.peakRSS()
		return r, nil
	}

	// Each database's runs, then the inline handler's, then the steady
	// rate's: the figures compared are of one invocation, on one stream.
	var results []Result
	type dbResults struct{ durable, only, grown, steady *Result }
	byDB := map[string]*dbResults{}
	var inline *Result
	add := func(o options, mode string, seed int) (*Result, error) {
		r, err := run(o, mode, seed)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
		return &r, nil
	}
	for _, db := range o.dbs {
		o := o
		o.db = db
		d := &dbResults{}
		byDB[db] = d
		if d.durable, err = add(o, modeDurable, 0); err != nil {
			return err
		}
		if o.verifyOnly && o.url == "" {
			if d.only, err = add(o, modeVerifyOnly, 0); err != nil {
				return err
			}
		}
		if o.stored > 0 && o.url == "" {
			if d.grown, err = add(o, modeDurable, o.stored); err != nil {
				return err
			}
		}
	}
	if o.inlineNode != "" {
		o := o
		o.db = "postgres"
		if inline, err = add(o, modeInlineNode, 0); err != nil {
			return err
		}
	}
	if o.steadyRate > 0 {
		for _, db := range o.dbs {
			o := o
			o.db, o.rate = db, o.steadyRate
			if byDB[db].steady, err = add(o, modeDurable, 0); err != nil {
				return err
			}
		}
	}
	if o.json {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	w := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "MODE\tDB\tSTORED\tRATE\tDELIVERIES\tACKED/S\tP50 MS\tP99 MS\tP99.9 MS\tPROCESSED/S\tCPU MS/EVENT\tPROCESS\tBACKENDS\tSTATEMENTS/EVENT\tPEAK RSS MIB\tERRORS\n")
	dash := func(v float64, prec int) string {
		if v <= 0 {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', prec, 64)
	}
	for _, r := range results {
		backends := dash(r.BackendsCPUmsPerEvent, 3)
		if r.DB == "sqlite" {
			backends = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%s\t%.0f\t%d\n", r.Mode, r.DB, r.Stored, dash(float64(r.Rate), 0), r.Deliveries,
			r.AckPerSecond, r.P50ms, r.P99ms, r.P999ms, dash(r.ProcessedPerS, 0), dash(r.CPUmsPerEvent, 3),
			dash(r.ProcessCPUmsPerEvent, 3), backends, dash(r.StatementsPerEvent, 1), r.PeakRSSMiB, r.Errors)
	}
	fmt.Fprintln(w)
	for _, db := range o.dbs {
		d := byDB[db]
		durable := d.durable
		if d.only != nil {
			fmt.Fprintf(w, "%s: durable ack rate / verify-only ack rate = %.2f\n", db, durable.AckPerSecond/d.only.AckPerSecond)
		}
		if grown := d.grown; grown != nil {
			fmt.Fprintf(w, "%s: with %d events stored / empty: ack rate %.2f, p99 %.2f, processing rate %.2f, CPU per event %.2f\n", db, grown.Stored,
				grown.AckPerSecond/durable.AckPerSecond, grown.P99ms/durable.P99ms, grown.ProcessedPerS/durable.ProcessedPerS,
				grown.CPUmsPerEvent/durable.CPUmsPerEvent)
		}
		if inline != nil && inline.CPUmsPerEvent > 0 {
			fmt.Fprintf(w, "%s: caisse / inline handler, CPU per processed event = %.2f (caisse %.3f ms: %.3f process + %.3f PostgreSQL; inline %.3f ms: %.3f node + %.3f PostgreSQL); processed per second %.2f\n",
				db, durable.CPUmsPerEvent/inline.CPUmsPerEvent, durable.CPUmsPerEvent, durable.ProcessCPUmsPerEvent, durable.BackendsCPUmsPerEvent,
				inline.CPUmsPerEvent, inline.ProcessCPUmsPerEvent, inline.BackendsCPUmsPerEvent, durable.ProcessedPerS/inline.ProcessedPerS)
			fmt.Fprintf(w, "%s: statements per event: caisse %.1f, inline handler %.1f\n", db, durable.StatementsPerEvent, inline.StatementsPerEvent)
		}
		if st := d.steady; st != nil {
			fmt.Fprintf(w, "%s: at a steady %d events/s: ack p50 %.2f ms, p99 %.2f ms, CPU per event %.3f ms\n", db, st.Rate, st.P50ms, st.P99ms, st.CPUmsPerEvent)
		}
	}
	return w.Flush()
}

// acks is how a server answered the deliveries.
type acks struct {
	time           time.Duration // from the first request to the last answer
	p50, p99, p999 float64       // latency percentiles, ms
	ok             int           // deliveries answered 200
	errors         int64         // deliveries not answered 200
}

// send posts the deliveries, signed with secret, to the webhook at base,
// o.concurrency at a time (at o.rate a second when set).
func send(ctx context.Context, o options, base, secret string, deliveries []scenario.Event, logs io.Writer, mode string) (acks, error) {
	start := time.Now()
	lat := make([]time.Duration, len(deliveries))
	var next, acked, errs atomic.Int64
	var tick <-chan time.Time
	if o.rate > 0 {
		t := time.NewTicker(time.Second / time.Duration(o.rate))
		defer t.Stop()
		tick = t.C
	}
	var gate sync.Mutex
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency}}
	defer client.CloseIdleConnections()
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
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
	stop := progress(logs, mode, func() string {
		return fmt.Sprintf("acked %d/%d", acked.Load(), len(deliveries))
	})
	wg.Wait()
	a := acks{time: time.Since(start), errors: errs.Load()}
	stop()
	if err := ctx.Err(); err != nil {
		return a, err
	}
	a.ok = len(deliveries) - int(a.errors)
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)].Microseconds()) / 1000
	}
	a.p50, a.p99, a.p999 = pct(0.50), pct(0.99), pct(0.999)
	return a, nil
}

// waitProcessed waits until caisse at base has no event left to process.
func waitProcessed(ctx context.Context, base, token string, events int, logs io.Writer) error {
	stop := progress(logs, modeDurable, func() string {
		pending, _ := readMetric(base, "caisse_queue_depth")
		return fmt.Sprintf("%.0f of %d events still to process", pending, events)
	})
	defer stop()
	// Done once no event is pending: a cheap question even with millions of
	// events stored, unlike counting them.
	for {
		pending, err := anyPending(base, token)
		if err != nil {
			return err
		}
		if !pending {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runServer is the server one run measures.
type runServer struct {
	// url is where it listens.
	url string
	// pid is its process, whose CPU is measured (0: not started by the
	// bench, not measured).
	pid int
	// app is the application_name of its PostgreSQL connections, whose
	// backends' CPU is measured ("": none).
	app string
	// statements returns the SQL statements it has run so far (0 when it
	// does not count them).
	statements func() (float64, error)
	// peakRSS returns its peak resident memory in MiB (0: unknown).
	peakRSS func() float64
	// inline is the inline handler, for its run.
	inline *inlineNode
}

// startRun starts the server one run measures: the real `caisse serve` on
// a fresh database (first seeded with seed events) for a durable run, this
// program's verify-only server, or the inline handler installed in
// inlineDir on a fresh PostgreSQL database. stop ends it and drops its
// database. With --url, a durable run measures the caisse there.
func (m *Main) startRun(ctx context.Context, o options, mode string, seed int, secret, token, inlineDir string, admin *sql.DB) (srv runServer, stop func(), err error) {
	noRSS := func() float64 { return 0 }
	switch {
	case mode == modeInlineNode:
		n, stop, err := startInlineNode(ctx, inlineDir, o.postgresURL, admin, secret)
		if err != nil {
			return srv, stop, err
		}
		p := child.Process{Cmd: n.cmd}
		return runServer{url: n.url, pid: n.cmd.Process.Pid, app: n.app, statements: n.statements,
			peakRSS: func() float64 { _, peak := p.RSS(); return peak }, inline: n}, stop, nil
	case o.url != "":
		return runServer{url: o.url, statements: caisseStatements(o.url), peakRSS: noRSS}, func() {}, nil
	}
	app := ""
	if mode == modeDurable && o.db == "postgres" {
		app = "caisse-bench-caisse-" + randomHex(4)
	}
	p, stop, err := m.startServer(ctx, o, mode, seed, secret, token, app)
	if err != nil {
		return srv, stop, err
	}
	return runServer{url: p.URL, pid: p.Cmd.Process.Pid, app: app, statements: caisseStatements(p.URL),
		peakRSS: func() float64 { _, peak := p.RSS(); return peak }}, stop, nil
}

// caisseStatements reads caisse's count of the SQL statements it ran.
func caisseStatements(base string) func() (float64, error) {
	return func() (float64, error) {
		n, err := readMetric(base, "caisse_sql_statements_total")
		if err != nil {
			return 0, fmt.Errorf("error reading caisse_sql_statements_total from %s/metrics: %w", base, err)
		}
		return n, nil
	}
}

// startServer starts the real `caisse serve` on a fresh database (first
// seeded with seed events) for a durable run, or this program's verify-only
// server. On PostgreSQL, caisse's connections carry application_name app.
// stop ends it and drops its database.
func (m *Main) startServer(ctx context.Context, o options, mode string, seed int, secret, token, app string) (srv *child.Process, stop func(), err error) {
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
	if o.profile != "" {
		env = append(env, "CAISSE_CPUPROFILE="+o.profile)
	}
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
			if err := seedDatabase(ctx, dbURL, seed); err != nil {
				return nil, stop, err
			}
		}
		if app != "" {
			// pgx sends it as a connection parameter: PostgreSQL shows it
			// in pg_stat_activity, where the bench finds caisse's backends.
			u, err := url.Parse(dbURL)
			if err != nil {
				return nil, stop, fmt.Errorf("error tagging caisse's database URL: %w", err)
			}
			q := u.Query()
			q.Set("application_name", app)
			u.RawQuery = q.Encode()
			dbURL = u.String()
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
		width := 0 // of the line last printed, to blank it out
		for {
			select {
			case <-done:
				fmt.Fprintf(w, "\r%*s\r", width, "")
				return
			case <-t.C:
				line := mode + ": " + status()
				fmt.Fprintf(w, "\r%-*s", width, line)
				width = max(width, len(line))
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
