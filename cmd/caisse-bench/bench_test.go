package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/caisse/caisse/internal/child"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/stripe"
)

// TestMain lets the test binary be caisse-bench's verify-only server, which
// the bench starts as its own executable.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == verifyOnlyServer {
		main()
		return
	}
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// built is the caisse binary the tests bench, built once.
var built struct {
	once sync.Once
	dir  string
	exe  string
	err  error
}

// caisseBinary builds the real caisse, once for all the tests.
func caisseBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "caisse-bench-test-"); built.err == nil {
			built.exe, built.err = buildCaisse(context.Background(), built.dir, "", testWriter{t})
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.exe
}

// caisse-bench builds the real caisse, runs end to end on both databases,
// and reports every figure.
func TestBench(t *testing.T) {
	exe := caisseBinary(t)
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		var out, errOut bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
		args := []string{"--caisse", exe, "--db", string(kind), "--events", "300", "--concurrency", "8", "--stored", "3000", "--json"}
		if kind == dbtest.Postgres {
			args = append(args, "--postgres-url", dbtest.PostgresURL())
		}
		if code := m.Run(context.Background(), args); code != 0 {
			t.Fatalf("caisse-bench exited %d: %s", code, errOut.String())
		}
		var results []Result
		if err := json.Unmarshal(out.Bytes(), &results); err != nil || len(results) != 3 {
			t.Fatalf("caisse-bench printed %s (%v)", out.String(), err)
		}
		durable, only, grown := results[0], results[1], results[2]
		if durable.Mode != "durable" || only.Mode != "verify-only" || grown.Mode != "durable" || grown.Stored != 3000 {
			t.Fatalf("runs %+v, %+v, %+v", durable, only, grown)
		}
		for _, r := range results {
			if r.Errors != 0 || r.AckPerSecond <= 0 || r.P50ms <= 0 || r.P99ms < r.P50ms || r.PeakRSSMiB <= 0 || r.Deliveries < 300 {
				t.Errorf("%s: %+v", r.Mode, r)
			}
			if r.DB != string(kind) || r.Processed <= 0 || r.ProcessCPUmsPerEvent <= 0 ||
				r.CPUmsPerEvent != r.ProcessCPUmsPerEvent+r.BackendsCPUmsPerEvent {
				t.Errorf("%s: no CPU per event: %+v", r.Mode, r)
			}
		}
		for _, r := range []Result{durable, grown} {
			if r.ProcessedPerS <= 0 || r.Processed != r.Events || r.StatementsPerEvent <= 0 {
				t.Errorf("no processing rate or statements per event: %+v", r)
			}
			if postgres := kind == dbtest.Postgres; postgres != (r.BackendsCPUmsPerEvent > 0) || postgres != (r.Backends > 0) {
				t.Errorf("%s: PostgreSQL backends' CPU %v ms per event (%d backends)", kind, r.BackendsCPUmsPerEvent, r.Backends)
			}
		}
		if only.ProcessedPerS != 0 || only.StatementsPerEvent != 0 || only.Backends != 0 || only.Processed != only.Deliveries {
			t.Errorf("the verify-only run processed events: %+v", only)
		}
	})
}

// inlineNodeDir is the inline handler's folder: $CAISSE_BENCH_INLINE_NODE,
// or ../shared/baselines/inline-node next to the repository.
func inlineNodeDir() string {
	if dir := os.Getenv("CAISSE_BENCH_INLINE_NODE"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "..", "shared", "baselines", "inline-node")
}

// With --inline-node, the inline handler gets the same deliveries as caisse,
// on a PostgreSQL database of its own, and its row carries the same figures:
// every delivery it acknowledges is an event processed. The first run
// installs its dependencies with npm, from the npm registry.
func TestBenchInlineNode(t *testing.T) {
	t.Parallel()
	dir := inlineNodeDir()
	if _, err := os.Stat(filepath.Join(dir, "server.js")); err != nil {
		t.Skipf("no inline handler at %s (set CAISSE_BENCH_INLINE_NODE to its folder): %v", dir, err)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the inline handler runs on Node, with dependencies npm installs from the npm registry", tool)
		}
	}
	dbtest.RequirePostgres(t)
	exe := caisseBinary(t)
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	args := []string{"--caisse", exe, "--db", "postgres", "--postgres-url", dbtest.PostgresURL(), "--events", "300",
		"--concurrency", "8", "--verify-only=false", "--inline-node", dir, "--json"}
	if code := m.Run(context.Background(), args); code != 0 {
		t.Fatalf("caisse-bench exited %d: %s", code, errOut.String())
	}
	var results []Result
	if err := json.Unmarshal(out.Bytes(), &results); err != nil || len(results) != 2 {
		t.Fatalf("caisse-bench printed %s (%v)", out.String(), err)
	}
	durable, inline := results[0], results[1]
	if durable.Mode != "durable" || inline.Mode != "inline-node" || inline.DB != "postgres" || inline.Deliveries != durable.Deliveries {
		t.Fatalf("runs %+v, %+v", durable, inline)
	}
	if inline.Errors != 0 || inline.AckPerSecond <= 0 || inline.P50ms <= 0 || inline.PeakRSSMiB <= 0 ||
		inline.Processed != inline.Deliveries || inline.ProcessedPerS != inline.AckPerSecond {
		t.Errorf("inline handler: %+v", inline)
	}
	if inline.ProcessCPUmsPerEvent <= 0 || inline.BackendsCPUmsPerEvent <= 0 || inline.Backends == 0 ||
		inline.CPUmsPerEvent != inline.ProcessCPUmsPerEvent+inline.BackendsCPUmsPerEvent {
		t.Errorf("inline handler's CPU per event: %+v", inline)
	}
	// At least BEGIN and COMMIT for every delivery.
	if inline.StatementsPerEvent < 2 {
		t.Errorf("inline handler's statements per event: %v", inline.StatementsPerEvent)
	}
}

// testWriter sends the go command's output to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// The verify-only server answers through caisse's own webhook handler: a
// signed event is acknowledged, a bad signature or a malformed event is
// refused, and nothing is kept.
func TestVerifyOnlyServer(t *testing.T) {
	t.Parallel()
	const secret = "whsec_verify_only_test_0123456789"
	var logs syncBuffer
	srv, err := child.Start(os.Args[0], []string{verifyOnlyServer}, []string{"CAISSE_ADDR=127.0.0.1:0", "STRIPE_WEBHOOK_SECRET=" + secret}, &logs)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		srv.Cmd.Process.Kill()
		<-srv.Exit
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the webhook secret appears in the verify-only server's logs")
		}
	})

	payload, err := stripe.Build(stripe.Example{Type: "checkout.session.completed", EventID: "evt_verify_only", OrderID: "o_1"})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body []byte, key string) int {
		t.Helper()
		header := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
			Payload: body, Secret: key, Timestamp: time.Now(), Scheme: "v1"}).Header
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/stripe", bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", header)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if code := post(payload, secret); code != http.StatusOK {
		t.Errorf("a signed event: %d, want 200", code)
	}
	if code := post(payload, "whsec_someone_else"); code != http.StatusBadRequest {
		t.Errorf("a bad signature: %d, want 400", code)
	}
	if code := post([]byte(`{"not":"an event"}`), secret); code != http.StatusBadRequest {
		t.Errorf("a signed body that is not an event: %d, want 400", code)
	}
	refused, err := readMetric(srv.URL, `caisse_webhook_requests_total{outcome="bad_signature"}`)
	if err != nil || refused != 1 {
		t.Errorf("bad signatures counted: %v (%v), want 1", refused, err)
	}
	// The admin API is off: the server has nothing to show.
	res, err := http.Get(srv.URL + "/api/admin/events/evt_verify_only")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("admin API: %d, want 404", res.StatusCode)
	}
}

// syncBuffer collects a child's log lines.
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

// --help explains that the bench builds caisse from the repository; a wrong
// flag is a usage error, and a bad --db, or --inline-node without PostgreSQL,
// is refused before anything starts.
func TestUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "go build -o TEMPDIR/caisse github.com/caisse/caisse/cmd/caisse"},
		{[]string{"--no-such-flag"}, 2, "flag provided but not defined: -no-such-flag"},
		{[]string{"--db", "mysql"}, 1, "--db must be sqlite, postgres or both"},
		{[]string{"--inline-node", "nowhere"}, 1, "--inline-node runs the inline handler on PostgreSQL: add --db postgres"},
		{[]string{"--url", "http://127.0.0.1:1"}, 1, "needs its STRIPE_WEBHOOK_SECRET and CAISSE_ADMIN_TOKEN"},
	} {
		var out, errOut bytes.Buffer
		m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
		if code := m.Run(context.Background(), tc.args); code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("caisse-bench %v: exit %d, want %d; stderr %q should contain %q", tc.args, code, tc.code, errOut.String(), tc.want)
		}
	}
}
