// Package http serves caisse over HTTP: the Stripe webhook, the probes, the
// metrics and the admin API.
//
// It must not decide: every answer comes from the store or the domain, and every
// refusal goes through one error mapping (Server.Error).
package http

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/stripe"
)

// Server is caisse's HTTP server.
type Server struct {
	// Events, Orders and Products are the store.
	Events caisse.EventService
	Orders caisse.OrderService
	// Deliveries is the outbox (GET /api/admin/outbox).
	Deliveries caisse.DeliveryService
	// Outbox takes the alerts the server raises itself (a burst of bad
	// signatures); nil for none.
	Outbox   Outbox
	Products caisse.ProductService
	// Checkouts opens checkouts with reservations (POST /api/checkout).
	Checkouts caisse.CheckoutService
	// Refunds takes the owner's refunds (POST
	// /api/admin/orders/{id}/refund and the order page's form).
	Refunds caisse.RefundService
	// CORSOrigins are the web origins allowed to call /api/checkout from a
	// browser; "*" allows any.
	CORSOrigins []string
	// CheckoutRate bounds how many checkouts one client may open; a zero
	// Burst turns the limit off.
	CheckoutRate RateLimit
	// TrustedProxies are the addresses of the shop's reverse proxies, whose
	// X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// CheckoutKey is the bearer key of the shop's server on /api/checkout
	// (CAISSE_CHECKOUT_KEY): with it, the body's client_id names the buyer,
	// who is limited on their own. Empty: no request may name a buyer.
	CheckoutKey string
	// Now returns the current time (time.Now when nil).
	Now func() time.Time
	// Verifier checks webhook signatures.
	Verifier *stripe.Verifier
	// Livemode is "live" or "test" to refuse events of the other mode, or "".
	Livemode string
	// AdminToken guards /api/admin/* and the admin pages; empty turns them
	// off (404).
	AdminToken string
	// Facts reads the facts caisse keeps about Stripe objects.
	Facts caisse.FactService
	// Dashboard reads the figures of the admin pages' first page.
	Dashboard caisse.DashboardService
	// Books reads Stripe's fees and the payouts (GET /api/admin/payouts,
	// the payouts' pages, an order's fee and net).
	Books caisse.BooksService
	// BooksLive is the mode of the books the dashboard, the report and
	// the exports show unless asked for the other (?mode=test).
	BooksLive bool
	// TimeZone is the shop's, whose days the books count (UTC when nil).
	TimeZone *time.Location
	// Accounts are the FEC export's account numbers.
	Accounts caisse.Accounts
	// StripeKey is true when caisse has STRIPE_SECRET_KEY: without it,
	// the fees and payouts stay empty and the pages say why.
	StripeKey bool
	// Customers forgets customers' personal data (DELETE
	// /api/admin/customers/{email}).
	Customers caisse.CustomerService
	// Sessions keeps the sessions of the owner's signed-in browsers.
	Sessions caisse.AdminSessionService
	// Jobs, when set, is River's UI, served at /admin/jobs/ to signed-in
	// owners.
	Jobs http.Handler
	// PublicURL is the address the shop reaches caisse at; an https:// one
	// makes the session cookie Secure.
	PublicURL string
	// Locale is the shop's language (CAISSE_LOCALE): the owner's pages speak
	// it to a browser that asks for neither French nor English.
	Locale string
	// Ready reports whether the database is reachable and migrated.
	Ready func(context.Context) error
	// Metrics counts what the server and workers do.
	Metrics *Metrics
	// MetricsToken, when set, is the bearer token /metrics requires;
	// unset, /metrics answers loopback clients only.
	MetricsToken string
	// Logger receives one line per rejected webhook and per internal error.
	Logger *slog.Logger
	// ImportMax bounds the catalogue file the pages import, in bytes
	// (DefaultImportMax when 0).
	ImportMax int64

	server     *http.Server
	ln         net.Listener
	checkout   limiter
	ready      readiness
	signatures signatureAlarm
	signIns    limiter

	// cancels limits the cancels of one client; checkoutKeys counts the
	// wrong checkout keys of one address.
	cancels, checkoutKeys limiter
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// readyFor is how long one readiness check answers the probes. A check
// writes to the database (and, on SQLite, waits for an fsync), so probes
// must not each run one: a flood of them would starve the webhooks.
const readyFor = time.Second

// readiness is the last readiness check, shared by the probes that follow
// it for readyFor and by those that arrive while it runs.
type readiness struct {
	mu        sync.Mutex
	checkedAt time.Time
	err       error
	running   chan struct{} // closed when the check in flight ends
}

// WebhookPaths are the paths caisse receives Stripe's webhooks on.
var WebhookPaths = []string{"/webhooks/stripe", "/api/webhooks/stripe", "/api/webhook"}

// Handler returns every route of caisse.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// Probes and metrics sit outside the admin auth.
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", s.requireMetricsAccess(s.Metrics.Handler()))

	// The webhook answers every method itself, so a wrong one gets a JSON 405
	// and a log line rather than the mux's plain-text reply. An endpoint
	// configured in Stripe with a trailing slash is the same endpoint ({$}
	// matches that path alone, not what lies below it).
	for _, path := range WebhookPaths {
		mux.HandleFunc(path, s.handleWebhook)
		mux.HandleFunc(path+"/{$}", s.handleWebhook)
	}

	mux.Handle("/api/checkout", s.cors(http.HandlerFunc(s.handleCheckout)))
	mux.Handle("/api/checkout/{order_id}/cancel", s.cors(http.HandlerFunc(s.handleCancelCheckout)))

	admin := http.NewServeMux()
	admin.HandleFunc("GET /api/admin/products", s.handleProducts)
	admin.HandleFunc("GET /api/admin/products/{id}", s.handleProduct)
	admin.HandleFunc("PUT /api/admin/products/{id}", s.handlePutProduct)
	admin.HandleFunc("GET /api/admin/orders", s.handleOrders)
	admin.HandleFunc("GET /api/admin/orders/{id}", s.handleOrder)
	admin.HandleFunc("POST /api/admin/orders/{id}/ship", s.handleShipOrder)
	admin.HandleFunc("POST /api/admin/orders/{id}/refund", s.handleRefund)
	admin.HandleFunc("GET /api/admin/events", s.handleEvents)
	admin.HandleFunc("GET /api/admin/events/{id}", s.handleEvent)
	admin.HandleFunc("POST /api/admin/events/{id}/replay", s.handleReplay)
	admin.HandleFunc("GET /api/admin/outbox", s.handleDeliveries)
	admin.HandleFunc("GET /api/admin/outbox/{id}", s.handleDelivery)
	admin.HandleFunc("POST /api/admin/outbox/{id}/retry", s.handleRetryDelivery)
	admin.HandleFunc("DELETE /api/admin/customers/{email}", s.handleForgetCustomer)
	admin.HandleFunc("GET /api/admin/payouts", s.handlePayouts)
	admin.HandleFunc("GET /api/admin/payouts/{id}", s.handlePayout)
	admin.HandleFunc("GET /api/admin/report", s.handleReport)
	admin.HandleFunc("GET /api/admin/export/sales.csv", s.handleExportSales)
	admin.HandleFunc("/api/admin/", func(w http.ResponseWriter, r *http.Request) {
		s.Error(w, r, caisse.Errorf(caisse.ENOTFOUND, "no admin route %s %s", r.Method, r.URL.Path))
	})
	mux.Handle("/api/admin/", noFraming(s.requireAdmin(admin)))
	pages := s.pages()
	mux.Handle("/admin", pages)
	mux.Handle("/admin/", pages)
	mux.HandleFunc("/", s.handleNotFound)
	return mux
}

// handleNotFound answers 404. A POST that looks like a webhook (it carries a
// Stripe-Signature header, or its path says "webhook") is also logged: it is
// most likely a Stripe endpoint pointed at the wrong path, whose events
// caisse never sees, and Stripe's dashboard is the only other place that
// would show it.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && (r.Header.Get("Stripe-Signature") != "" || strings.Contains(strings.ToLower(r.URL.Path), "webhook")) {
		s.Logger.Warn("a webhook was posted to a path caisse does not listen on, and refused with 404: point the Stripe webhook endpoint at one of caisse's webhook routes",
			"path", r.URL.Path, "routes", strings.Join(WebhookPaths, ", "), "remote", r.RemoteAddr,
			"stripe_signature", r.Header.Get("Stripe-Signature") != "")
	}
	s.Error(w, r, caisse.Errorf(caisse.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path))
}

// Listen binds the address; Serve then answers on it.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.server = &http.Server{
		Handler: s.Handler(),
		// A slow or stuck client cannot hold a connection open for long.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	return nil
}

// Addr is the address the server listens on, once Listen returned.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve answers requests until Shutdown.
func (s *Server) Serve() error {
	if err := s.server.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting and waits for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.server.Shutdown(ctx)
}

func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.AdminToken == "" {
			s.Error(w, r, caisse.Errorf(caisse.ENOTFOUND, "the admin API is off: set CAISSE_ADMIN_TOKEN to turn it on"))
			return
		}
		// Wrong tokens share the sign-in's limit: a client that guessed too
		// often is refused, right token or not, until its bucket refills.
		client := clientOf(r, s.TrustedProxies)
		if limited, wait := s.signIns.blocked(client, signInRate, s.now()); limited {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			s.Error(w, r, caisse.Errorf(caisse.ETOOMANY, "too many wrong admin tokens from this address: try again in %s", wait.Round(time.Second)+time.Second))
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.AdminToken)) != 1 {
			if r.Header.Get("Authorization") != "" {
				s.signIns.allow(client, signInRate, s.now())
			}
			s.Error(w, r, caisse.Errorf(caisse.EUNAUTHORIZED, "send the admin token as Authorization: Bearer <CAISSE_ADMIN_TOKEN>"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if err := s.checkReady(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "reason": readyReason(err)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
}

// checkReady returns the result of a readiness check less than readyFor
// old, or of the one in flight, or of a new one. The check runs apart from
// any one probe, so a probe that hangs up does not cancel it for the others.
func (s *Server) checkReady(ctx context.Context) error {
	rd := &s.ready
	rd.mu.Lock()
	if rd.running == nil && !rd.checkedAt.IsZero() && time.Since(rd.checkedAt) < readyFor {
		err := rd.err
		rd.mu.Unlock()
		return err
	}
	if rd.running == nil {
		done := make(chan struct{})
		rd.running = done
		go func() {
			defer close(done)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := s.Ready(ctx)
			if err != nil {
				s.Logger.Warn("not ready", "error", err.Error())
			}
			rd.mu.Lock()
			rd.err, rd.checkedAt, rd.running = err, time.Now(), nil
			rd.mu.Unlock()
		}()
	}
	running := rd.running
	rd.mu.Unlock()
	select {
	case <-running:
	case <-ctx.Done():
		return ctx.Err()
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.err
}

// readyReason keeps driver details out of the probe's answer.
func readyReason(err error) string {
	switch {
	case errors.Is(err, caisse.ErrMigrationsPending):
		return "migrations are pending: run caisse migrate"
	case errors.Is(err, caisse.ErrDatabaseReplaced):
		return "the database file was deleted or replaced: restart caisse"
	case errors.Is(err, caisse.ErrNoWrites):
		return "the database does not take writes"
	}
	return "the database cannot be reached"
}

// statuses maps each error code to its HTTP status: the one place it happens.
var statuses = map[string]int{
	caisse.ECONFLICT:     http.StatusConflict,
	caisse.EINVALID:      http.StatusBadRequest,
	caisse.ENOTFOUND:     http.StatusNotFound,
	caisse.EUNAUTHORIZED: http.StatusUnauthorized,
	caisse.EUNAVAILABLE:  http.StatusServiceUnavailable,
	caisse.EUPSTREAM:     http.StatusBadGateway,
	caisse.ETOOMANY:      http.StatusTooManyRequests,
	caisse.EFORBIDDEN:    http.StatusForbidden,
	caisse.EMETHOD:       http.StatusMethodNotAllowed,
	caisse.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	caisse.EINTERNAL:     http.StatusInternalServerError,
}

// Error answers with an application error. Internal errors are logged with
// their detail and answered with a generic message.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := s.failure(r, err)
	body := map[string]any{"code": code, "message": msg}
	var e *caisse.Error
	if errors.As(err, &e) {
		if e.Reason != "" {
			body["code"] = e.Reason
		}
		if len(e.Products) > 0 {
			body["products"] = e.Products
		}
	}
	writeJSON(w, status, map[string]any{"error": body})
}

// failure is what an error answers: its HTTP status, code and message. It
// logs an internal error's detail, which the answer leaves out, and counts
// the error.
func (s *Server) failure(r *http.Request, err error) (status int, code, msg string) {
	code, msg = caisse.ErrorCode(err), caisse.ErrorMessage(err)
	status, ok := statuses[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if code == caisse.EINTERNAL {
		s.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	s.Metrics.Errors.WithLabelValues(code).Inc()
	return status, code, msg
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
