package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/catalogue"
	"github.com/caisse/caisse/payments"
)

// errUsage means the usage was already printed.
var errUsage = errors.New("usage")

// userMessage is what a failed command prints: application errors as they
// are, anything else with its context.
func userMessage(err error) string {
	if caisse.ErrorCode(err) != caisse.EINTERNAL {
		return caisse.ErrorMessage(err)
	}
	return err.Error()
}

// command holds what most commands share: config, a --json flag, the store.
type command struct {
	m    *Main
	name string
	fs   *flag.FlagSet
	json bool
	cfg  Config
	db   *Store
}

func (m *Main) command(name string) *command {
	c := &command{m: m, name: name, fs: flag.NewFlagSet("caisse "+name, flag.ContinueOnError)}
	c.fs.SetOutput(m.Stderr)
	// parse prints the help itself: on stdout for --help, on stderr after
	// a mistaken flag.
	c.fs.Usage = func() {}
	c.fs.BoolVar(&c.json, "json", false, "print JSON")
	return c
}

// parseFlags reads flags, printing the command's help for --help (then
// errHelp) or after a flag it does not know (then errUsage): a flag of
// another subcommand says whose it is, and each names the command's own.
func (c *command) parseFlags(args []string) error {
	c.fs.SetOutput(io.Discard) // the mistakes are said below, once
	err := c.fs.Parse(args)
	c.fs.SetOutput(c.m.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		c.printHelp(c.m.Stdout, c.name)
		return errHelp
	} else if err != nil {
		fmt.Fprintf(c.m.Stderr, "caisse %s: %s\n\n", c.name, c.flagMistake(err))
		c.printHelp(c.m.Stderr, c.name)
		return errUsage
	}
	return nil
}

// flagMistake says what is wrong with the flags given, naming the flags
// the command takes; an unknown flag that another subcommand of its group
// takes says which.
func (c *command) flagMistake(err error) string {
	name, unknown := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
	if !unknown {
		return err.Error()
	}
	var own []string
	c.fs.VisitAll(func(f *flag.Flag) { own = append(own, "--"+f.Name) })
	takes := fmt.Sprintf("caisse %s takes %s", c.name, joinWords(own, "and"))
	if owners := c.flagOwners(name); len(owners) > 0 {
		return fmt.Sprintf("--%s is a flag of %s, not of caisse %s: %s", name, joinWords(owners, "and"), c.name, takes)
	}
	return fmt.Sprintf("unknown flag --%s: %s", name, takes)
}

// flagOwners names the other subcommands of c's group that take the flag
// name.
func (c *command) flagOwners(name string) []string {
	group, _, _ := strings.Cut(c.name, " ")
	define := subcommandFlags[group]
	if define == nil {
		return nil
	}
	var owners []string
	for _, sub := range groups[group] {
		other := c.m.command(group + " " + sub[0])
		define(other)
		if other.name != c.name && other.fs.Lookup(name) != nil {
			owners = append(owners, "caisse "+other.name)
		}
	}
	return owners
}

// joinWords joins "a", "b" and "c" as "a, b and c" (word "and") or "a, b or
// c" (word "or").
func joinWords(s []string, word string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " " + word + " " + s[len(s)-1]
}

// subcommandFlags defines, for each command that takes a subcommand, the
// flags of the subcommand a command is named after (c.name), and only
// those: `caisse products list --help` lists what list takes, and a flag
// of import given to list is refused rather than ignored.
var subcommandFlags = map[string]func(c *command){
	"products": func(c *command) { c.productFlags() },
	"orders":   func(c *command) { c.orderFlags() },
	"events":   func(c *command) { c.eventFlags() },
	"outbox":   func(c *command) { c.outboxFlags() },
}

// parse reads flags (anywhere among args) and the configuration.
func (c *command) parse(args []string) ([]string, error) {
	var positional []string
	for {
		if err := c.parseFlags(args); err != nil {
			return nil, err
		}
		args = c.fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	cfg, _, err := LoadConfig(c.m.Getenv, nil, nil)
	if err != nil {
		return nil, err
	}
	c.cfg = cfg
	return positional, nil
}

// openWait is how long a command waits for a `caisse serve` that is still
// starting to create and migrate the database.
const openWait = 15 * time.Second

// open opens the store and checks it is migrated, waiting a little for a
// `caisse serve` that is still starting to create and migrate it.
func (c *command) open(ctx context.Context) error {
	return c.openWaiting(ctx, openWait)
}

// missingWait is how long a command waits for a SQLite file that does not
// exist: a starting `caisse serve` creates it at once (and then migrates
// it, which the command waits for up to openWait), so a file still missing
// after this is a path that is wrong.
const missingWait = 3 * time.Second

// openWaiting opens the store, trying again for at most wait while
// migrations are pending, or for at most missingWait while the SQLite file
// does not exist yet.
func (c *command) openWaiting(ctx context.Context, wait time.Duration) error {
	start := time.Now()
	deadline := start.Add(wait)
	said := false
	for {
		err := c.openOnce(ctx)
		if err == nil || !errors.Is(err, errNotYet) || time.Now().After(deadline) {
			return err
		}
		if errors.Is(err, errNoFile) && time.Since(start) > min(wait, missingWait) {
			return err
		}
		if !said {
			fmt.Fprintf(c.m.Stderr, "waiting for the database %s to be created and migrated (by a starting `caisse serve`)…\n", redactURL(c.cfg.DatabaseURL))
			said = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// errNotYet marks a database that a starting `caisse serve` may still create
// or migrate.
var errNotYet = errors.New("not yet")

type notYet struct{ error }

func (notYet) Is(target error) bool { return target == errNotYet }

// errNoFile marks a SQLite file that does not exist.
var errNoFile = errors.New("no database file")

type noFile struct{ notYet }

func (noFile) Is(target error) bool { return target == errNotYet || target == errNoFile }

// noDatabase says that the SQLite file at path does not exist, where it was
// looked for, and which databases its folder does hold.
func noDatabase(path string) error {
	where := path
	if abs, err := filepath.Abs(path); err == nil && abs != path {
		where = fmt.Sprintf("%s (%s)", path, abs)
	}
	msg := "no database at " + where
	if others := nearbyDatabases(path); others != "" {
		msg += "; its folder holds " + others + ": if one of them is caisse's, correct CAISSE_DATABASE_URL (sqlite:PATH, relative to the folder caisse runs in)"
	}
	return noFile{notYet{errors.New(msg + "; else run `caisse migrate` (or start `caisse serve`) first")}}
}

// nearbyDatabases lists the .db files beside path (a few), or "": where a
// mistyped path's database likely is.
func nearbyDatabases(path string) string {
	others, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.db"))
	for i, o := range others {
		others[i] = filepath.Base(o)
	}
	if len(others) > 5 {
		others = append(others[:5], "…")
	}
	return strings.Join(others, ", ")
}

func (c *command) openOnce(ctx context.Context) error {
	db, err := openDB(ctx, c.cfg, c.m.logger())
	if err != nil {
		return err
	}
	if path, ok := c.cfg.SQLitePath(); ok {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return noDatabase(path)
		}
	}
	if err := db.Open(ctx); err != nil {
		return err
	}
	if err := db.Ready(ctx); err != nil {
		db.Close()
		err = fmt.Errorf("database %s is not ready: %w", redactURL(c.cfg.DatabaseURL), err)
		if errors.Is(err, caisse.ErrMigrationsPending) {
			return notYet{err}
		}
		return err
	}
	c.db = db
	return nil
}

// parseAndOpen reads the flags and opens the store, for commands that read it.
func (c *command) parseAndOpen(ctx context.Context, args []string) ([]string, error) {
	pos, err := c.parse(args)
	if err != nil {
		return nil, err
	}
	return pos, c.open(ctx)
}

func (c *command) close() {
	if c.db != nil {
		c.db.Close()
	}
}

// print writes v as JSON with --json, else runs table.
func (c *command) print(v any, table func(w *tabwriter.Writer)) error {
	if c.json {
		enc := json.NewEncoder(c.m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := tabwriter.NewWriter(c.m.Stdout, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

// openMigrated opens the store named by the configuration and brings its
// schema up to date.
func openMigrated(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	db, err := openDB(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	if err := db.Open(ctx); err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (m *Main) migrate(ctx context.Context, args []string) error {
	c := m.command("migrate")
	if _, err := c.parse(args); err != nil {
		return err
	}
	db, err := openMigrated(ctx, c.cfg, m.logger())
	if err != nil {
		return err
	}
	defer db.Close()
	return c.print(map[string]any{"migrated": true, "database": redactURL(c.cfg.DatabaseURL)}, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "database %s is up to date\n", redactURL(c.cfg.DatabaseURL))
	})
}

func (m *Main) version(args []string) error {
	c := m.command("version")
	if err := c.parseFlags(args); err != nil {
		return err
	}
	return c.print(map[string]string{"version": Version}, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "caisse %s\n", Version)
	})
}

// productFlags are the flags of a products subcommand; those it does not
// take are nil.
type productFlags struct{ setStock, dryRun, force, all *bool }

func (c *command) productFlags() (f productFlags) {
	switch c.name {
	case "products import":
		f.setStock = c.fs.Bool("set-stock", false, "also set the stock of products that exist already (a restock: units sold stay sold, the file's stock becomes the units on hand)")
		f.dryRun = c.fs.Bool("dry-run", false, "only show what would change; write nothing")
		f.force = c.fs.Bool("force", false, "apply even prices 100 times off the current ones (a file in the wrong unit, most often)")
	case "products sync-cms":
		f.all = c.fs.Bool("all", false, "every product")
	}
	return f
}

func (m *Main) products(ctx context.Context, args []string) error {
	if ok, err := m.group("products", args); ok {
		return err
	}
	c := m.command("products " + args[0])
	f := c.productFlags()
	setStock, dryRun, force, all := f.setStock, f.dryRun, f.force, f.all
	pos, err := c.parseAndOpen(ctx, args[1:])
	if err != nil {
		return err
	}
	defer c.close()
	if args[0] == "import" || args[0] == "sync-cms" {
		// A change of stock tells the site (Sanity) and the shop's
		// systems, as serve would: the rows are written for the channels
		// the configuration sets up, and a running caisse sends them.
		ch, err := openChannels(c.cfg)
		if err != nil {
			return err
		}
		recipients := ch.recipients
		c.db.Outbox.Sanity, c.db.Outbox.Webhooks = recipients.Sanity, recipients.Webhooks
	}
	switch args[0] {
	case "sync-cms":
		if c.cfg.SanityProject == "" {
			return fmt.Errorf("CAISSE_SANITY_PROJECT is not set: there is no Sanity dataset to tell; set CAISSE_SANITY_PROJECT, CAISSE_SANITY_DATASET and CAISSE_SANITY_TOKEN as serve has them")
		}
		if *all == (len(pos) > 0) {
			return fmt.Errorf("usage: caisse products sync-cms --all, or caisse products sync-cms ID [ID…]")
		}
		n, err := c.db.QueueAvailability(ctx, pos)
		if err != nil {
			return err
		}
		return c.print(map[string]any{"queued": n}, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "queued the availability of %d product(s) for Sanity: a running caisse sends each as it is when it goes out (caisse outbox list --channel sanity follows them)\n", n)
		})
	case "list":
		products, err := allPages(func(p caisse.Page) ([]*caisse.Product, bool, error) { return c.db.FindProducts(ctx, p) },
			func(p *caisse.Product) string { return p.ID }, "")
		if err != nil {
			return err
		}
		return c.print(products, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tNAME\tPRICE\tSTOCK\tRESERVED\tAVAILABLE\tARTIST")
			for _, p := range products {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", p.ID, p.Name, money(p.Price, p.Currency), p.Stock, p.Reserved, p.Available,
					artistText(p))
			}
		})
	case "import":
		if len(pos) != 1 {
			return fmt.Errorf("usage: caisse products import [--set-stock] [--dry-run] [--force] [--json] FILE\n" +
				"  FILE is a CSV (\",\" or \";\" separated, UTF-8) whose first line names the columns, such as\n" +
				"    id;name;price;currency;stock\n    print-1;Print #1;900,00;eur;1\n" +
				"  (price in the currency's units; unit_amount instead for the smallest unit, 90000), or a JSON list:\n" +
				"    [{\"id\":\"print-1\",\"name\":\"Print #1\",\"price\":90000,\"currency\":\"eur\",\"stock\":1}]\n" +
				"  (a JSON number price is in the smallest unit, a string \"900.00\" in the currency's units).\n" +
				"  Columns: id, name, price, unit_amount, currency, stock, sanity_id (the README's \"Catalogue files\" says more)")
		}
		file, err := readCatalogue(pos[0])
		if err != nil {
			return err
		}
		rows := file.Rows
		inFile := func(err error) error { return inFile(pos[0], err) }
		opt := catalogue.Options{SetStock: *setStock, Preview: true, SetStockHow: "--set-stock sets it"}
		// The preview checks every row and writes nothing; then the import.
		changes, err := catalogue.Import(ctx, c.db, rows, opt)
		if err != nil {
			return inFile(err)
		}
		if len(file.Ignored) > 0 {
			// On stderr with --json, whose stdout stays the list of changes.
			w := c.m.Stdout
			if c.json {
				w = c.m.Stderr
			}
			fmt.Fprintf(w, "%s: %s\n", ignoredSaid(len(file.Ignored)), strings.Join(file.Ignored, ", "))
		}
		table := func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tCHANGE")
			for _, ch := range changes {
				fmt.Fprintf(w, "%s\t%s\n", ch.ID, ch.Change)
			}
		}
		if !c.json {
			if err := c.print(nil, table); err != nil {
				return err
			}
		}
		if suspect := countWarnings(changes); suspect > 0 && !*dryRun && !*force {
			seen := "see above"
			if c.json {
				seen = "see them with --dry-run"
			}
			return fmt.Errorf("%s: nothing imported: %d price(s) are 100 times off the current price (%s), the sign of a file in the wrong unit; "+
				"check the file, or import it as it is with --force", pos[0], suspect, seen)
		}
		if !*dryRun {
			var products caisse.ProductService = c.db
			show, done := c.progress()
			if show != nil {
				products = &importProgress{ProductService: c.db, total: len(rows), show: show}
			}
			opt.Preview = false
			changes, err = catalogue.Import(ctx, products, rows, opt)
			if done != nil {
				done()
			}
			if err != nil {
				return inFile(err)
			}
		}
		if c.json {
			return c.print(changes, nil)
		}
		count := map[string]int{}
		for _, ch := range changes {
			count[ch.Action]++
		}
		summary := fmt.Sprintf("%d new, %d updated, %d unchanged", count["new"], count["update"], count["unchanged"])
		if *dryRun {
			fmt.Fprintf(c.m.Stdout, "dry run, nothing written: %s; without --dry-run, caisse imports them\n", summary)
		} else {
			fmt.Fprintf(c.m.Stdout, "imported %d products: %s\n", len(changes), summary)
		}
		return nil
	}
	return fmt.Errorf("unknown products command %q: use import or list", args[0])
}

// readCatalogue reads a catalogue file (catalogue.Parse), naming the file
// in its errors.
func readCatalogue(path string) (*catalogue.File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	file, err := catalogue.Parse(data)
	if err != nil {
		return nil, inFile(path, err)
	}
	return file, nil
}

// ignoredSaid introduces the columns of a catalogue file that caisse left
// aside.
func ignoredSaid(n int) string {
	if n == 1 {
		return "ignored 1 column caisse does not use"
	}
	return fmt.Sprintf("ignored %d columns caisse does not use", n)
}

// inFile names the catalogue file in an error about its content: one
// problem on the line of the file's name, several below it.
func inFile(path string, err error) error {
	if caisse.ErrorCode(err) != caisse.EINVALID {
		return err
	}
	msg, sep := caisse.ErrorMessage(err), " "
	if strings.Contains(msg, "\n") {
		msg, sep = strings.ReplaceAll(msg, "\n", "\n  "), "\n  "
	}
	return caisse.Errorf(caisse.EINVALID, "%s:%s%s", path, sep, msg)
}

// importProgress shows how an import goes as it writes the products.
type importProgress struct {
	caisse.ProductService
	total, done int
	show        func(string)
}

func (p *importProgress) PutProduct(ctx context.Context, id string, u caisse.ProductUpdate) (*caisse.Product, error) {
	prod, err := p.ProductService.PutProduct(ctx, id, u)
	if p.done++; p.done%100 == 0 || p.done == p.total {
		p.show(fmt.Sprintf("imported %d of %d products", p.done, p.total))
	}
	return prod, err
}

// countWarnings counts the changes of an import that look like a mistake.
func countWarnings(changes []catalogue.Change) int {
	n := 0
	for _, ch := range changes {
		if ch.Warning != "" {
			n++
		}
	}
	return n
}

// orderFlags are the flags of an orders subcommand; those it does not
// take are nil.
type orderFlags struct {
	status *string
	toShip *bool
	page   listFlags
	ship   caisse.ShipRequest
	refund refundFlags
}

// refundFlags are the flags of caisse orders refund.
type refundFlags struct {
	amount, reason, key *string
	lines               *lineFlags
	restock             *bool
}

// lineFlags are the --line product:qty flags given, in order.
type lineFlags []string

func (l *lineFlags) String() string { return strings.Join(*l, " ") }

func (l *lineFlags) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func (c *command) orderFlags() (f *orderFlags) {
	f = &orderFlags{}
	switch c.name {
	case "orders list":
		f.status = c.fs.String("status", "", "only orders in this status, or flagged oversold, payment_mismatch or failed_attempts (a payment declined)")
		f.toShip = c.fs.Bool("to-ship", false, "only the orders to ship, oldest first, with where each goes")
		f.page = c.listFlags("orders")
	case "orders ship":
		c.fs.StringVar(&f.ship.Carrier, "carrier", "", "the carrier that took the parcel, such as Colissimo")
		c.fs.StringVar(&f.ship.TrackingNumber, "tracking", "", "the parcel's tracking number")
		c.fs.StringVar(&f.ship.TrackingURL, "tracking-url", "", "the page where the buyer follows the parcel (https://…)")
	case "orders refund":
		f.refund.amount = c.fs.String("amount", "", "the amount to refund, in the order's currency (15 or 15.00 EUR); with --line, instead of the lines' price")
		f.refund.lines = &lineFlags{}
		c.fs.Var(f.refund.lines, "line", "a line returned, product:quantity (once per product)")
		f.refund.restock = c.fs.Bool("restock", false, "put the lines' units back in stock once Stripe confirms the refund")
		f.refund.reason = c.fs.String("reason", "", "Stripe's reason: duplicate, fraudulent or requested_by_customer")
		f.refund.key = c.fs.String("key", "", "tells apart a second refund of the same amount or lines, meant as one more")
	}
	return f
}

// refundRequest reads the flags of caisse orders refund for order o.
func (f refundFlags) request(o *caisse.Order) (caisse.RefundRequest, error) {
	r := caisse.RefundRequest{Restock: *f.restock, Reason: *f.reason, Key: *f.key}
	if *f.amount != "" {
		amount, err := caisse.ParseAmount(*f.amount, o.Currency)
		if err != nil {
			return r, err
		}
		if amount == 0 {
			return r, caisse.Errorf(caisse.EINVALID, "--amount must be more than 0")
		}
		r.Amount = amount
	}
	for _, l := range *f.lines {
		product, qty, ok := strings.Cut(l, ":")
		n, err := strconv.ParseInt(strings.TrimSpace(qty), 10, 64)
		if !ok || err != nil || strings.TrimSpace(product) == "" {
			return r, caisse.Errorf(caisse.EINVALID, "--line %q must be product:quantity, such as print-1:2", l)
		}
		r.Lines = append(r.Lines, caisse.Item{ProductID: strings.TrimSpace(product), Quantity: n})
	}
	if r.Amount == 0 && len(r.Lines) == 0 {
		return r, caisse.Errorf(caisse.EINVALID, "say what to refund: --amount, or --line product:quantity for each line returned")
	}
	return r, nil
}

func (m *Main) orders(ctx context.Context, args []string) error {
	if ok, err := m.group("orders", args); ok {
		return err
	}
	c := m.command("orders " + args[0])
	f := c.orderFlags()
	status, page, refund := f.status, f.page, f.refund
	pos, err := c.parseAndOpen(ctx, args[1:])
	if err != nil {
		return err
	}
	defer c.close()
	switch args[0] {
	case "list":
		if *f.toShip {
			if *status != "" {
				return fmt.Errorf("caisse orders list takes --status or --to-ship, not both")
			}
			*status = string(caisse.FlagToShip)
		}
		orders, err := listPage(c, page, "orders", func(p caisse.Page) ([]*caisse.Order, bool, error) {
			return c.db.FindOrders(ctx, caisse.OrderFilter{Status: caisse.OrderStatus(*status), Page: p})
		}, func(o *caisse.Order) string { return o.ID })
		if err != nil {
			return err
		}
		if *f.toShip {
			return c.print(orders, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ID	ITEMS	PAID	SHIP TO	PAID SINCE")
				for _, o := range orders {
					to := "(no address: the checkout did not ask for one)"
					if !o.Shipping.IsZero() {
						to = strings.Join(o.Shipping.Lines(), ", ")
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", o.ID, linesText(o.Items), money(o.AmountPaid, o.Currency), to,
						o.CreatedAt.Format(time.DateTime))
				}
			})
		}
		return c.print(orders, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tSTATUS\tITEMS\tDUE\tPAID\tREFUNDED\tFLAGS\tUPDATED")
			for _, o := range orders {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.Status.Words(caisse.LangEnglish), linesText(o.Items),
					money(o.AmountDue, o.Currency), money(o.AmountPaid, o.Currency), money(o.AmountRefunded, o.Currency), flags(o),
					o.UpdatedAt.Format(time.DateTime))
			}
		})
	case "ship":
		if len(pos) != 1 {
			return fmt.Errorf("usage: caisse orders ship ID --carrier C --tracking N [--tracking-url URL]")
		}
		// The buyer's email and the shop's webhook are written for the
		// channels the configuration sets up, as serve would write them;
		// a running caisse sends them.
		ch, err := openChannels(c.cfg)
		if err != nil {
			return err
		}
		c.db.Outbox = ch.recipients
		o, err := c.db.ShipOrder(ctx, pos[0], f.ship)
		if err != nil {
			var e *caisse.Error
			if errors.As(err, &e) && e.Code == caisse.EINVALID && e.Reason == caisse.ShipMissing {
				return fmt.Errorf("say which carrier took the parcel and its tracking number: caisse orders ship %s --carrier Colissimo --tracking 6A12345678901", pos[0])
			}
			return err
		}
		return c.print(o, func(w *tabwriter.Writer) {
			s := o.Shipment
			fmt.Fprintf(w, "order %s shipped with %s, tracking %s", o.ID, s.Carrier, s.TrackingNumber)
			if s.TrackingURL != "" {
				fmt.Fprintf(w, " (%s)", s.TrackingURL)
			}
			fmt.Fprintln(w, ": the buyer is told")
		})
	case "show":
		if len(pos) != 1 {
			return fmt.Errorf("usage: caisse orders show ID")
		}
		o, err := c.db.FindOrder(ctx, pos[0])
		if err != nil {
			return err
		}
		return c.print(o, func(w *tabwriter.Writer) {
			mode := "test"
			if o.Livemode {
				mode = "live"
			}
			fmt.Fprintf(w, "order\t%s (%s mode)\nstatus\t%s\nitems\t%s\ndue\t%s\npaid\t%s\nrefunded\t%s\ncustomer\t%s\nsession\t%s\npayment intent\t%s\n",
				o.ID, mode, o.Status.Words(caisse.LangEnglish), caisse.DescribeLines(o.Items, o.UnknownProducts, o.Currency, caisse.LangEnglish),
				money(o.AmountDue, o.Currency), money(o.AmountPaid, o.Currency), money(o.AmountRefunded, o.Currency),
				customerText(o.Customer), o.CheckoutSession, o.PaymentIntent)
			if !o.Shipping.IsZero() {
				to := strings.Join(o.Shipping.Lines(), ", ")
				if o.Shipping.Phone != "" {
					to += ", " + o.Shipping.Phone
				}
				fmt.Fprintf(w, "ship to\t%s\n", to)
			}
			if s := o.Shipment; s != nil {
				fmt.Fprintf(w, "shipped\t%s with %s, tracking %s\n", s.ShippedAt.Format(time.DateTime), s.Carrier, s.TrackingNumber)
			} else if why := o.CannotShip(); why == "" {
				fmt.Fprintf(w, "shipped\tnot yet: caisse orders ship %s --carrier … --tracking …\n", o.ID)
			}
			for _, part := range []struct {
				name   string
				amount int64
			}{{"shipping", o.AmountShipping}, {"tax", o.AmountTax}, {"discount", o.AmountDiscount}} {
				if part.amount != 0 {
					fmt.Fprintf(w, "%s\t%s\n", part.name, money(part.amount, o.Currency))
				}
			}
			if o.Fee != nil {
				fmt.Fprintf(w, "stripe fee\t%s\nnet\t%s\n", money(*o.Fee, o.FeeCurrency), money(*o.Net, o.FeeCurrency))
			} else if o.Pending {
				fmt.Fprintf(w, "stripe fee\tbeing asked of Stripe\n")
			}
			if p := o.Payout; p != nil {
				fmt.Fprintf(w, "payout\t%s, in the bank on %s\n", p.ID, p.ArrivalDate.Format(time.DateOnly))
			}
			if o.FailedAttempts > 0 {
				fmt.Fprintf(w, "declined attempts\t%d\n", o.FailedAttempts)
			}
			if o.PaymentError != "" {
				fmt.Fprintf(w, "payment error\t%s\n", o.PaymentError)
			}
			if o.Dispute != nil {
				fmt.Fprintf(w, "dispute\t%s: %s, %s\n", o.Dispute.ID, caisse.DisputeWords(o.Dispute.Status, caisse.LangEnglish),
					money(o.Dispute.Amount, o.Currency))
			}
			if o.Oversold {
				fmt.Fprintf(w, "oversold\tyes: paid but no stock was left; refund or restock\n")
			}
			if o.PaymentMismatch {
				fmt.Fprintf(w, "payment mismatch\tyes: %s paid short of the amount due or in another currency; refund or settle with the buyer\n",
					strings.Join(o.MismatchedPayments, ", "))
				if len(o.MismatchRefunds) > 0 {
					fmt.Fprintf(w, "mismatch refunds\t%s\n", strings.Join(o.MismatchRefunds, ", "))
				}
			}
			if fw := o.FraudWarning; fw != nil {
				what := "refund it before it becomes a dispute, and do not ship it"
				if o.FraudRefund != "" {
					what = "refund " + o.FraudRefund + " asked of Stripe"
				}
				fmt.Fprintf(w, "fraud warning\t%s on %s (%s): %s\n", fw.FraudType, fw.Charge, fw.ID, what)
			}
			for _, x := range o.RefundsRequested {
				what := map[caisse.RefundStatus]string{caisse.RefundRequested: "requested", caisse.RefundConfirmed: "refunded",
					caisse.RefundFailed: "failed: " + x.Error}[x.Status]
				fmt.Fprintf(w, "refund\t%s %s\n", x.RequestedAt.Format(time.DateTime), caisse.RefundNote(x, o.Currency, what))
			}
			for _, id := range o.UnknownProducts {
				fmt.Fprintf(w, "unknown product\t%s\n", caisse.NotInCatalogue(id, caisse.LangEnglish))
			}
			if o.ItemsError != "" {
				fmt.Fprintf(w, "items error\t%s\n", o.ItemsError)
			}
			fmt.Fprintf(w, "\nTIMELINE\tEVENT\tTYPE\tFROM\tTO\tSTOCK\tNOTE\n")
			for _, e := range o.Timeline {
				from := "—"
				if e.From != "" {
					from = e.From.Words(caisse.LangEnglish)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Format(time.DateTime), e.EventID, e.Type, from, e.To.Words(caisse.LangEnglish),
					stockText(e.Stock), e.Note)
			}
		})
	case "refund":
		if len(pos) != 1 {
			return fmt.Errorf("usage: caisse orders refund ID [--amount A] [--line product:quantity]… [--restock] [--reason R]")
		}
		o, err := c.db.FindOrder(ctx, pos[0])
		if err != nil {
			return err
		}
		r, err := refund.request(o)
		if err != nil {
			return err
		}
		x, err := c.db.Payments().RequestRefund(ctx, o.ID, r)
		if err != nil {
			return err
		}
		return c.print(x, func(w *tabwriter.Writer) {
			what := "asked of Stripe; the order shows it refunded once Stripe's events confirm it"
			if x.Repeated {
				what = "asked for before: this is that refund, " + string(x.Status) + " (give --key to refund as much again)"
			}
			fmt.Fprintf(w, "%s\n", caisse.RefundNote(*x, o.Currency, what))
			fmt.Fprintf(w, "refund\t%s\n", x.ID)
		})
	}
	return fmt.Errorf("unknown orders command %q: use list, show or refund", args[0])
}

// reconcile lists the account's recent events through Stripe's API and
// stores those caisse never received; a running caisse processes them.
func (m *Main) reconcile(ctx context.Context, args []string) error {
	c := m.command("reconcile")
	if _, err := c.parse(args); err != nil {
		return err
	}
	if c.cfg.SecretKey == "" {
		return fmt.Errorf("STRIPE_SECRET_KEY is not set: catching up reads events through Stripe's API, which needs the account's secret key")
	}
	if err := c.open(ctx); err != nil {
		return err
	}
	defer c.close()
	show, done := c.progress()
	if show != nil {
		c.db.Payments().ReconcileProgress = func(r payments.ReconcileReport) {
			show(fmt.Sprintf("%d events listed by Stripe since %s, %d new", r.Found, r.Since.Format(time.DateTime), r.Stored))
		}
	}
	rep, err := c.db.Reconcile(ctx)
	if done != nil {
		done()
	}
	// The events stored before an error are kept and counted.
	if perr := c.print(rep, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "found %d events since %s, stored %d new\n", rep.Found, rep.Since.Format(time.RFC3339), rep.Stored)
	}); err == nil {
		err = perr
	}
	return err
}

// eventFlags are the flags of an events subcommand; those it does not
// take are nil.
type eventFlags struct {
	status, typ *string
	page        listFlags
	failed      *bool
}

func (c *command) eventFlags() (f eventFlags) {
	switch c.name {
	case "events list":
		f.status = c.fs.String("status", "", "only events in this status (pending, processed, ignored, failed)")
		f.typ = c.fs.String("type", "", "only events of this type")
		f.page = c.listFlags("events")
	case "events replay":
		f.failed = c.fs.Bool("failed", false, "replay every failed event")
	}
	return f
}

func (m *Main) events(ctx context.Context, args []string) error {
	if ok, err := m.group("events", args); ok {
		return err
	}
	c := m.command("events " + args[0])
	f := c.eventFlags()
	status, typ, page, failed := f.status, f.typ, f.page, f.failed
	pos, err := c.parseAndOpen(ctx, args[1:])
	if err != nil {
		return err
	}
	defer c.close()
	switch args[0] {
	case "list":
		events, err := listPage(c, page, "events", func(p caisse.Page) ([]*caisse.Event, bool, error) {
			return c.db.FindEvents(ctx, caisse.EventFilter{Status: caisse.EventStatus(*status), Type: *typ, Page: p})
		}, func(e *caisse.Event) string { return e.ID })
		if err != nil {
			return err
		}
		return c.print(events, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tTYPE\tSTATUS\tATTEMPTS\tORDER\tRECEIVED\tLAST ERROR")
			for _, e := range events {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.ID, e.Type, e.Status, e.Attempts, e.OrderID,
					e.ReceivedAt.Format(time.DateTime), e.LastError)
			}
		})
	case "show":
		if len(pos) != 1 {
			return fmt.Errorf("usage: caisse events show ID")
		}
		e, err := c.db.FindEvent(ctx, pos[0])
		if err != nil {
			return err
		}
		// An ignored event's payload is pruned after CAISSE_RETENTION.
		payload := json.RawMessage(e.Payload)
		if len(payload) == 0 {
			payload = json.RawMessage("null")
		}
		return c.print(struct {
			*caisse.Event
			Payload json.RawMessage `json:"payload"`
		}{e, payload}, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "event\t%s\ntype\t%s\nstatus\t%s\nattempts\t%d\norder\t%s\nreceived\t%s\napi version\t%s\nlivemode\t%t\n",
				e.ID, e.Type, e.Status, e.Attempts, e.OrderID, e.ReceivedAt.Format(time.RFC3339), e.APIVersion, e.Livemode)
			if e.LastError != "" {
				fmt.Fprintf(w, "last error\t%s\n", e.LastError)
			}
			if len(e.Payload) == 0 {
				fmt.Fprintf(w, "\n(the payload of this ignored event was pruned after CAISSE_RETENTION)\n")
			} else {
				fmt.Fprintf(w, "\n%s\n", e.Payload)
			}
		})
	case "replay":
		return c.again(pos, *failed, "replayed", "caisse events replay ID, or caisse events replay --failed",
			"queued %d event(s) for processing by the running caisse\n",
			func(id string) error { _, err := c.db.ReplayEvent(ctx, id); return err },
			func() ([]string, error) { return c.db.ReplayFailed(ctx) })
	}
	return fmt.Errorf("unknown events command %q: use list, show or replay", args[0])
}

// again puts one item (its id the only positional argument) or, with
// --failed, every failed one back to work, and prints their ids under key.
func (c *command) again(pos []string, failed bool, key, usage, done string, one func(id string) error, all func() ([]string, error)) error {
	var ids []string
	switch {
	case failed && len(pos) == 0:
		var err error
		if ids, err = all(); err != nil {
			return err
		}
	case !failed && len(pos) == 1:
		if err := one(pos[0]); err != nil {
			return err
		}
		ids = pos
	default:
		return fmt.Errorf("usage: %s", usage)
	}
	if ids == nil {
		ids = []string{}
	}
	return c.print(map[string]any{key: ids}, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, done, len(ids))
		for _, id := range ids {
			fmt.Fprintln(w, id)
		}
	})
}

// allPages reads every page of a list, from the item after the id after
// ("" for the first).
func allPages[T any](find func(caisse.Page) ([]T, bool, error), id func(T) string, after string) ([]T, error) {
	var all []T
	p := caisse.Page{Limit: 1000, StartingAfter: after}
	for {
		items, more, err := find(p)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if !more || len(items) == 0 {
			return all, nil
		}
		p.StartingAfter = id(items[len(items)-1])
	}
}

// stockText says what a timeline entry did to the stock, such as
// "print-1: stock -1".
func stockText(moves []caisse.StockMove) string {
	parts := make([]string, len(moves))
	for i, m := range moves {
		parts[i] = m.String()
	}
	return strings.Join(parts, "; ")
}

// money writes an amount as the CLI shows it: in English, like its words
// (€1,250.00, ¥5,000).
func money(amount int64, currency string) string {
	return caisse.FormatMoney(amount, currency, caisse.LangEnglish)
}

// artistText says who made a work and who is told of its sales: "Claude
// Monet <claude@example.com>, 60 %".
func artistText(p *caisse.Product) string {
	s := p.ArtistName
	if len(p.ArtistEmail) > 0 {
		s = strings.TrimSpace(s + " <" + p.ArtistEmail.String() + ">")
	}
	if p.ArtistShare > 0 {
		s += ", " + p.ArtistShare.String() + " %"
	}
	return s
}

// linesText writes an order's lines briefly, for a table: "2 × T-shirt M,
// 1 × print-9".
func linesText(lines []caisse.Line) string {
	parts := make([]string, len(lines))
	for i, l := range lines {
		parts[i] = fmt.Sprintf("%d × %s", l.Quantity, cmp.Or(l.Name, l.ProductID))
	}
	return strings.Join(parts, ", ")
}

// customerText writes who bought: "Camille Martin <camille@example.com>,
// +33 6 12 34 56 78".
func customerText(c caisse.Customer) string {
	s := c.Email
	if c.Name != "" && c.Email != "" {
		s = c.Name + " <" + c.Email + ">"
	} else if c.Name != "" {
		s = c.Name
	}
	if c.Phone != "" {
		s += ", " + c.Phone
	}
	return s
}

// flags lists the flags an order carries, for a table.
func flags(o *caisse.Order) string {
	var f []string
	if o.Oversold {
		f = append(f, "oversold")
	}
	if o.PaymentMismatch {
		f = append(f, "payment mismatch")
	}
	if o.FailedAttempts > 0 {
		f = append(f, fmt.Sprintf("%d declined", o.FailedAttempts))
	}
	if o.ItemsError != "" || len(o.UnknownProducts) > 0 {
		f = append(f, "items error")
	}
	return strings.Join(f, ", ")
}
