package http

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/stripe"
)

// recorder is the event store as the webhook sees it: it records what it is
// asked to store. The fuzz target checks the handler, not a database.
type recorder struct {
	caisse.EventService
	stored []*caisse.Event
}

func (r *recorder) ReceiveEvent(_ context.Context, e *caisse.Event) (bool, error) {
	r.stored = append(r.stored, e)
	return true, nil
}

const fuzzSecret = "whsec_fuzz_secret"

// FuzzWebhook sends the handler random and mutated events, signed or not:
// it never panics, never answers 5xx, and stores only a validly signed
// event, exactly as it was sent.
func FuzzWebhook(f *testing.F) {
	for _, typ := range append(caisse.HandledTypes, "customer.created") {
		payload, _ := stripe.Build(stripe.Example{Type: typ})
		f.Add(payload, true, "", int64(0))
		f.Add(payload, false, "t=1,v1=00", int64(0))
	}
	f.Add([]byte(`{"object":"v2.core.event"}`), true, "", int64(0))
	f.Add([]byte(`not json`), true, "", int64(-600))
	now := time.Unix(1800000000, 0)
	rec := &recorder{}
	var logs bytes.Buffer
	s := &Server{
		Events:   rec,
		Verifier: &stripe.Verifier{Secrets: []string{"whsec_other", fuzzSecret}, Tolerance: 5 * time.Minute, Now: func() time.Time { return now }},
		Metrics:  NewMetrics(nil),
		Logger:   slog.New(slog.NewJSONHandler(&logs, nil)),
	}
	handler := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte, signIt bool, header string, skew int64) {
		rec.stored = nil
		logs.Reset()
		signedAt := now.Add(time.Duration(skew%3600) * time.Second)
		if signIt {
			header = webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
				Payload: body, Secret: fuzzSecret, Timestamp: signedAt, Scheme: "v1"}).Header
		}
		req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(body))
		if header != "" {
			req.Header.Set("Stripe-Signature", header)
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		res := w.Result()
		answer, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 500 {
			t.Fatalf("answered %d to bad input: %s", res.StatusCode, answer)
		}
		validSignature := signIt && (skew%3600) <= 300 && (skew%3600) >= -300 && len(body) <= stripe.MaxBodyBytes
		if len(rec.stored) > 0 {
			if !validSignature {
				t.Fatalf("stored an event without a valid signature (header %q)", header)
			}
			if !bytes.Equal(rec.stored[0].Payload, body) {
				t.Fatal("stored a payload other than the one received")
			}
		}
		if res.StatusCode == http.StatusOK && len(rec.stored) != 1 {
			t.Fatal("answered 200 without storing the event")
		}
		if strings.Contains(logs.String(), fuzzSecret) || bytes.Contains(answer, []byte(fuzzSecret)) {
			t.Fatal("the secret leaked")
		}
	})
}
