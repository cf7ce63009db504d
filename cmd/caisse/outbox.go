package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/caisse/caisse"
)

// outboxFlags are the flags of an outbox subcommand; those it does not
// take are nil.
type outboxFlags struct {
	status, channel, order *string
	page                   listFlags
	failed                 *bool
}

func (c *command) outboxFlags() (f outboxFlags) {
	switch c.name {
	case "outbox list":
		f.status = c.fs.String("status", "", "only deliveries in this status (pending, delivered, failed, skipped)")
		f.channel = c.fs.String("channel", "", "only deliveries on this channel (email, alert, sanity, webhook, stripe)")
		f.order = c.fs.String("order", "", "only deliveries about this order")
		f.page = c.listFlags("deliveries")
	case "outbox retry":
		f.failed = c.fs.Bool("failed", false, "retry every failed delivery")
	}
	return f
}

// outbox lists the deliveries and sends failed ones again.
func (m *Main) outbox(ctx context.Context, args []string) error {
	if ok, err := m.group("outbox", args); ok {
		return err
	}
	c := m.command("outbox " + args[0])
	f := c.outboxFlags()
	status, channel, order, page, failed := f.status, f.channel, f.order, f.page, f.failed
	pos, err := c.parseAndOpen(ctx, args[1:])
	if err != nil {
		return err
	}
	defer c.close()
	switch args[0] {
	case "list":
		deliveries, err := listPage(c, page, "deliveries", func(p caisse.Page) ([]*caisse.Delivery, bool, error) {
			return c.db.FindDeliveries(ctx, caisse.DeliveryFilter{Status: caisse.DeliveryStatus(*status), Channel: caisse.Channel(*channel),
				OrderID: *order, Page: p})
		}, func(d *caisse.Delivery) string { return d.ID })
		if err != nil {
			return err
		}
		return c.print(deliveries, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ID\tCHANNEL\tTOPIC\tTO\tORDER\tSTATUS\tATTEMPTS\tCREATED\tLAST ERROR")
			for _, d := range deliveries {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Channel, d.Topic, d.Recipient, d.OrderID, d.Status,
					d.Attempts, d.CreatedAt.Format(time.DateTime), d.LastError)
			}
		})
	case "retry":
		return c.again(pos, *failed, "retried", "caisse outbox retry ID, or caisse outbox retry --failed",
			"%d delivery(ies) will be sent again by the running caisse\n",
			func(id string) error { _, err := c.db.RetryDelivery(ctx, id); return err },
			func() ([]string, error) { return c.db.RetryFailedDeliveries(ctx) })
	}
	return fmt.Errorf("unknown outbox command %q: use list or retry", args[0])
}
