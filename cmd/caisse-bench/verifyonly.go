package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/caisse/caisse"
	caissehttp "github.com/caisse/caisse/http"
	"github.com/caisse/caisse/internal/child"
	"github.com/caisse/caisse/stripe"
)

// verifyOnlyServer is the hidden first argument that makes caisse-bench the
// verify-only server its verify-only run measures. It is not in the usage:
// only caisse-bench starts it.
const verifyOnlyServer = "verify-only-server"

// serveVerifyOnly serves caisse's own HTTP handler, with caisse's signature
// check and decoding, over a store that discards every event: the upper
// bound of how fast caisse could acknowledge if storing cost nothing. It
// listens on CAISSE_ADDR, checks signatures with STRIPE_WEBHOOK_SECRET, and
// logs child.ListeningMessage once it listens, until ctx ends.
func (m *Main) serveVerifyOnly(ctx context.Context) error {
	var secrets []string
	for s := range strings.SplitSeq(m.Getenv("STRIPE_WEBHOOK_SECRET"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			secrets = append(secrets, s)
		}
	}
	if len(secrets) == 0 {
		return fmt.Errorf("STRIPE_WEBHOOK_SECRET is not set: the verify-only server is started by caisse-bench, which sets it")
	}
	addr := m.Getenv("CAISSE_ADDR")
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	logger := slog.New(slog.NewJSONHandler(m.Stderr, nil))
	srv := &caissehttp.Server{
		Events:   discardEvents{},
		Verifier: &stripe.Verifier{Secrets: secrets, Tolerance: 5 * time.Minute, Now: time.Now},
		Ready:    func(context.Context) error { return nil },
		Metrics:  caissehttp.NewMetrics(nil),
		Logger:   logger,
	}
	if err := srv.Listen(addr); err != nil {
		return fmt.Errorf("CAISSE_ADDR: cannot listen on %s: %w", addr, err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	logger.Info(child.ListeningMessage, "addr", srv.Addr(), "mode", "verify-only: webhooks are verified and answered, never stored")
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("the verify-only server stopped: %w", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	return <-served
}

// discardEvents is an event store that keeps nothing: every event it is
// given is "new" and is forgotten at once. It exists only for the
// verify-only server.
type discardEvents struct{}

var errNoEvents = caisse.Errorf(caisse.ENOTFOUND, "the verify-only server keeps no events")

// ReceiveEvent forgets the event and reports it new.
func (discardEvents) ReceiveEvent(context.Context, *caisse.Event) (bool, error) { return true, nil }

// FindEvent finds nothing.
func (discardEvents) FindEvent(context.Context, string) (*caisse.Event, error) {
	return nil, errNoEvents
}

// FindEvents lists nothing.
func (discardEvents) FindEvents(context.Context, caisse.EventFilter) ([]*caisse.Event, bool, error) {
	return nil, false, nil
}

// ReplayEvent finds nothing to replay.
func (discardEvents) ReplayEvent(context.Context, string) (*caisse.Event, error) {
	return nil, errNoEvents
}

// ReplayFailed finds nothing to replay.
func (discardEvents) ReplayFailed(context.Context) ([]string, error) { return nil, nil }

// CountReplayable finds nothing to replay, as ReplayFailed does.
func (discardEvents) CountReplayable(context.Context, caisse.EventFilter) (int64, error) {
	return 0, nil
}

// ReplayEvents finds nothing to replay, as ReplayFailed does.
func (discardEvents) ReplayEvents(context.Context, caisse.EventFilter) (int64, error) { return 0, nil }
