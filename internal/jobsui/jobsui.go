// Package jobsui serves River's own web UI (riverqueue.com/riverui) for the
// River client of a database, so the admin pages can show caisse's jobs —
// periodic sweeps, checks, catching up, refunds — and cancel, retry or
// delete them.
package jobsui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/riverqueue/river"
	"riverqueue.com/riverui"
)

// Lifetime is how long the UIs a database built may run: from the first
// one built until End, which the database calls when it closes. The zero
// value is ready to use.
type Lifetime struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	ended  bool
}

// context returns the context the UIs run under, made on first use.
func (l *Lifetime) context() (context.Context, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return nil, errors.New("the database is closed")
	}
	if l.ctx == nil {
		l.ctx, l.cancel = context.WithCancel(context.Background())
	}
	return l.ctx, nil
}

// End stops the background work of every UI built under l (its cached
// counts of jobs by state); their handlers then answer requests without
// it. Building another UI afterwards fails. End may be called more than
// once.
func (l *Lifetime) End() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = true
	if l.cancel != nil {
		l.cancel()
	}
}

// New returns River UI's handler for client, to be mounted at prefix (such
// as "/admin/jobs") of the caller's mux: the handler strips prefix itself,
// so mount it with mux.Handle(prefix+"/", h), not behind
// http.StripPrefix. Its background services run until life ends. The
// client need not be started, but its queues are listed only once a
// started client has registered them. A nil logger is slog.Default().
func New[TTx any](life *Lifetime, client *river.Client[TTx], logger *slog.Logger, prefix string) (http.Handler, error) {
	if client == nil {
		return nil, errors.New("the jobs UI needs the database's job queue: open the database first")
	}
	if logger == nil {
		logger = slog.Default()
	}
	ctx, err := life.context()
	if err != nil {
		return nil, fmt.Errorf("the jobs UI cannot start: %w", err)
	}
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints:                riverui.NewEndpoints(client, nil),
		Logger:                   logger,
		Prefix:                   prefix,
		JobListHideArgsByDefault: true,
	})
	if err != nil {
		return nil, fmt.Errorf("error setting up the jobs UI: %w", err)
	}
	if err := h.Start(ctx); err != nil {
		return nil, fmt.Errorf("error starting the jobs UI: %w", err)
	}
	return h, nil
}
