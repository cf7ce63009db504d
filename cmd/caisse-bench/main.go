// Command caisse-bench measures how fast caisse acknowledges and processes a
// realistic stream of signed Stripe events, what each event costs in CPU
// (caisse's and its PostgreSQL backends') and SQL statements, how close
// durable acknowledgement comes to verifying alone, and, on request, what
// the same stream costs a handler that applies each event inline. It is a
// developer's tool, run
// from the caisse repository; it is not part of the caisse binary, which has
// no way to acknowledge an event it has not stored.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	os.Exit(m.Run(ctx, os.Args[1:]))
}

// Main is the caisse-bench program, with its output and environment, so
// tests run it exactly as a developer does.
type Main struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

const usage = `caisse-bench measures how fast caisse acknowledges and processes a realistic
stream of signed Stripe events, what each event costs, and how close durable
acknowledgement comes to verifying alone (the verify-only upper bound, which
stores nothing).

Run it from the caisse repository:

  go run ./cmd/caisse-bench --db sqlite --events 20000
  go run ./cmd/caisse-bench --db postgres --events 20000
  go run ./cmd/caisse-bench --db postgres --events 6000 --inline-node ../shared/baselines/inline-node

CPU MS/EVENT is the CPU time (user and system) the server spent over the run,
per event processed: the server process (PROCESS) plus, on PostgreSQL, the
backends serving its connections (BACKENDS), read from /proc, so PostgreSQL
must run on this machine. STATEMENTS/EVENT counts the SQL statements it ran,
BEGIN and COMMIT included. With --inline-node, the inline handler in that
folder (node server.js, dependencies from npm install, kept under the OS temp
folder) gets the same deliveries on a PostgreSQL database of its own; it
applies each delivery as it acknowledges it, so each one counts as processed.

Each durable run starts the real 'caisse serve' on a fresh database. Without
--caisse, caisse-bench first builds it with
'go build -o TEMPDIR/caisse github.com/caisse/caisse/cmd/caisse', which needs
the Go toolchain and the caisse module in the current folder. The verify-only
run is served by caisse-bench itself: caisse's own HTTP handler and signature
check, with a store that discards every event.

Usage:
  caisse-bench [flags]

Flags:
`

// Run runs the bench, or the verify-only server it starts, and returns the
// process exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	var err error
	if len(args) > 0 && args[0] == verifyOnlyServer {
		err = m.serveVerifyOnly(ctx)
	} else {
		err = m.bench(ctx, args)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(m.Stderr, "caisse-bench: %v\n", err)
	return 1
}

// errUsage means the flags were wrong and the usage was already printed.
var errUsage = errors.New("usage")
