package http

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/stripe"
)

// Webhook outcomes, as counted in caisse_webhook_requests_total.
const (
	outcomeStored    = "stored"
	outcomeDuplicate = "duplicate"
	outcomeMethod    = "wrong_method"
	outcomeTooLarge  = "too_large"
	outcomeSignature = "bad_signature"
	outcomeMalformed = "malformed"
	outcomeMode      = "wrong_mode"
	outcomeStorage   = "storage_unavailable"
)

// handleWebhook receives one Stripe event: verify the raw bytes, store the
// event, pending, and only then answer 200.
func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// The logger with the request's attributes is made only for a line
	// that is written: an accepted delivery logs at debug level, and
	// making it for each one was a twentieth of the CPU of a delivery.
	log := func() *slog.Logger { return s.Logger.With("path", r.URL.Path, "remote", r.RemoteAddr) }
	// Every refusal is counted and logged with what the webhook knows, and
	// answered through the edge's one error mapping; reason is the answer's
	// code, which Stripe's dashboard shows.
	reject := func(code, reason, outcome, message string, attrs ...any) {
		s.Metrics.Webhooks.WithLabelValues(outcome).Inc()
		log().Warn("webhook refused: "+message, append([]any{"outcome", outcome, "status", statuses[code]}, attrs...)...)
		s.Error(w, r, &caisse.Error{Code: code, Reason: reason, Message: message})
	}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reject(caisse.EMETHOD, "method_not_allowed", outcomeMethod, "Stripe webhooks are POST requests", "method", r.Method)
		return
	}
	// Refuse a body announced as too large without reading it.
	if r.ContentLength > stripe.MaxBodyBytes {
		reject(caisse.ETOOLARGE, "body_too_large", outcomeTooLarge,
			"the body is larger than 1 MiB, which no Stripe event is", "body_bytes", r.ContentLength)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, stripe.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			reject(caisse.ETOOLARGE, "body_too_large", outcomeTooLarge,
				"the body is larger than 1 MiB, which no Stripe event is", "body_bytes_read", len(body))
			return
		}
		reject(caisse.EINVALID, "unreadable_body", outcomeMalformed, "the body could not be read", "error", err.Error())
		return
	}

	// Stripe sends one Stripe-Signature header; two are a forgery or a broken
	// proxy, and picking one would hide it.
	if n := len(r.Header.Values("Stripe-Signature")); n > 1 {
		reject(caisse.EINVALID, "invalid_signature", outcomeSignature,
			"the request has several Stripe-Signature headers; Stripe sends one", "headers", n)
		return
	}
	if err := s.Verifier.Verify(body, r.Header.Get("Stripe-Signature")); err != nil {
		var ve *stripe.VerifyError
		errors.As(err, &ve)
		reject(caisse.EINVALID, "invalid_signature", outcomeSignature, ve.Detail,
			"reason", ve.Reason, "body_bytes", len(body), "timestamp_skew_s", int64(ve.Skew.Seconds()),
			"secrets_tried", ve.SecretsTried, "v1_signatures", ve.Signatures)
		if ve.Reason == stripe.ReasonBadSignature {
			// Signed, but not with caisse's secret: a wrong secret, not a
			// stray request without one.
			s.noteBadSignature(ve.Reason)
		}
		return
	}

	ev, err := stripe.DecodeEvent(body)
	if err != nil {
		reject(caisse.EINVALID, "malformed_event", outcomeMalformed, err.Error(), "body_bytes", len(body))
		return
	}
	if (s.Livemode == "live" && !ev.Livemode) || (s.Livemode == "test" && ev.Livemode) {
		mode := "test"
		if ev.Livemode {
			mode = "live"
		}
		reject(caisse.EINVALID, "wrong_mode", outcomeMode,
			"this caisse accepts only "+s.Livemode+"-mode events (CAISSE_LIVEMODE) and this one is "+mode+"-mode",
			"event_id", ev.ID, "type", ev.Type)
		return
	}

	inserted, err := s.Events.ReceiveEvent(r.Context(), ev)
	if err != nil {
		s.Metrics.Webhooks.WithLabelValues(outcomeStorage).Inc()
		log().Error("webhook not stored: the database is unavailable; Stripe will retry",
			"event_id", ev.ID, "type", ev.Type, "outcome", outcomeStorage, "status", http.StatusServiceUnavailable, "error", err.Error())
		s.Error(w, r, &caisse.Error{Code: caisse.EUNAVAILABLE, Reason: "storage_unavailable",
			Message: "caisse could not store the event; it was not accepted and Stripe will deliver it again"})
		return
	}
	outcome := outcomeStored
	if !inserted {
		outcome = outcomeDuplicate
	}
	s.Metrics.Webhooks.WithLabelValues(outcome).Inc()
	// Every accepted delivery is counted (caisse_webhook_requests_total) and its
	// event kept; a line each would cost more than the rest of the
	// handler's bookkeeping, so it is written only at debug level.
	if s.Logger.Enabled(r.Context(), slog.LevelDebug) {
		log().Debug("webhook received", "event_id", ev.ID, "type", ev.Type, "outcome", outcome,
			"duration_ms", float64(time.Since(start).Microseconds())/1000)
	}
	writeJSON(w, http.StatusOK, map[string]bool{"received": true})
}
