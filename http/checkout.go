package http

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caisse/caisse"
)

// maxCheckoutBody bounds a checkout request's body.
const maxCheckoutBody = 64 << 10

// handleCheckout opens a checkout: POST /api/checkout.
func (s *Server) handleCheckout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		s.Error(w, r, caisse.Errorf(caisse.EMETHOD, "use POST to open a checkout"))
		return
	}
	keyed, ok := s.checkoutKey(w, r)
	if !ok {
		return
	}
	address := clientOf(r, s.TrustedProxies)
	// Every attempt counts, valid or not: each open checkout holds units for
	// its whole life, and one client must not hold a shop's whole stock. The
	// shop's server, which names each buyer, is limited per buyer below.
	if !keyed && !s.allowCheckout(w, r, &s.checkout, address) {
		return
	}
	var req caisse.CheckoutRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCheckoutBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.Error(w, r, caisse.Errorf(caisse.ETOOLARGE, "the checkout request is over 64 KiB"))
			return
		}
		s.Error(w, r, &caisse.Error{Code: caisse.EINVALID, Reason: "invalid_json",
			Message: "the body must be JSON: {items:[{product_id,quantity}], customer_email, success_url, cancel_url}: " + jsonProblem(err)})
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		s.Error(w, r, &caisse.Error{Code: caisse.EINVALID, Reason: "invalid_json", Message: "the body holds more than one JSON value"})
		return
	}
	switch {
	case keyed && req.ClientID == "":
		s.Error(w, r, &caisse.Error{Code: caisse.EINVALID, Reason: caisse.ReasonInvalidClientID,
			Message: "with the checkout key, name the buyer with client_id: each buyer is limited on their own"})
		return
	case keyed && len(req.ClientID) > caisse.MaxClientIDLength:
		s.Error(w, r, &caisse.Error{Code: caisse.EINVALID, Reason: caisse.ReasonInvalidClientID,
			Message: "client_id must be the shop's id of the buyer, at most " + strconv.Itoa(caisse.MaxClientIDLength) + " characters"})
		return
	case keyed:
		if !s.allowCheckout(w, r, &s.checkout, "buyer:"+req.ClientID) {
			return
		}
		req.Client = "buyer:" + req.ClientID
	case req.ClientID != "":
		// A browser naming itself would pick its own limit.
		s.Error(w, r, &caisse.Error{Code: caisse.EINVALID, Reason: caisse.ReasonInvalidClientID,
			Message: "client_id is taken only from the shop's server, sent with Authorization: Bearer and the checkout key (CAISSE_CHECKOUT_KEY)"})
		return
	default:
		req.Client = "addr:" + address
	}
	if s.Checkouts == nil {
		s.Error(w, r, &caisse.Error{Code: caisse.EUNAVAILABLE, Reason: caisse.ReasonCheckoutOff,
			Message: "checkout is not set up on this caisse: its owner must set STRIPE_SECRET_KEY"})
		return
	}
	c, err := s.Checkouts.Checkout(r.Context(), req)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

// handleCancelCheckout closes a checkout the buyer left:
// POST /api/checkout/{order_id}/cancel. The order id, 96 random bits only
// the page that opened the checkout was told, is what allows it.
func (s *Server) handleCancelCheckout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		s.Error(w, r, caisse.Errorf(caisse.EMETHOD, "use POST to cancel a checkout"))
		return
	}
	keyed, ok := s.checkoutKey(w, r)
	if !ok {
		return
	}
	if !keyed && !s.allowCheckout(w, r, &s.cancels, clientOf(r, s.TrustedProxies)) {
		return
	}
	if s.Checkouts == nil {
		s.Error(w, r, &caisse.Error{Code: caisse.EUNAVAILABLE, Reason: caisse.ReasonCheckoutOff,
			Message: "checkout is not set up on this caisse: its owner must set STRIPE_SECRET_KEY"})
		return
	}
	c, err := s.Checkouts.CancelCheckout(r.Context(), r.PathValue("order_id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// checkoutKey reads the Authorization of a checkout request: keyed is true
// when it carries the shop's checkout key. A wrong key is answered 401 (ok
// false), and counts toward the address's limit of wrong keys, as the
// admin token's guesses do.
func (s *Server) checkoutKey(w http.ResponseWriter, r *http.Request) (keyed, ok bool) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return false, true
	}
	address := clientOf(r, s.TrustedProxies)
	if limited, wait := s.checkoutKeys.blocked(address, signInRate, s.now()); limited {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.Error(w, r, caisse.Errorf(caisse.ETOOMANY, "too many wrong checkout keys from this address: try again in %s", wait.Round(time.Second)+time.Second))
		return false, false
	}
	token, bearer := strings.CutPrefix(auth, "Bearer ")
	if s.CheckoutKey == "" || !bearer || subtle.ConstantTimeCompare([]byte(token), []byte(s.CheckoutKey)) != 1 {
		s.checkoutKeys.allow(address, signInRate, s.now())
		s.Logger.Warn("a checkout request carried a wrong checkout key, and was refused with 401: the shop's server must send CAISSE_CHECKOUT_KEY as it is set on caisse",
			"path", r.URL.Path)
		s.Error(w, r, caisse.Errorf(caisse.EUNAUTHORIZED,
			"that is not the checkout key: the shop's server sends Authorization: Bearer <CAISSE_CHECKOUT_KEY>; a browser sends no Authorization"))
		return false, false
	}
	return true, true
}

// allowCheckout takes a token from the client's bucket of l, or answers 429.
func (s *Server) allowCheckout(w http.ResponseWriter, r *http.Request, l *limiter, client string) bool {
	ok, wait := l.allow(client, s.CheckoutRate, s.now())
	if !ok {
		secs := int(wait.Seconds()) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.Error(w, r, &caisse.Error{Code: caisse.ETOOMANY, Reason: caisse.ReasonRateLimited,
			Message: "too many checkouts opened from here lately: try again in " + strconv.Itoa(secs) + " seconds"})
	}
	return ok
}

// jsonProblem says what is wrong with a JSON body without echoing it.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return typeErr.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, io.EOF):
		return "the body is empty"
	}
	return "it does not parse"
}

// cors lets the shop's web pages, on the configured origins, call a route
// from the customer's browser; other origins get no CORS headers, so
// browsers keep their pages out.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && (slices.Contains(s.CORSOrigins, "*") || slices.Contains(s.CORSOrigins, origin))
		if allowed {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			if allowed {
				h := w.Header()
				h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Content-Type")
				h.Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
