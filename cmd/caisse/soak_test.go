package main

import (
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caisse/caisse/internal/scenario"
)

// A steady load for a bounded time (CAISSE_SOAK, default 10s, at
// CAISSE_SOAK_RATE events a second, default 100) against a caisse process:
// no delivery fails, every event is processed, and memory stays flat.
func TestSoak(t *testing.T) {
	duration, rate := 10*time.Second, 100
	if v, err := time.ParseDuration(os.Getenv("CAISSE_SOAK")); err == nil {
		duration = v
	}
	if v, err := strconv.Atoi(os.Getenv("CAISSE_SOAK_RATE")); err == nil && v > 0 {
		rate = v
	}
	eachDB(t, func(t *testing.T, db testDB) {
		total := int(duration.Seconds() * float64(rate))
		s := scenario.Generate(rand.New(rand.NewPCG(7, 7)), total/3+1, 20)
		events := s.Events[:min(total, len(s.Events))]
		in := startInstance(t, db.NewURL(t))
		in.load(s)

		var failed atomic.Int64
		var wg sync.WaitGroup
		jobs := make(chan []byte, 1024)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for payload := range jobs {
					if status, err := post(in.url, payload); err != nil || status != http.StatusOK {
						failed.Add(1)
					}
				}
			}()
		}
		start := time.Now()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		var early float64
		for i, e := range events {
			<-tick.C
			jobs <- e.Payload
			if i == len(events)/4 {
				early, _ = in.RSS()
			}
		}
		tick.Stop()
		close(jobs)
		wg.Wait()
		held := float64(len(events)) / time.Since(start).Seconds()
		in.waitProcessed(len(events))
		late, peak := in.RSS()
		t.Logf("%s: %d events in %s: %.0f events/s held, %d failed, RSS %.0f MiB at a quarter, %.0f MiB at the end, peak %.0f MiB",
			db, len(events), time.Since(start).Round(time.Millisecond), held, failed.Load(), early, late, peak)
		if failed.Load() != 0 {
			t.Fatalf("%d deliveries failed under a steady load", failed.Load())
		}
		// Under the race detector RSS is mostly the detector's shadow
		// memory, so memory is judged by the run without it (the README's
		// test command, which .ci/run runs first).
		if late > early*1.5+32 && !raceDetector {
			t.Errorf("memory grew from %.0f MiB to %.0f MiB under a steady load", early, late)
		}
	})
}
