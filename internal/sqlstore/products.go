package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/caisse/caisse"
)

var (
	_ caisse.ProductService  = (*Store)(nil)
	_ caisse.ProductImporter = (*Store)(nil)
)

const productColumns = `id, name, price, currency, stock, reserved, created_at, updated_at, sanity_id,
	artist_name, artist_email, artist_share, artist_locale`

func scanProduct(row Row) (*caisse.Product, error) {
	var p caisse.Product
	var created, updated int64
	var artistEmail string
	if err := row.Scan(&p.ID, &p.Name, &p.Price, &p.Currency, &p.Stock, &p.Reserved, &created, &updated, &p.SanityID,
		&p.ArtistName, &artistEmail, &p.ArtistShare, &p.ArtistLocale); err != nil {
		return nil, err
	}
	p.ArtistEmail = caisse.ParseAddresses(artistEmail)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	p.Fill()
	return &p, nil
}

// FindProduct returns one product.
func (s *Store) FindProduct(ctx context.Context, id string) (*caisse.Product, error) {
	p, err := scanProduct(s.Driver.Reader().QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = ?`, id))
	if errors.Is(err, ErrNoRows) {
		return nil, caisse.Errorf(caisse.ENOTFOUND, "no product %s", id)
	} else if err != nil {
		return nil, fmt.Errorf("error reading product %s: %w", id, err)
	}
	return p, nil
}

// FindProducts lists products, newest first.
func (s *Store) FindProducts(ctx context.Context, page caisse.Page) ([]*caisse.Product, bool, error) {
	if err := page.Normalize(); err != nil {
		return nil, false, err
	}
	r := s.Driver.Reader()
	where, args := "", []any{}
	if page.StartingAfter != "" {
		seq, err := seqOf(ctx, r, "products", "product", page.StartingAfter)
		if err != nil {
			return nil, false, err
		}
		where, args = "WHERE seq < ?", append(args, seq)
	}
	return list(ctx, r, "product", page.Limit, `SELECT `+productColumns+` FROM products `+where+` ORDER BY seq DESC LIMIT ?`, args, scanProduct)
}

// PutProduct creates or updates a product, setting the fields the update
// names and keeping the others. One statement, so a reservation made at the
// same moment cannot slip under the new stock.
func (s *Store) PutProduct(ctx context.Context, id string, u caisse.ProductUpdate) (*caisse.Product, error) {
	if err := u.Validate(id); err != nil {
		return nil, err
	}
	// A field the update leaves out is NULL here, and keeps its value.
	opt := func(v any, isNil bool) any {
		if isNil {
			return nil
		}
		return v
	}
	name := opt(deref(u.Name), u.Name == nil)
	price := opt(deref(u.Price), u.Price == nil)
	currency := opt(deref(u.Currency), u.Currency == nil)
	stock := opt(deref(u.Stock), u.Stock == nil)
	sanityID := opt(deref(u.SanityID), u.SanityID == nil)
	stockWas := opt(deref(u.StockWas), u.StockWas == nil || u.Stock == nil)
	artistName := opt(deref(u.ArtistName), u.ArtistName == nil)
	artistEmail := opt(strings.Join(deref(u.ArtistEmail), ","), u.ArtistEmail == nil)
	artistShare := opt(int64(deref(u.ArtistShare)), u.ArtistShare == nil)
	artistLocale := opt(deref(u.ArtistLocale), u.ArtistLocale == nil)
	var p *caisse.Product
	err := s.inTx(ctx, func(tx Tx) error {
		now := micros(s.now())
		before, err := scanProduct(tx.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = ?`+tx.ForUpdate(), id))
		if errors.Is(err, ErrNoRows) {
			before = nil
		} else if err != nil {
			return err
		}
		p, err = scanProduct(tx.QueryRow(ctx, `
			INSERT INTO products (id, name, price, currency, stock, reserved, created_at, updated_at, sanity_id,
				artist_name, artist_email, artist_share, artist_locale)
			VALUES (?, COALESCE(?, ''), COALESCE(?, 0), COALESCE(?, ''), COALESCE(?, 0), 0, ?, ?, COALESCE(?, ''),
				COALESCE(?, ''), COALESCE(?, ''), COALESCE(?, 0), COALESCE(?, ''))
			ON CONFLICT (id) DO UPDATE SET name = COALESCE(?, products.name), price = COALESCE(?, products.price),
				currency = COALESCE(?, products.currency), stock = COALESCE(?, products.stock),
				sanity_id = COALESCE(?, products.sanity_id), artist_name = COALESCE(?, products.artist_name),
				artist_email = COALESCE(?, products.artist_email), artist_share = COALESCE(?, products.artist_share),
				artist_locale = COALESCE(?, products.artist_locale), updated_at = excluded.updated_at
			WHERE COALESCE(?, products.stock) >= products.reserved AND COALESCE(?, products.stock) = products.stock
			RETURNING `+productColumns,
			id, name, price, currency, stock, now, now, sanityID, artistName, artistEmail, artistShare, artistLocale,
			name, price, currency, stock, sanityID, artistName, artistEmail, artistShare, artistLocale, stock, stockWas))
		if err == nil {
			// The site hears of the product's availability when it may
			// have changed: a new product, a stock edit, another document.
			err = s.writeOutbox(ctx, tx, s.now(), caisse.ProductChangeMessages(before, p, randomID()))
		}
		if errors.Is(err, ErrNoRows) {
			var current, reserved int64
			if err := tx.QueryRow(ctx, `SELECT stock, reserved FROM products WHERE id = ?`, id).Scan(&current, &reserved); err != nil {
				return err
			}
			if err := u.CheckStockWas(id, current); err != nil {
				return err
			}
			return caisse.Errorf(caisse.ECONFLICT,
				"stock of %s cannot go below the %d units reserved by open checkouts", id, reserved)
		}
		return err
	})
	if err != nil {
		return nil, wrap(err, "error storing product %s", id)
	}
	return p, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// QueueAvailability writes, for each product named (every product when ids
// is empty), an update of its availability for the site (Sanity), sent as
// it is when it goes out. It returns how many products it queued; none
// when Sanity is not set up.
func (s *Store) QueueAvailability(ctx context.Context, ids []string) (int, error) {
	if len(ids) > 0 {
		for _, id := range ids {
			if _, err := s.FindProduct(ctx, id); err != nil {
				return 0, err
			}
		}
	} else {
		rows, err := s.Driver.Reader().Query(ctx, `SELECT id FROM products ORDER BY seq`)
		if err != nil {
			return 0, fmt.Errorf("error listing the products: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return 0, fmt.Errorf("error listing the products: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("error listing the products: %w", err)
		}
	}
	if !s.Outbox.Sanity {
		return 0, nil
	}
	change := randomID()
	for chunk := range slices.Chunk(ids, 500) {
		msgs := make([]caisse.OutboxMessage, len(chunk))
		for i, id := range chunk {
			msgs[i] = caisse.AvailabilityMessage(id, "sync:"+change)
		}
		if err := s.WriteOutbox(ctx, msgs...); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// importChunk is how many products one statement of an import reads or
// writes.
const importChunk = 500

// FindProductsByID returns the products of these ids that exist, read a
// chunk of ids at a time.
func (s *Store) FindProductsByID(ctx context.Context, ids []string) (map[string]*caisse.Product, error) {
	out := make(map[string]*caisse.Product, len(ids))
	for chunk := range slices.Chunk(ids, importChunk) {
		if err := s.findProductsByID(ctx, s.Driver.Reader(), chunk, "", out); err != nil {
			return nil, fmt.Errorf("error reading products: %w", err)
		}
	}
	return out, nil
}

func (s *Store) findProductsByID(ctx context.Context, q Querier, ids []string, lock string, out map[string]*caisse.Product) error {
	rows, err := q.Query(ctx, `SELECT `+productColumns+` FROM products WHERE id IN (`+placeholders(len(ids))+`)`+lock, anys(ids)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return err
		}
		out[p.ID] = p
	}
	return rows.Err()
}

// PutProducts does what PutProduct does for each update, in one
// transaction, so an import is applied whole or not at all. It loads the
// products a chunk at a time, locked, merges each update in memory, and
// writes the chunk with one statement; a stock below the units reserved
// (or moved since StockWas) refuses the whole import.
func (s *Store) PutProducts(ctx context.Context, updates []caisse.ProductPut) ([]*caisse.Product, error) {
	for i := range updates {
		if err := updates[i].Update.Validate(updates[i].ID); err != nil {
			return nil, err
		}
	}
	var out []*caisse.Product
	err := s.inTx(ctx, func(tx Tx) error {
		out = out[:0]
		now := s.now()
		change := randomID()
		for chunk := range slices.Chunk(updates, importChunk) {
			ids := make([]string, len(chunk))
			for i, put := range chunk {
				ids[i] = put.ID
			}
			before := make(map[string]*caisse.Product, len(chunk))
			if err := s.findProductsByID(ctx, tx, ids, tx.ForUpdate(), before); err != nil {
				return err
			}
			args := make([]any, 0, len(chunk)*13)
			values := make([]string, len(chunk))
			for i, put := range chunk {
				p, err := mergeProduct(put.ID, before[put.ID], put.Update)
				if err != nil {
					return err
				}
				values[i] = "(" + placeholders(13) + ")"
				args = append(args, p.ID, p.Name, p.Price, p.Currency, p.Stock, 0, micros(now), micros(now), p.SanityID,
					p.ArtistName, strings.Join(p.ArtistEmail, ","), int64(p.ArtistShare), p.ArtistLocale)
			}
			rows, err := tx.Query(ctx, `
				INSERT INTO products (id, name, price, currency, stock, reserved, created_at, updated_at, sanity_id,
					artist_name, artist_email, artist_share, artist_locale)
				VALUES `+strings.Join(values, ", ")+`
				ON CONFLICT (id) DO UPDATE SET name = excluded.name, price = excluded.price, currency = excluded.currency,
					stock = excluded.stock, sanity_id = excluded.sanity_id, artist_name = excluded.artist_name,
					artist_email = excluded.artist_email, artist_share = excluded.artist_share,
					artist_locale = excluded.artist_locale, updated_at = excluded.updated_at
				WHERE excluded.stock >= products.reserved
				RETURNING `+productColumns, args...)
			if err != nil {
				return err
			}
			after := make(map[string]*caisse.Product, len(chunk))
			for rows.Next() {
				p, err := scanProduct(rows)
				if err != nil {
					rows.Close()
					return err
				}
				after[p.ID] = p
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			var msgs []caisse.OutboxMessage
			for _, put := range chunk {
				p, ok := after[put.ID]
				if !ok {
					// Only the stock's guard keeps a row from being written;
					// the lock kept the reservations as they were read.
					return caisse.Errorf(caisse.ECONFLICT, "stock of %s cannot go below the %d units reserved by open checkouts",
						put.ID, before[put.ID].Reserved)
				}
				out = append(out, p)
				msgs = append(msgs, caisse.ProductChangeMessages(before[put.ID], p, change)...)
			}
			if err := s.writeOutbox(ctx, tx, now, msgs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err, "error storing %d products", len(updates))
	}
	return out, nil
}

// mergeProduct is a product as an update leaves it: the fields the update
// names set, the others kept (before is nil for a new product).
func mergeProduct(id string, before *caisse.Product, u caisse.ProductUpdate) (*caisse.Product, error) {
	p := &caisse.Product{ID: id}
	if before != nil {
		*p = *before
	}
	if err := u.CheckStockWas(id, p.Stock); err != nil {
		return nil, err
	}
	u.ApplyTo(p)
	return p, nil
}
