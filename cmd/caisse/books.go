package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/caisse/caisse"
)

// The books from the command line: `caisse report` adds up a period as the
// dashboard does; `caisse export sales` writes its movements as the
// accountant's CSV or FEC journal.

type booksFlags struct {
	from, to, mode, format, locale, output *string
}

func (c *command) booksFlags(export bool) (f booksFlags) {
	f.from = c.fs.String("from", "", "the first day, such as 2026-11-01, in the shop's time zone (CAISSE_TIMEZONE)")
	f.to = c.fs.String("to", "", "the last day, included, such as 2026-11-30")
	f.mode = c.fs.String("mode", "", "live or test: which of Stripe's modes (default: the one CAISSE_LIVEMODE accepts, else the secret key's, else live)")
	if export {
		f.format = c.fs.String("format", "csv", "csv (one line per money movement) or fec (the French accounting journal)")
		f.locale = c.fs.String("locale", "en", "en (1234.50, comma-separated) or fr (1234,50, semicolon-separated), for the CSV")
		f.output = c.fs.String("output", "", "write to this file instead of the standard output")
	}
	return f
}

// period reads the flags' period and mode.
func (c *command) booksPeriod(f booksFlags) (caisse.Period, *time.Location, bool, error) {
	loc := c.cfg.TimeZone
	if loc == nil {
		loc = time.UTC
	}
	if *f.from == "" || *f.to == "" {
		return caisse.Period{}, loc, false, fmt.Errorf("give the period with --from and --to, days such as 2026-11-01 and 2026-11-30 (--to is included)")
	}
	p, err := caisse.ParsePeriod(*f.from, *f.to, loc)
	if err != nil {
		return p, loc, false, err
	}
	live, err := caisse.ParseMode(*f.mode, c.cfg.BooksLive())
	if err != nil {
		return p, loc, false, fmt.Errorf("--%s", caisse.ErrorMessage(err))
	}
	return p, loc, live, nil
}

// report prints the books of a period: its figures per currency.
func (m *Main) report(ctx context.Context, args []string) error {
	c := m.command("report")
	f := c.booksFlags(false)
	if _, err := c.parse(args); err != nil {
		return err
	}
	p, loc, live, err := c.booksPeriod(f)
	if err != nil {
		return err
	}
	if err := c.open(ctx); err != nil {
		return err
	}
	defer c.close()
	rep, err := caisse.NewReport(ctx, c.db, p, loc, live, c.cfg.SecretKey != "")
	if err != nil {
		return err
	}
	return c.print(rep, func(w *tabwriter.Writer) {
		mode := "live"
		if !live {
			mode = "test"
		}
		fmt.Fprintf(w, "from %s to %s (included), %s, %s mode\n\n", rep.From, rep.To, rep.TimeZone, mode)
		fmt.Fprintf(w, "currency\tpayments\tgross\trefunds\tdisputes lost\tfees\tother\tnet\tpaid out\n")
		for _, f := range rep.Currencies {
			a := func(v int64) string { return caisse.FormatAmount(v, f.Currency) }
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Currency, f.Payments, a(f.Gross), a(f.Refunds), a(f.DisputesLost),
				a(f.Fees), a(f.Other), a(f.Net), a(f.PaidOut))
		}
		if len(rep.Currencies) == 0 {
			fmt.Fprintf(w, "no money moved\n")
		}
		if rep.Note != "" {
			fmt.Fprintf(w, "\n%s\n", rep.Note)
		}
	})
}

// export writes the sales of a period.
func (m *Main) export(ctx context.Context, args []string) error {
	if ok, err := m.group("export", args); ok {
		return err
	}
	c := m.command("export " + args[0])
	f := c.booksFlags(true)
	pos, err := c.parse(args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("caisse export sales takes no argument: give the period with --from and --to")
	}
	if c.json {
		return fmt.Errorf("caisse export sales writes CSV or FEC, not JSON: use --format csv or --format fec (caisse report --json gives the figures)")
	}
	p, loc, live, err := c.booksPeriod(f)
	if err != nil {
		return err
	}
	x := caisse.Export{Period: p, Loc: loc, Livemode: live, Format: *f.format, Locale: *f.locale, Accounts: c.cfg.Accounts}
	if err := x.Check(); err != nil {
		return fmt.Errorf("--%s", caisse.ErrorMessage(err))
	}
	if err := c.open(ctx); err != nil {
		return err
	}
	defer c.close()
	var w io.Writer = m.Stdout
	var file *os.File
	if *f.output != "" {
		if file, err = os.Create(*f.output); err != nil {
			return fmt.Errorf("cannot write the export: %w", err)
		}
		defer file.Close()
		w = file
	}
	if _, err := caisse.ExportSales(ctx, c.db, w, x); err != nil {
		return fmt.Errorf("the export stopped short: %w", err)
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return fmt.Errorf("cannot write the export: %w", err)
		}
	}
	return nil
}
