// Package jobsuitest checks River's web UI as a database serves it, for
// the tests of each database package.
package jobsuitest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Prefix is where the tests mount the UI, as the admin pages do.
const Prefix = "/admin/jobs"

// DB is a database of caisse with River's UI.
type DB interface {
	Open(ctx context.Context) error
	Migrate(ctx context.Context) error
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Close() error
	JobsUI(logger *slog.Logger, prefix string) (http.Handler, error)
}

// Lifecycle checks that db serves River's UI once open and started (Check),
// and refuses to before it is open or once it is closed.
func Lifecycle(t *testing.T, db DB) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.JobsUI(nil, Prefix); err == nil || !strings.Contains(err.Error(), "open the database first") {
		t.Fatalf("JobsUI before Open: %v, want an error saying to open the database first", err)
	}
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			db.Close()
		}
	})
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ui, err := db.JobsUI(nil, Prefix)
	if err != nil {
		t.Fatal(err)
	}
	Check(t, ui)

	if err := db.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	closed = true
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.JobsUI(nil, Prefix); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("JobsUI after Close: %v, want an error saying the database is closed", err)
	}
}

// Check mounts ui at Prefix, behind Go's cross-origin protection as the
// admin pages put it, and checks that it serves River UI's index page and
// the assets it names, lists the jobs of the database's started River
// client (the sweep of expired checkouts, which runs when the client
// starts) and its queue, counts jobs by state, and retries a job with a
// same-origin POST while refusing a cross-site one.
func Check(t *testing.T, ui http.Handler) {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(Prefix+"/", http.NewCrossOriginProtection().Handler(ui))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	base := srv.URL + Prefix

	// The index page, with the prefix as the base of its API and assets.
	status, ctype, body := get(t, base+"/", "text/html")
	if status != http.StatusOK || !strings.HasPrefix(ctype, "text/html") {
		t.Fatalf("GET %s/: %d %s, want 200 HTML: %.300s", Prefix, status, ctype, body)
	}
	for _, want := range []string{"<title>River</title>", `id="config__json"`, `"apiUrl":"` + Prefix + `/api"`, `"base":"` + Prefix + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("River UI's index page lacks %s:\n%s", want, body)
		}
	}
	// Every asset it names is served from the binary, under the prefix.
	assets := regexp.MustCompile(`(?:href|src)="([^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(assets) < 2 {
		t.Errorf("the index page names %d assets, want its script and style sheet at least", len(assets))
	}
	for _, m := range assets {
		if !strings.HasPrefix(m[1], Prefix+"/") {
			t.Errorf("the index page names %s, outside %s/", m[1], Prefix)
			continue
		}
		if status, _, _ := get(t, srv.URL+m[1], "*/*"); status != http.StatusOK {
			t.Errorf("GET %s: %d, want 200", m[1], status)
		}
	}
	// Deep links of the single-page app answer with the index page too.
	if status, ctype, _ := get(t, base+"/jobs?state=completed", "text/html"); status != http.StatusOK || !strings.HasPrefix(ctype, "text/html") {
		t.Errorf("GET %s/jobs: %d %s, want 200 HTML", Prefix, status, ctype)
	}

	// The jobs list: the sweep that ran when the client started.
	type job struct {
		ID    int64  `json:"id"`
		Kind  string `json:"kind"`
		State string `json:"state"`
		Queue string `json:"queue"`
		Args  string `json:"args"`
	}
	var jobs struct{ Data []job }
	var sweep *job
	for deadline := time.Now().Add(30 * time.Second); sweep == nil; {
		getJSON(t, base+"/api/jobs?state=completed&limit=100", &jobs)
		for i, j := range jobs.Data {
			if j.Kind == "sweep_checkouts" {
				sweep = &jobs.Data[i]
			}
		}
		if sweep == nil {
			if time.Now().After(deadline) {
				t.Fatalf("GET %s/api/jobs?state=completed lists no completed sweep_checkouts job after 30s: %+v", Prefix, jobs.Data)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if sweep.State != "completed" || sweep.Queue != "default" || sweep.ID == 0 {
		t.Errorf("the sweep job as listed: %+v", *sweep)
	}
	// One job, in full.
	var one job
	getJSON(t, base+"/api/jobs/"+itoa(sweep.ID), &one)
	if one.ID != sweep.ID || one.Kind != "sweep_checkouts" {
		t.Errorf("GET /api/jobs/%d: %+v", sweep.ID, one)
	}

	// The queues the client registered when it started.
	var queues struct {
		Data []struct {
			Name string `json:"name"`
		}
	}
	getJSON(t, base+"/api/queues", &queues)
	if len(queues.Data) != 1 || queues.Data[0].Name != "default" {
		t.Errorf("GET %s/api/queues: %+v, want the default queue", Prefix, queues.Data)
	}

	// Counts by state.
	var states map[string]struct {
		Count int `json:"count"`
	}
	getJSON(t, base+"/api/states", &states)
	if states["completed"].Count < 1 {
		t.Errorf("GET %s/api/states: %+v, want a completed job at least", Prefix, states)
	}

	// Actions are POSTs from the page itself, which the browser marks
	// same-origin; the same POST from another site is refused.
	retry := `{"ids":["` + itoa(sweep.ID) + `"]}`
	if status, body := post(t, base+"/api/jobs/retry", retry, "cross-site"); status != http.StatusForbidden {
		t.Errorf("a cross-site POST %s/api/jobs/retry: %d %s, want 403", Prefix, status, body)
	}
	if status, body := post(t, base+"/api/jobs/retry", retry, "same-origin"); status != http.StatusOK {
		t.Errorf("a same-origin POST %s/api/jobs/retry: %d %s, want 200", Prefix, status, body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func get(t *testing.T, url, accept string) (status int, ctype, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", accept)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Content-Type"), string(b)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	status, ctype, body := get(t, url, "application/json")
	if status != http.StatusOK || !strings.HasPrefix(ctype, "application/json") {
		t.Fatalf("GET %s: %d %s, want 200 JSON: %.500s", url, status, ctype, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v: %.500s", url, err, body)
	}
}

func post(t *testing.T, url, body, site string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Sec-Fetch-Site", site)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
