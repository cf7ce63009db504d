// Command caisse receives Stripe webhooks and keeps a shop's orders, payments
// and stock right. Run `caisse help` for the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // CAISSE_TIMEZONE's zones on a machine without them
)

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	code := m.Run(ctx, os.Args[1:])
	stopProfile()
	os.Exit(code)
}

// stopProfile ends the CPU profile a build with -tags cpuprofile writes
// (cpuprofile.go); without the tag there is none.
var stopProfile = func() {}

// tuneGC lets the heap grow to four times what is live before collecting
// (Go's default is twice), within a soft limit of 256 MiB: caisse's live
// heap is small and mostly short-lived (decoded events and rows), and
// collecting half as often cut the CPU per event by a fifth on SQLite
// (caisse-bench). GOGC and GOMEMLIMIT, when set, win.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}

// Main is the caisse program: every command, with its input and output, so
// tests run it exactly as a user does.
type Main struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

const usage = `caisse receives Stripe webhooks and keeps a shop's orders, payments and stock right.

Usage:
  caisse serve [flags]                 run the webhook receiver, applier, workers and admin API
  caisse migrate                       apply database migrations
  caisse products import FILE          create or update products from a CSV or JSON catalogue
                                       (--dry-run: only show the changes; --set-stock; --force)
  caisse products list
  caisse orders list [--status S]      (lists take --limit N, --starting-after ID, --all)
  caisse orders show ID                an order and its timeline
  caisse orders refund ID --amount A | --line product:qty…
                                       refund an amount or lines (--restock: units back in stock)
  caisse events list [--status S] [--type T]
  caisse events show ID
  caisse events replay ID | --failed   process an event again (every dead letter with --failed)
  caisse outbox list [--status S] [--channel C] [--order ID]
                                       emails, alerts, CMS updates and webhooks, and what became of them
  caisse outbox retry ID | --failed    send a failed delivery again (every failed one with --failed)
  caisse notify test                   send one test message on each configured channel
  caisse customers forget EMAIL        erase a customer's name, email, phone and addresses, amounts kept
  caisse report --from D --to D        gross, refunds, disputes lost, Stripe fees and net of the days, per currency
  caisse export sales --from D --to D [--format csv|fec] [--locale fr]
                                       the money movements for the accountant: a CSV, or the FEC journal
  caisse doctor                        check the configuration, database, Stripe and channels, saying what to fix
  caisse reconcile                     store the events Stripe never delivered (needs STRIPE_SECRET_KEY)
  caisse send FILE | --example TYPE    sign an event with STRIPE_WEBHOOK_SECRET, post it to a running caisse,
                                       and say what caisse did with it (--no-wait: only post it)
  caisse version

Every command takes --json for output that scripts can read, and --help for its
flags and examples. Configuration is
read from the environment (CAISSE_DATABASE_URL, STRIPE_WEBHOOK_SECRET, …); run
'caisse serve --help' for the list.
`

// Run runs one command and returns the process exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = m.serve(ctx, rest)
	case "migrate":
		err = m.migrate(ctx, rest)
	case "products":
		err = m.products(ctx, rest)
	case "orders":
		err = m.orders(ctx, rest)
	case "events":
		err = m.events(ctx, rest)
	case "send":
		err = m.send(ctx, rest)
	case "reconcile":
		err = m.reconcile(ctx, rest)
	case "outbox":
		err = m.outbox(ctx, rest)
	case "notify":
		err = m.notify(ctx, rest)
	case "customers":
		err = m.customers(ctx, rest)
	case "report":
		err = m.report(ctx, rest)
	case "export":
		err = m.export(ctx, rest)
	case "doctor":
		err = m.doctor(ctx, rest)
	case "version":
		err = m.version(rest)
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return 0
	default:
		fmt.Fprintf(m.Stderr, "caisse: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		if err == errUsage {
			return 2
		}
		if err == errHelp {
			return 0
		}
		fmt.Fprintf(m.Stderr, "caisse: %s\n", userMessage(err))
		return 1
	}
	return 0
}
