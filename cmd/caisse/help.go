package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/caisse/caisse"
)

// errHelp ends a command that printed its help: exit status 0.
var errHelp = errors.New("help printed")

// help is what `caisse COMMAND --help` prints beside the flags.
type help struct {
	usage, about string
	examples     []string
}

// helps holds the help of every command, by name ("orders list").
var helps = map[string]help{
	"serve": {"caisse serve [flags]",
		"Runs caisse: receives Stripe's webhooks, applies them, sends the notifications, and serves the admin API and pages.",
		[]string{"STRIPE_WEBHOOK_SECRET=whsec_local_secret caisse serve", "caisse serve --addr 0.0.0.0:8080 --database-url postgres://caisse@db/caisse"}},
	"migrate": {"caisse migrate", "Brings the database's schema up to date (serve does it too when it starts).",
		[]string{"CAISSE_DATABASE_URL=postgres://caisse@db/caisse caisse migrate"}},
	"products import": {"caisse products import [--set-stock] [--dry-run] [--force] FILE",
		"Creates or updates products from a catalogue file, a CSV or a JSON array (see the README's \"Catalogue files\"), and prints what changes. Products that exist keep their stock unless --set-stock. A price 100 times off the current one stops the import unless --force.",
		[]string{"caisse products import catalogue.csv", "caisse products import --dry-run catalogue.csv", "caisse products import --set-stock restock.csv"}},
	"products list": {"caisse products list", "Lists every product: price, stock, units reserved by open checkouts, units available, and the artist told of its sales.",
		[]string{"caisse products list", "caisse products list --json"}},
	"products sync-cms": {"caisse products sync-cms --all | ID [ID…]",
		"Queues, for each product named (or every product with --all), an update of its availability in Sanity, sent by a running caisse as it is when it goes out: for a first connection to a Sanity dataset that already has the products. Says how many it queued. Needs the CAISSE_SANITY_* settings serve has.",
		[]string{"caisse products sync-cms --all", "caisse products sync-cms print-1 print-2"}},
	"orders list": {"caisse orders list [--status S | --to-ship] [--limit N] [--starting-after ID | --all]",
		"Lists orders, newest first. --status takes a status (" + joinStatuses(caisse.OrderStatuses) + ") or a flag (oversold, payment_mismatch). --to-ship lists the orders to ship, oldest first, with where each goes: paid or partly refunded, not shipped, not oversold, not mismatched, not disputed.",
		[]string{"caisse orders list --status paid", "caisse orders list --status oversold --all", "caisse orders list --to-ship --all"}},
	"orders ship": {"caisse orders ship ID --carrier C --tracking N [--tracking-url URL]",
		"Records that an order left: the buyer gets an email with the tracking, the shop's endpoints order.shipped, and Stripe the carrier and tracking on the payment (evidence should the buyer dispute the delivery). Only a paid order that is not oversold or mismatched ships. Shipping again with other details corrects them, and the buyer gets one correction.",
		[]string{"caisse orders ship o1 --carrier Colissimo --tracking 6A12345678901", "caisse orders ship o1 --carrier DHL --tracking 1234567890 --tracking-url 'https://www.dhl.com/fr-fr/home/suivi.html?tracking-id=1234567890'"}},
	"orders show": {"caisse orders show ID", "Shows an order: items, amounts, dispute, flags, and its timeline (each status change, the event that made it, the stock it moved).",
		[]string{"caisse orders show o1"}},
	"orders refund": {"caisse orders refund ID [--amount A] [--line product:quantity]… [--restock] [--reason R] [--key K]",
		"Asks Stripe to refund part or all of a paid order: an amount (in the order's currency), or the lines returned (their price as sold, unless --amount), their units back in stock with --restock once Stripe confirms the refund. Never more than is left to refund; running it again with the same amount and lines is the same refund. A running caisse makes the request (needs STRIPE_SECRET_KEY).",
		[]string{"caisse orders refund o1 --amount 15.00", "caisse orders refund o1 --line print-1:2 --restock --reason requested_by_customer"}},
	"events list": {"caisse events list [--status S] [--type T] [--limit N] [--starting-after ID | --all]",
		"Lists the Stripe events caisse received, newest first, with their attempts and last error. --status takes pending, processed, ignored or failed (dead letters).",
		[]string{"caisse events list --status failed", "caisse events list --type charge.refunded --limit 20"}},
	"events show": {"caisse events show ID", "Shows an event: status, attempts, last error, and its payload as received.",
		[]string{"caisse events show evt_1Q…"}},
	"events replay": {"caisse events replay ID | --failed",
		"Puts an event (or, with --failed, every dead letter) back into processing; the running caisse applies it again. Applying is idempotent: an event already applied changes nothing.",
		[]string{"caisse events replay evt_1Q…", "caisse events replay --failed"}},
	"outbox list": {"caisse outbox list [--status S] [--channel C] [--order ID] [--limit N] [--starting-after ID | --all]",
		"Lists the deliveries: emails, alerts, Sanity updates, the shop's webhooks and requests to Stripe, and what became of each. --status takes pending, delivered, failed or skipped; --channel email, alert, sanity, webhook or stripe.",
		[]string{"caisse outbox list --status failed", "caisse outbox list --order o1"}},
	"outbox retry": {"caisse outbox retry ID | --failed", "Sends a failed or skipped delivery (or, with --failed, every failed one) again.",
		[]string{"caisse outbox retry dlv_…", "caisse outbox retry --failed"}},
	"notify test": {"caisse notify test", "Sends one test message on each notification channel that is set up, and prints what worked and why not.",
		[]string{"CAISSE_SMTP_URL=smtp://127.0.0.1:1025 CAISSE_MAIL_FROM='Shop <shop@example.com>' caisse notify test"}},
	"customers forget": {"caisse customers forget EMAIL",
		"Erases the personal data of the customer with this email address (in any case): their name, email, phone and addresses, from their orders, the facts caisse keeps about their payments, the outbox (addresses, and customer emails not sent yet, which are skipped) and the stored payloads of their events (redacted in place). Amounts, statuses and ids stay, so the books add up and a late duplicate of an event is still recognised. Stripe keeps its own copy: erase the customer there too. CAISSE_PERSONAL_DATA_RETENTION does the same for old orders.",
		[]string{"caisse customers forget camille@example.com", "caisse customers forget camille@example.com --json"}},
	"reconcile": {"caisse reconcile", "Asks Stripe for the events of the last 30 days and stores those caisse never received (needs STRIPE_SECRET_KEY). serve does it every CAISSE_RECONCILE_EVERY.",
		[]string{"STRIPE_SECRET_KEY=sk_test_… caisse reconcile"}},
	"send": {"caisse send FILE | --example TYPE [flags]",
		"Signs an event with STRIPE_WEBHOOK_SECRET, posts it to a running caisse, waits until caisse has processed it, and says what it did. Example types: " + strings.Join(caisse.HandledTypes, ", ") + ".",
		[]string{"caisse send --example checkout.session.completed --order o1 --product print-1 --amount 90000",
			"caisse send --example charge.dispute.created --order o1 --dispute-status needs_response", "caisse send event.json --no-wait"}},
	"report": {"caisse report --from DAY --to DAY [--mode live|test] [--json]",
		"Adds up the books of the days from --from to --to (both included, days of CAISSE_TIMEZONE), per settlement currency, as the dashboard does: the payments and their gross, refunds, disputes lost (less those won back), every fee Stripe kept, other adjustments, the net they left in the Stripe balance, and what payouts took to the bank. The figures are Stripe's balance transactions, which caisse learns through Stripe's API (STRIPE_SECRET_KEY).",
		[]string{"caisse report --from 2026-11-01 --to 2026-11-30", "CAISSE_TIMEZONE=Europe/Paris caisse report --from 2026-11-01 --to 2026-11-30 --json"}},
	"export sales": {"caisse export sales --from DAY --to DAY [--format csv|fec] [--locale en|fr] [--mode live|test] [--output FILE]",
		"Writes the money movements of the days from --from to --to (both included) for the accountant, as they are read (constant memory). csv: one line per movement (payment, refund, dispute, fee, payout, adjustment) with its date, order, customer, items, gross, tax, shipping, discount, fee, net, currency and payout; --locale fr writes decimal commas and semicolons for French spreadsheets. fec: the journal French accountants import (18 tab-separated columns, every entry balanced), on the accounts of CAISSE_ACCOUNTS.",
		[]string{"caisse export sales --from 2026-11-01 --to 2026-11-30 > sales.csv", "caisse export sales --from 2026-01-01 --to 2026-12-31 --format fec --output FEC.txt", "caisse export sales --from 2026-11-01 --to 2026-11-30 --locale fr --output ventes.csv"}},
	"version": {"caisse version", "Prints caisse's version.", []string{"caisse version --json"}},
	"doctor": {"caisse doctor [--json]", "Checks the webhook secret, the configuration, the database, Stripe (key, mode, webhook endpoint) and each notification channel, sending nothing, and says what to fix; exits 1 if a check fails.",
		[]string{"caisse doctor", "caisse doctor --json"}},
}

// groups are the commands that take a subcommand, with each one's summary.
var groups = map[string][][2]string{
	"customers": {{"forget", "erase a customer's personal data, keeping amounts and statuses"}},
	"export":    {{"sales", "the money movements of a period, as CSV or the FEC journal"}},
	"products": {{"import", "create or update products from a CSV or JSON catalogue"}, {"list", "list the products and their stock"},
		{"sync-cms", "send every product's availability to Sanity"}},
	"orders": {{"list", "list orders, by status or flag, or those to ship"}, {"show", "an order and its timeline"},
		{"ship", "record that an order left, with its tracking"}, {"refund", "refund an amount or lines of an order, restocking them if asked"}},
	"events": {{"list", "list the events received"}, {"show", "an event and its payload"}, {"replay", "process an event, or every dead letter, again"}},
	"outbox": {{"list", "list the deliveries and what became of them"}, {"retry", "send a delivery, or every failed one, again"}},
	"notify": {{"test", "send a test message on each channel that is set up"}},
}

func joinStatuses(statuses []caisse.OrderStatus) string {
	out := make([]string, len(statuses))
	for i, s := range statuses {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

// printHelp writes a command's help and its flags.
func (c *command) printHelp(w io.Writer, name string) {
	h, ok := helps[name]
	if !ok {
		h.usage = "caisse " + name
	}
	fmt.Fprintf(w, "usage: %s\n", h.usage)
	if h.about != "" {
		fmt.Fprintf(w, "\n%s\n", h.about)
	}
	fmt.Fprintf(w, "\nflags:\n")
	c.fs.SetOutput(w)
	c.fs.PrintDefaults()
	c.fs.SetOutput(c.m.Stderr)
	if len(h.examples) > 0 {
		fmt.Fprintf(w, "\nexamples:\n")
		for _, e := range h.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// group handles `caisse GROUP` without a known subcommand: its help with
// --help or help (exit 0), or the list of subcommands and exit 2. It
// reports whether it answered.
func (m *Main) group(name string, args []string) (bool, error) {
	subs := groups[name]
	if len(args) > 0 {
		for _, s := range subs {
			if args[0] == s[0] {
				return false, nil
			}
		}
	}
	w, err := m.Stderr, errUsage
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help") {
		w, err = m.Stdout, errHelp
	} else if len(args) > 0 {
		fmt.Fprintf(w, "caisse %s: unknown command %q\n\n", name, args[0])
	}
	fmt.Fprintf(w, "usage: caisse %s COMMAND [flags]\n\ncommands:\n", name)
	for _, s := range subs {
		fmt.Fprintf(w, "  %-8s %s\n", s[0], s[1])
	}
	fmt.Fprintf(w, "\n'caisse %s COMMAND --help' shows a command's flags and examples.\n", name)
	return true, err
}

// listFlags are the paging flags of a list command.
type listFlags struct {
	limit *int
	after *string
	all   *bool
}

func (c *command) listFlags(what string) listFlags {
	return listFlags{
		limit: c.fs.Int("limit", 100, "most "+what+" to list (1 to 1000)"),
		after: c.fs.String("starting-after", "", "list the "+what+" after this id (the last of the previous page)"),
		all:   c.fs.Bool("all", false, "list every one, page after page"),
	}
}

// moreCounted is how far listPage counts what a page leaves out.
const moreCounted = 10_000

// listPage returns the page the flags ask for (every page with --all) and,
// when more follow, writes how many to stderr and how to see them, so
// --json output stays a plain list.
func listPage[T any](c *command, f listFlags, what string, find func(caisse.Page) ([]T, bool, error), id func(T) string) ([]T, error) {
	if *f.all {
		return allPages(find, id, *f.after)
	}
	items, more, err := find(caisse.Page{Limit: *f.limit, StartingAfter: *f.after})
	if err != nil || !more || len(items) == 0 {
		return items, err
	}
	last := id(items[len(items)-1])
	n, p := 0, caisse.Page{Limit: 1000, StartingAfter: last}
	for more && n < moreCounted {
		var rest []T
		if rest, more, err = find(p); err != nil {
			return nil, err
		}
		n += len(rest)
		if len(rest) > 0 {
			p.StartingAfter = id(rest[len(rest)-1])
		}
	}
	count := fmt.Sprint(n)
	if more {
		count = fmt.Sprintf("more than %d", n)
	}
	if n == 1 && !more {
		what = map[string]string{"orders": "order", "events": "event", "deliveries": "delivery"}[what]
	}
	fmt.Fprintf(c.m.Stderr, "%s more %s — use --starting-after %s for the next page, or --all\n", count, what, last)
	return items, nil
}

// progress returns a func that shows how a long command goes, on one line
// of a terminal that it rewrites, and one that ends that line; nil for
// both when stderr is not a terminal (a script or a log has no use for it).
func (c *command) progress() (show func(string), done func()) {
	f, ok := c.m.Stderr.(*os.File)
	if !ok || c.json {
		return nil, nil
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil, nil
	}
	shown := false
	return func(line string) { shown = true; fmt.Fprintf(f, "\r\033[K%s", line) },
		func() {
			if shown {
				fmt.Fprintln(f)
			}
		}
}
