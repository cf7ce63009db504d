package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/sanityfake"
	"github.com/caisse/caisse/internal/smtptest"
)

// notifySecret signs the webhooks caisse sends to the shop's endpoint in
// the tests: whsec_ and a base64 key of 32 bytes.
var notifySecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("caisse-tests-notify-key-32-bytes"))

// receivers are the far ends of every delivery channel, each following its
// protocol: a real SMTP server, a Sanity API, a Slack-compatible webhook and
// the shop's own endpoint.
type receivers struct {
	mail   *smtptest.Server
	sanity *sanityfake.Server
	slack  *hookServer
	shop   *hookServer
}

// startReceivers starts them all. mail may hold its answers (smtptest.Options).
func startReceivers(t *testing.T, mail smtptest.Options) *receivers {
	t.Helper()
	return &receivers{
		mail:   smtptest.Start(t, mail),
		sanity: sanityfake.New(t),
		slack:  startSlack(t),
		shop:   startHook(t),
	}
}

// slackHook is the path of the receivers' Slack webhook; any other path is
// a webhook that does not exist.
const slackHook = "/services/T0/B0/secretpart"

// startSlack starts a hookServer that answers as a Slack incoming webhook
// does: 404 no_service on a path that is no webhook, 400 no_text to a
// message without a text, and otherwise what the test says.
func startSlack(t *testing.T) *hookServer {
	h := startHook(t)
	h.protocol = func(r hookRequest) (int, string) {
		var msg struct {
			Text string `json:"text"`
		}
		switch {
		case r.Path != slackHook:
			return http.StatusNotFound, "no_service"
		case json.Unmarshal(r.Body, &msg) != nil:
			return http.StatusBadRequest, "invalid_payload"
		case strings.TrimSpace(msg.Text) == "":
			return http.StatusBadRequest, "no_text"
		}
		return 0, ""
	}
	return h
}

// env sets caisse up to deliver to the receivers.
func (r *receivers) env(env map[string]string) {
	env["CAISSE_SHOP_NAME"] = "Galerie Lune"
	env["CAISSE_SMTP_URL"] = r.mail.URL("smtp", "", "")
	env["CAISSE_MAIL_FROM"] = "Galerie Lune <shop@lune.example>"
	env["CAISSE_ALERT_WEBHOOK_URL"] = r.slack.url + slackHook
	env["CAISSE_SANITY_PROJECT"] = r.sanity.Project
	env["CAISSE_SANITY_DATASET"] = r.sanity.Dataset
	env["CAISSE_SANITY_TOKEN"] = r.sanity.Token
	env["CAISSE_SANITY_API_VERSION"] = r.sanity.Version
	env["CAISSE_SANITY_URL"] = r.sanity.URL
	env["CAISSE_NOTIFY_URLS"] = r.shop.url + "/hooks/caisse?token=shop-endpoint-token"
	env["CAISSE_NOTIFY_SECRET"] = notifySecret
}

// envList is env as KEY=VALUE lines, for a caisse process.
func (r *receivers) envList() []string {
	m := map[string]string{}
	r.env(m)
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// hookServer is an HTTP endpoint that records each request and answers what
// the test says (200 by default).
type hookServer struct {
	url string

	mu     sync.Mutex
	got    []hookRequest
	answer func(r hookRequest, sameID int) int
	hold   chan struct{}
	// protocol, when set, answers a request the real service would refuse
	// whatever the test says (a status and the body), or 0.
	protocol func(r hookRequest) (int, string)
}

type hookRequest struct {
	Path   string
	Header http.Header
	Body   []byte
	Status int // what the server answered
}

func startHook(t *testing.T) *hookServer {
	h := &hookServer{}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(func() {
		h.release()
		srv.Close()
	})
	h.url = srv.URL
	return h
}

func (h *hookServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := hookRequest{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Status: http.StatusOK}
	h.mu.Lock()
	same := 0
	for _, g := range h.got {
		if id := r.Header.Get("webhook-id"); id != "" && g.Header.Get("webhook-id") == id {
			same++
		}
	}
	refused, why := 0, ""
	if h.protocol != nil {
		refused, why = h.protocol(req)
	}
	if refused != 0 {
		req.Status = refused
	} else if h.answer != nil {
		req.Status = h.answer(req, same)
	}
	h.got = append(h.got, req)
	hold := h.hold
	h.mu.Unlock()
	if refused != 0 {
		http.Error(w, why, refused)
		return
	}
	if hold != nil {
		<-hold
	}
	w.WriteHeader(req.Status)
}

// setHold makes the next requests wait until release.
func (h *hookServer) setHold() {
	h.mu.Lock()
	h.hold = make(chan struct{})
	h.mu.Unlock()
}

func (h *hookServer) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hold != nil {
		close(h.hold)
		h.hold = nil
	}
}

func (h *hookServer) setAnswer(f func(r hookRequest, sameID int) int) {
	h.mu.Lock()
	h.answer = f
	h.mu.Unlock()
}

func (h *hookServer) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.got...)
}

// verifyStandardWebhook checks a request's signature as a shop's receiver
// would, written from the Standard Webhooks specification: HMAC-SHA256, with
// the base64-decoded secret after whsec_, of "id.timestamp.body", sent as
// "v1,<base64>" among space-separated signatures; a timestamp within five
// minutes.
func verifyStandardWebhook(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts == "" {
		return fmt.Errorf("missing webhook-id or webhook-timestamp")
	}
	var sec int64
	if _, err := fmt.Sscan(ts, &sec); err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return fmt.Errorf("timestamp %q out of tolerance", ts)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no signature matches")
}

// outboundMessage is what the shop's endpoint receives.
type outboundMessage struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// slackText is the fallback text of a Slack-compatible message.
func slackText(t *testing.T, r hookRequest) string {
	t.Helper()
	var m struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("an alert that is not JSON: %s", r.Body)
	}
	return m.Text
}

// deliveriesOf lists the app's deliveries matching a filter (up to 1000).
func (a *app) deliveriesOf(query string) []caisse.Delivery {
	a.t.Helper()
	var l struct{ Data []caisse.Delivery }
	if s := a.admin(http.MethodGet, "/api/admin/outbox?limit=1000&"+query, nil, &l); s != http.StatusOK {
		a.t.Fatalf("GET /api/admin/outbox?%s: %d", query, s)
	}
	return l.Data
}

// drained reports whether no delivery waits to be sent.
func (a *app) drained() bool {
	return len(a.deliveriesOf("status=pending")) == 0
}

// metrics returns what /metrics shows now.
func (a *app) metrics() string {
	a.t.Helper()
	res, err := http.Get(a.url + "/metrics")
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}
