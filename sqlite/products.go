package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/caisse/caisse"
)

var _ caisse.ProductService = (*DB)(nil)

const productColumns = `id, name, price, currency, stock, reserved, created_at, updated_at`

func scanProduct(row interface{ Scan(...any) error }) (*caisse.Product, error) {
	var p caisse.Product
	var created, updated int64
	if err := row.Scan(&p.ID, &p.Name, &p.Price, &p.Currency, &p.Stock, &p.Reserved, &created, &updated); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	p.Fill()
	return &p, nil
}

func findProduct(ctx context.Context, q querier, id string) (*caisse.Product, error) {
	p, err := scanProduct(q.QueryRowContext(ctx, `SELECT `+productColumns+` FROM products WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, caisse.Errorf(caisse.ENOTFOUND, "no product %s", id)
	} else if err != nil {
		return nil, fmt.Errorf("error reading product %s: %w", id, err)
	}
	return p, nil
}

// FindProduct returns one product.
func (db *DB) FindProduct(ctx context.Context, id string) (*caisse.Product, error) {
	return findProduct(ctx, db.read, id)
}

// FindProducts lists products, newest first.
func (db *DB) FindProducts(ctx context.Context, page caisse.Page) ([]*caisse.Product, bool, error) {
	if err := page.Normalize(); err != nil {
		return nil, false, err
	}
	where, args := "", []any{}
	if page.StartingAfter != "" {
		var seq int64
		err := db.read.QueryRowContext(ctx, `SELECT seq FROM products WHERE id = ?`, page.StartingAfter).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, caisse.Errorf(caisse.EINVALID, "starting_after: no product %s", page.StartingAfter)
		} else if err != nil {
			return nil, false, fmt.Errorf("error listing products: %w", err)
		}
		where, args = "WHERE seq < ?", append(args, seq)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+productColumns+` FROM products `+where+` ORDER BY seq DESC LIMIT ?`,
		append(args, page.Limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("error listing products: %w", err)
	}
	defer rows.Close()
	var out []*caisse.Product
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, false, fmt.Errorf("error listing products: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("error listing products: %w", err)
	}
	more := len(out) > page.Limit
	if more {
		out = out[:page.Limit]
	}
	return out, more, nil
}

// PutProduct creates or updates a product.
func (db *DB) PutProduct(ctx context.Context, id string, u caisse.ProductUpdate) (*caisse.Product, error) {
	if err := u.Validate(id); err != nil {
		return nil, err
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("error storing product %s: %w", id, err)
	}
	defer tx.Rollback()
	now := micros(db.now())
	var reserved int64
	err = tx.QueryRowContext(ctx, `SELECT reserved FROM products WHERE id = ?`, id).Scan(&reserved)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("error storing product %s: %w", id, err)
	}
	if u.Stock < reserved {
		return nil, caisse.Errorf(caisse.ECONFLICT,
			"stock of %s cannot go below the %d units reserved by open checkouts", id, reserved)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO products (id, name, price, currency, stock, reserved, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, 0, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, price = excluded.price,
			currency = excluded.currency, stock = excluded.stock, updated_at = excluded.updated_at`,
		id, u.Name, u.Price, u.Currency, u.Stock, now, now); err != nil {
		return nil, fmt.Errorf("error storing product %s: %w", id, err)
	}
	p, err := findProduct(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("error storing product %s: %w", id, err)
	}
	return p, nil
}
