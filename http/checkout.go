package http

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/caisse/caisse"
)

// maxCheckoutBody bounds a checkout request's body.
const maxCheckoutBody = 64 << 10

// handleCheckout opens a checkout: POST /api/checkout.
func (s *Server) handleCheckout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST to open a checkout")
		return
	}
	// Every attempt counts, valid or not: each open checkout holds units for
	// its whole life, and one client must not hold a shop's whole stock.
	if ok, wait := s.checkout.allow(clientOf(r, s.TrustedProxies), s.CheckoutRate, s.now()); !ok {
		secs := int(wait.Seconds()) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		s.Error(w, r, &caisse.Error{Code: caisse.ETOOMANY, Reason: caisse.ReasonRateLimited,
			Message: "too many checkouts opened from here lately: try again in " + strconv.Itoa(secs) + " seconds"})
		return
	}
	var req caisse.CheckoutRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCheckoutBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", "the checkout request is over 64 KiB")
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
