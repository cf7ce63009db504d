package payments_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/database"
	"github.com/caisse/caisse/internal/poll"
	"github.com/caisse/caisse/internal/sqlstore"
	"github.com/caisse/caisse/payments"
	"github.com/caisse/caisse/stripe"
)

// shop is a store on a real database with its payment jobs, wired as
// caisse serve wires them.
type shop struct {
	*database.DB
	jobs *payments.Jobs
}

// openShop opens and migrates a store on the database at url, its jobs set
// up by setJobs and the store by configure (either may be nil) before the
// database opens. The store is stopped and closed when the test ends.
func openShop(t testing.TB, url string, setJobs func(*payments.Jobs), configure func(*sqlstore.Store)) *shop {
	t.Helper()
	d, err := database.New(url)
	if err != nil {
		t.Fatal(err)
	}
	jobs := payments.New(d.Store)
	d.River = jobs.RiverConfig
	jobs.Inbox = d
	d.Inbox().Decode = stripe.Facts
	core := d.Store
	core.Logger = slog.New(slog.DiscardHandler)
	core.PollInterval = 10 * time.Millisecond
	if configure != nil {
		configure(core)
	}
	if setJobs != nil {
		setJobs(jobs)
	}
	ctx := context.Background()
	if err := d.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Stop(context.Background())
		d.Close()
	})
	return &shop{DB: d, jobs: jobs}
}

// receive stores the event ex builds, as the webhook does, and returns its
// id.
func (b *shop) receive(t *testing.T, ex stripe.Example) string {
	t.Helper()
	payload, err := stripe.Build(ex)
	if err != nil {
		t.Fatal(err)
	}
	e, err := stripe.DecodeEvent(payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReceiveEvent(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

// waitProcessed waits until the started store has finished the event id.
func (b *shop) waitProcessed(t *testing.T, id string) {
	t.Helper()
	poll.Until(t, time.Minute, func() error {
		e, err := b.FindEvent(context.Background(), id)
		if err != nil {
			return err
		}
		if e.Status == caisse.EventPending {
			return fmt.Errorf("event %s is still pending", id)
		}
		return nil
	})
}
