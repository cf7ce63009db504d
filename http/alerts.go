package http

import (
	"context"
	"sync"
	"time"

	"github.com/caisse/caisse"
)

// Outbox writes messages that no event causes, such as the team's alert
// about a burst of bad signatures.
type Outbox interface {
	WriteOutbox(ctx context.Context, msgs ...caisse.OutboxMessage) error
}

// signatureBurst is how many refused signatures within signatureWindow make
// an alert: one bad delivery is noise, a stream of them is a wrong secret.
const (
	signatureBurst  = 10
	signatureWindow = time.Minute
)

// signatureAlarm counts refused signatures and raises the alarm at most once
// an hour.
type signatureAlarm struct {
	mu     sync.Mutex
	times  []time.Time
	raised time.Time
}

// noteBadSignature counts one refused signature, and tells the team (at
// most once an hour) when they come in a burst: the endpoint's secret in
// Stripe is most likely not the one caisse has.
func (s *Server) noteBadSignature(reason string) {
	if s.Outbox == nil {
		return
	}
	now := s.now()
	a := &s.signatures
	a.mu.Lock()
	a.times = append(a.times, now)
	for len(a.times) > 0 && now.Sub(a.times[0]) > signatureWindow {
		a.times = a.times[1:]
	}
	burst := len(a.times) >= signatureBurst && now.Sub(a.raised) >= time.Hour
	n := len(a.times)
	if burst {
		a.raised = now
	}
	a.mu.Unlock()
	if !burst {
		return
	}
	hour := now.UTC().Format("2006-01-02T15")
	msg := caisse.AlertMessage(hour, caisse.TopicSignatureFailures, "", caisse.SignatureFailuresAlert(n, reason))
	// The alert is written apart from the refused request, which it must
	// not slow down.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Outbox.WriteOutbox(ctx, msg); err != nil {
			s.Logger.Error("could not write the alert about refused signatures", "error", err.Error())
		}
	}()
}
