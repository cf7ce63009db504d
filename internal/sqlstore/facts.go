package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caisse/caisse"
)

var _ caisse.FactService = (*Store)(nil)

// FindFact returns the fact stored for a Stripe object.
func (s *Store) FindFact(ctx context.Context, id string) (*caisse.LinkedFact, error) {
	var lf caisse.LinkedFact
	var data string
	err := s.Driver.Reader().QueryRow(ctx, `SELECT order_id, data FROM facts WHERE id = ?`, id).Scan(&lf.OrderID, &data)
	if errors.Is(err, ErrNoRows) {
		return nil, caisse.Errorf(caisse.ENOTFOUND, "no fact about %s", id)
	} else if err != nil {
		return nil, fmt.Errorf("error reading the fact about %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(data), &lf.Fact); err != nil {
		return nil, fmt.Errorf("error reading the fact about %s: %w", id, err)
	}
	return &lf, nil
}
