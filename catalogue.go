package caisse

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// CatalogueRow is one product of a catalogue file: its id and the fields
// the file gives (a field the file leaves out is left as it is).
type CatalogueRow struct {
	ID string `json:"id"`
	ProductUpdate
}

// ParseCatalogue reads a catalogue: a JSON array of products or a CSV with
// a header row naming its columns (id, name, price, currency, stock,
// sanity_id). The same id twice is refused. Errors are EINVALID and name
// the line or product at fault.
func ParseCatalogue(data []byte) ([]CatalogueRow, error) {
	var rows []CatalogueRow
	if trimmed := strings.TrimSpace(string(data)); strings.HasPrefix(trimmed, "[") {
		if err := json.Unmarshal(data, &rows); err != nil {
			return nil, Errorf(EINVALID, "not a JSON array of {id, name, price, currency, stock}: %v", err)
		}
	} else {
		records, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
		if err != nil {
			return nil, Errorf(EINVALID, "%v", err)
		}
		if len(records) == 0 {
			return nil, Errorf(EINVALID, "the file is empty")
		}
		col := map[string]int{}
		for i, h := range records[0] {
			col[strings.ToLower(strings.TrimSpace(h))] = i
		}
		if _, ok := col["id"]; !ok {
			return nil, Errorf(EINVALID, "the CSV header must name the columns id,name,price,currency,stock")
		}
		get := func(rec []string, name string) (string, bool) {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i]), true
			}
			return "", false
		}
		for n, rec := range records[1:] {
			id, _ := get(rec, "id")
			row := CatalogueRow{ID: id}
			for _, f := range []struct {
				name string
				dst  **string
			}{{"name", &row.Name}, {"currency", &row.Currency}, {"sanity_id", &row.SanityID}} {
				if v, ok := get(rec, f.name); ok {
					*f.dst = &v
				}
			}
			for _, f := range []struct {
				name string
				dst  **int64
			}{{"price", &row.Price}, {"stock", &row.Stock}} {
				if v, ok := get(rec, f.name); ok && v != "" {
					n64, err := strconv.ParseInt(v, 10, 64)
					if err != nil {
						return nil, Errorf(EINVALID, "line %d: %s %q is not a whole number", n+2, f.name, v)
					}
					*f.dst = &n64
				}
			}
			rows = append(rows, row)
		}
	}
	seen := map[string]int{}
	for i, r := range rows {
		if err := r.Validate(r.ID); err != nil {
			return nil, Errorf(EINVALID, "product %d: %s", i+1, ErrorMessage(err))
		}
		if first, ok := seen[r.ID]; ok {
			return nil, Errorf(EINVALID, "product %d has the id %s of product %d; each id may appear once", i+1, r.ID, first)
		}
		seen[r.ID] = i + 1
	}
	return rows, nil
}

// ImportChange is what importing one product did, or would do.
type ImportChange struct {
	ID      string   `json:"id"`
	Change  string   `json:"change"`
	Product *Product `json:"product"`
}

// ImportCatalogue creates or updates each product of a catalogue; with
// preview it writes nothing and says what it would do. The stock of a
// product that exists already is kept unless setStock says otherwise: a
// catalogue file holds the stock a product started with, and importing it
// again must never put back units that were sold.
func ImportCatalogue(ctx context.Context, products ProductService, rows []CatalogueRow, setStock, preview bool) ([]ImportChange, error) {
	var out []ImportChange
	for _, r := range rows {
		before, err := products.FindProduct(ctx, r.ID)
		if err != nil && ErrorCode(err) != ENOTFOUND {
			return out, err
		}
		u := r.ProductUpdate
		var kept string
		if before != nil && u.Stock != nil && !setStock {
			if *u.Stock != before.Stock {
				kept = fmt.Sprintf("stock kept at %d (the file says %d; --set-stock sets it)", before.Stock, *u.Stock)
			}
			u.Stock = nil
		}
		var after *Product
		if preview {
			after = previewUpdate(r.ID, before, u)
		} else if after, err = products.PutProduct(ctx, r.ID, u); err != nil {
			return out, Errorf(ErrorCode(err), "product %s: %s (products before it were imported)", r.ID, ErrorMessage(err))
		}
		out = append(out, ImportChange{ID: r.ID, Change: describeImport(before, after, kept), Product: after})
	}
	return out, nil
}

// previewUpdate is the product as an update would leave it.
func previewUpdate(id string, before *Product, u ProductUpdate) *Product {
	p := Product{ID: id}
	if before != nil {
		p = *before
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.Name, u.Name)
	set(&p.Currency, u.Currency)
	set(&p.SanityID, u.SanityID)
	if u.Price != nil {
		p.Price = *u.Price
	}
	if u.Stock != nil {
		p.Stock = *u.Stock
	}
	p.Fill()
	return &p
}

// describeImport says what an import did to a product.
func describeImport(before, after *Product, kept string) string {
	if before == nil {
		return fmt.Sprintf("new: %s, price %s, stock %d", after.Name, FormatAmount(after.Price, after.Currency), after.Stock)
	}
	var parts []string
	if before.Name != after.Name {
		parts = append(parts, fmt.Sprintf("name %q → %q", before.Name, after.Name))
	}
	if before.Price != after.Price || before.Currency != after.Currency {
		parts = append(parts, fmt.Sprintf("price %s → %s", FormatAmount(before.Price, before.Currency), FormatAmount(after.Price, after.Currency)))
	}
	if before.Stock != after.Stock {
		parts = append(parts, fmt.Sprintf("stock %d → %d", before.Stock, after.Stock))
	}
	if kept != "" {
		parts = append(parts, kept)
	}
	if len(parts) == 0 {
		return "unchanged"
	}
	return strings.Join(parts, "; ")
}
