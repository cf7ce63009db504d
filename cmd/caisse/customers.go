package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
)

// customers forgets a customer's personal data.
func (m *Main) customers(ctx context.Context, args []string) error {
	if ok, err := m.group("customers", args); ok {
		return err
	}
	c := m.command("customers " + args[0])
	pos, err := c.parse(args[1:])
	if err != nil {
		return err
	}
	if args[0] != "forget" {
		return fmt.Errorf("unknown customers command %q: use forget", args[0])
	}
	if len(pos) != 1 {
		fmt.Fprintf(m.Stderr, "caisse customers forget: give one email address\n\n")
		c.printHelp(m.Stderr, c.name)
		return errUsage
	}
	if err := c.open(ctx); err != nil {
		return err
	}
	defer c.close()
	f, err := c.db.ForgetCustomer(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.print(f, func(w *tabwriter.Writer) {
		if len(f.Orders) == 0 && f.Events == 0 && f.Deliveries == 0 && f.Facts == 0 {
			fmt.Fprintf(w, "caisse holds nothing about %s\n", f.Email)
			return
		}
		fmt.Fprintf(w, "forgot %s: name, email, phone and addresses erased\n", f.Email)
		fmt.Fprintf(w, "orders\t%d\t%s\n", len(f.Orders), strings.Join(f.Orders, " "))
		fmt.Fprintf(w, "event payloads redacted\t%d\n", f.Events)
		fmt.Fprintf(w, "outbox rows\t%d\n", f.Deliveries)
		fmt.Fprintf(w, "facts\t%d\n", f.Facts)
		fmt.Fprintf(w, "amounts, statuses and ids are kept; Stripe keeps its own copy (erase it there too)\n")
	})
}
