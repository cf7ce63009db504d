package catalogue

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/caisse/caisse"
)

// Change is what importing one product did, or would do.
type Change struct {
	ID string `json:"id"`
	// Action is "new", "update" or "unchanged".
	Action string `json:"action"`
	Change string `json:"change"`
	// Warning is set when the new price looks like a mistake of unit: 100
	// times the current one, or a hundredth of it (for two-decimal
	// currencies). Change says it too.
	Warning string          `json:"warning,omitempty"`
	Product *caisse.Product `json:"product"`
}

// Options say how Import goes.
type Options struct {
	// SetStock sets the stock of products that exist already to the
	// file's: a restock. Without it they keep their stock.
	SetStock bool
	// Preview writes nothing, and says what the import would do.
	Preview bool
	// SetStockHow says, in a kept stock's change, how to set it instead:
	// the CLI's flag or the page's box, in the words of whoever reads the
	// change. Empty, the change says only that the stock is kept.
	SetStockHow string
}

// Import creates or updates each product of a catalogue; with
// opt.Preview it writes nothing and says what it would do. The stock of a
// product that exists already is kept unless opt.SetStock: a catalogue
// file holds the stock a product started with, and importing it again
// must never put back units that were sold.
//
// Before it writes anything, it checks every row against the shop: a price
// needs a currency (the row's, or the product's), and a new product needs
// a name, a price, a currency and its stock (never 0 by default). A row
// that fails is an EINVALID error naming its line, and nothing is written.
// A store that is a caisse.ProductImporter imports every row in one
// transaction, whole or not at all.
func Import(ctx context.Context, products caisse.ProductService, rows []Row, opt Options) ([]Change, error) {
	setStock, preview := opt.SetStock, opt.Preview
	type plan struct {
		id           string
		before       *caisse.Product
		u            caisse.ProductUpdate
		kept, notice string
	}
	var plans []plan
	var p problems
	// A store that imports in one transaction also reads the products in
	// one go: a catalogue of 100,000 rows is not 100,000 round trips.
	importer, whole := products.(caisse.ProductImporter)
	var existing map[string]*caisse.Product
	if whole {
		ids := make([]string, len(rows))
		for i := range rows {
			ids[i] = rows[i].ID
		}
		var err error
		if existing, err = importer.FindProductsByID(ctx, ids); err != nil {
			return nil, err
		}
	}
	for i := range rows {
		r := &rows[i]
		var before *caisse.Product
		if whole {
			before = existing[r.ID]
		} else if found, err := products.FindProduct(ctx, r.ID); err == nil {
			before = found
		} else if caisse.ErrorCode(err) != caisse.ENOTFOUND {
			return nil, err
		}
		u, notice, problem := r.resolve(before)
		if problem != "" {
			p.add("%s: %s", r.where(), problem)
			continue
		}
		if before != nil && u.Stock != nil && setStock && *u.Stock < before.Reserved {
			// Checked here, so the import is refused whole, not half-way.
			p.add("%s: %s's stock %d is below the %d units open checkouts reserve; set at least %d, or wait for them to end",
				r.where(), r.ID, *u.Stock, before.Reserved, before.Reserved)
			continue
		}
		var kept string
		if before != nil && u.Stock != nil && !setStock {
			if *u.Stock != before.Stock {
				kept = fmt.Sprintf("stock kept at %d (the file says %d", before.Stock, *u.Stock)
				if opt.SetStockHow != "" {
					kept += "; " + opt.SetStockHow
				}
				kept += ")"
			}
			u.Stock = nil
		}
		plans = append(plans, plan{id: r.ID, before: before, u: u, kept: kept, notice: notice})
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	var written map[string]*caisse.Product
	if whole && !preview {
		puts := make([]caisse.ProductPut, len(plans))
		for i, pl := range plans {
			puts[i] = caisse.ProductPut{ID: pl.id, Update: pl.u}
		}
		afters, err := importer.PutProducts(ctx, puts)
		if caisse.ErrorCode(err) == caisse.EINTERNAL {
			return nil, fmt.Errorf("error importing %d products, none imported: %w", len(puts), err)
		} else if err != nil {
			return nil, caisse.Errorf(caisse.ErrorCode(err), "%s (nothing was imported)", caisse.ErrorMessage(err))
		}
		written = make(map[string]*caisse.Product, len(afters))
		for _, a := range afters {
			written[a.ID] = a
		}
	}
	var out []Change
	for _, pl := range plans {
		var after *caisse.Product
		var err error
		switch {
		case preview:
			after = previewUpdate(pl.id, pl.before, pl.u)
		case whole:
			after = written[pl.id]
		default:
			if after, err = products.PutProduct(ctx, pl.id, pl.u); err != nil {
				return out, caisse.Errorf(caisse.ErrorCode(err), "product %s: %s (products before it were imported)", pl.id, caisse.ErrorMessage(err))
			}
		}
		ch := Change{ID: pl.id, Action: "update", Change: describeImport(pl.before, after, pl.kept, pl.notice), Product: after}
		if pl.before == nil {
			ch.Action = "new"
		} else if ch.Change == "unchanged" {
			ch.Action = "unchanged"
		}
		if pl.before != nil && pl.before.Price != after.Price {
			ch.Warning = pl.notice
		}
		out = append(out, ch)
	}
	return out, nil
}

// resolve is the update a row makes to the product it names (nil for a
// new one), and a notice about its price; or what is wrong with the row.
func (r *Row) resolve(before *caisse.Product) (u caisse.ProductUpdate, notice, problem string) {
	u = r.ProductUpdate
	currency := ""
	if u.Currency != nil && *u.Currency != "" {
		currency = *u.Currency
	} else if before != nil {
		currency = before.Currency
	}
	if before == nil {
		var needs, absent, empty, keys []string
		need := func(what string, missing bool, columns ...string) {
			if !missing {
				return
			}
			needs = append(needs, what)
			switch {
			case r.file == nil:
			case r.file.json:
				keys = append(keys, strconv.Quote(columns[0]))
			case !r.file.columns[columns[0]] && (len(columns) == 1 || !r.file.columns[columns[1]]):
				absent = append(absent, strings.Join(columns, " (or ")+strings.Repeat(")", len(columns)-1))
			default:
				empty = append(empty, columns[0])
			}
		}
		need("a name", u.Name == nil, "name")
		need("a price (or unit_amount)", u.Price == nil && r.PriceText == "", "price", "unit_amount")
		need("a currency (such as eur)", currency == "", "currency")
		need("a stock (the units on hand, 0 if none yet)", u.Stock == nil, "stock")
		if len(needs) > 0 {
			var why []string
			switch len(absent) {
			case 0:
			case 1:
				why = append(why, "the file has no column "+absent[0])
			default:
				why = append(why, "the file has no columns "+joinAnd(absent))
			}
			switch len(empty) {
			case 0:
			case 1:
				why = append(why, "its "+empty[0]+" is empty")
			default:
				why = append(why, "its "+joinAnd(empty)+" are empty")
			}
			if len(keys) > 0 {
				list := keys[len(keys)-1]
				if len(keys) > 1 {
					list = strings.Join(keys[:len(keys)-1], ", ") + " or " + list
				}
				why = append(why, "it has no "+list)
			}
			problem = fmt.Sprintf("%s is a new product, so it needs %s", r.ID, joinAnd(needs))
			if len(why) > 0 {
				problem += ": " + strings.Join(why, "; ")
			}
			return u, "", problem
		}
	}
	if r.PriceText != "" {
		if currency == "" {
			how := "add a column currency"
			if r.file != nil && r.file.json {
				how = `give its "currency"`
			}
			return u, "", fmt.Sprintf("price %q needs a currency: %s, such as eur", quoteShort(r.PriceText), how)
		}
		n, err := readPrice(r.PriceText, currency)
		if err != nil {
			return u, "", "price " + caisse.ErrorMessage(err)
		}
		u.Price = &n
	}
	if before != nil && u.Currency != nil && *u.Currency != "" && *u.Currency != before.Currency && u.Price == nil {
		return u, "", fmt.Sprintf("the currency of %s changes from %s to %s, but the row gives no price: give its price in %s",
			r.ID, strings.ToUpper(before.Currency), strings.ToUpper(*u.Currency), strings.ToUpper(*u.Currency))
	}
	if before != nil && u.Price != nil && currency == before.Currency {
		notice = priceNotice(r.priceFrom, before.Price, *u.Price, currency)
	}
	return u, notice, ""
}

// priceNotice warns of a new price that looks like a mistake of unit: the
// current one times 100 (for a two-decimal currency), or divided by 100.
func priceNotice(from string, before, after int64, currency string) string {
	exp := caisse.CurrencyExponent(currency)
	if exp == 0 || currency == "" || before <= 0 || after <= 0 || before == after {
		return ""
	}
	f := int64(1)
	for range exp {
		f *= 10
	}
	smallest := "cents"
	if exp != 2 {
		smallest = "the smallest unit of " + strings.ToUpper(currency)
	}
	units, cents := caisse.FormatAmount(15*f, currency), strconv.FormatInt(15*f, 10)
	switch {
	case after == before*f:
		switch from {
		case "unit_amount":
			return fmt.Sprintf("%d times the current price: unit_amount is in %s, %s for %s", f, smallest, cents, units)
		case "json":
			return fmt.Sprintf("%d times the current price: a JSON number is in %s, %s for %s", f, smallest, cents, units)
		}
		return fmt.Sprintf("%d times the current price: is the file in %s? use the column unit_amount for %s", f, smallest, smallest)
	case before == after*f:
		switch from {
		case "unit_amount":
			return fmt.Sprintf("1/%d of the current price: unit_amount is in %s; for amounts such as %s, use the column price", f, smallest, units)
		case "json":
			return fmt.Sprintf("1/%d of the current price: a JSON number is in %s; write an amount such as %s as a string, \"%s\"", f, smallest, units, strings.Fields(units)[0])
		}
		return fmt.Sprintf("1/%d of the current price: price is in %s, such as %s (unit_amount is in %s)", f, strings.ToUpper(currency), strings.Fields(units)[0], smallest)
	}
	return ""
}

// joinAnd joins "a", "b" and "c" as "a, b and c".
func joinAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// previewUpdate is the product as an update would leave it.
func previewUpdate(id string, before *caisse.Product, u caisse.ProductUpdate) *caisse.Product {
	p := caisse.Product{ID: id}
	if before != nil {
		p = *before
	}
	u.ApplyTo(&p)
	return &p
}

// describeImport says what an import did to a product; notice, about its
// new price, follows the price's change.
func describeImport(before, after *caisse.Product, kept, notice string) string {
	if before == nil {
		s := fmt.Sprintf("new: %s, price %s, stock %d", after.Name, caisse.FormatAmount(after.Price, after.Currency), after.Stock)
		if artist := describeArtist(after); artist != "" {
			s += "; artist: " + artist
		}
		return s
	}
	var parts []string
	if before.Name != after.Name {
		parts = append(parts, fmt.Sprintf("name %q → %q", before.Name, after.Name))
	}
	if before.Price != after.Price || before.Currency != after.Currency {
		price := fmt.Sprintf("price %s → %s", caisse.FormatAmount(before.Price, before.Currency), caisse.FormatAmount(after.Price, after.Currency))
		if notice != "" && before.Price != after.Price {
			price += " (" + notice + ")"
		}
		parts = append(parts, price)
	}
	if before.Stock != after.Stock {
		parts = append(parts, fmt.Sprintf("stock %d → %d", before.Stock, after.Stock))
	}
	if kept != "" {
		parts = append(parts, kept)
	}
	if before.ArtistName != after.ArtistName {
		parts = append(parts, fmt.Sprintf("artist_name %q → %q", before.ArtistName, after.ArtistName))
	}
	if !slices.Equal(before.ArtistEmail, after.ArtistEmail) {
		emails := func(a caisse.Addresses) string {
			if len(a) == 0 {
				return "(none)"
			}
			return a.String()
		}
		parts = append(parts, fmt.Sprintf("artist_email %s → %s", emails(before.ArtistEmail), emails(after.ArtistEmail)))
	}
	if before.ArtistShare != after.ArtistShare {
		parts = append(parts, fmt.Sprintf("artist_share %s → %s %%", before.ArtistShare, after.ArtistShare))
	}
	if before.ArtistLocale != after.ArtistLocale {
		locale := func(l string) string {
			if l == "" {
				return "(the shop's)"
			}
			return l
		}
		parts = append(parts, fmt.Sprintf("artist_locale %s → %s", locale(before.ArtistLocale), locale(after.ArtistLocale)))
	}
	if len(parts) == 0 {
		return "unchanged"
	}
	return strings.Join(parts, "; ")
}

// describeArtist writes a product's artist as a new product's change shows
// it: "Claude Monet <claude@example.com>, 60 %, fr"; "" when it has none.
func describeArtist(p *caisse.Product) string {
	var parts []string
	who := p.ArtistName
	if len(p.ArtistEmail) > 0 {
		who = strings.TrimSpace(who + " <" + p.ArtistEmail.String() + ">")
	}
	if who != "" {
		parts = append(parts, who)
	}
	if p.ArtistShare != 0 {
		parts = append(parts, p.ArtistShare.String()+" %")
	}
	if p.ArtistLocale != "" {
		parts = append(parts, p.ArtistLocale)
	}
	return strings.Join(parts, ", ")
}
