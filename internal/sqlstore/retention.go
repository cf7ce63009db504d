package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/caisse/caisse"
)

// pruneChunk is how many events one pruning transaction looks at.
const pruneChunk = 1000

// PruneIgnored empties the payloads of ignored events received more than
// Retention ago, and returns how many it emptied. Their rows stay, id and
// all, so a late duplicate is still recognised and answered as one; only
// the body, which caisse never applied, goes. A flood of signed events of
// types caisse does not act on so costs a row each, not a body each, once
// the retention has passed. A cursor remembers where pruning got to, so
// each run reads only the ignored events received since.
func (s *Store) PruneIgnored(ctx context.Context) (int, error) {
	if s.Retention <= 0 {
		return 0, nil
	}
	cutoff := micros(s.now().Add(-s.Retention))
	pruned := 0
	for {
		var cursor int64
		err := s.Driver.Reader().QueryRow(ctx, `SELECT value FROM cursors WHERE name = 'pruned_ignored'`).Scan(&cursor)
		if err != nil && !errors.Is(err, ErrNoRows) {
			return pruned, fmt.Errorf("error reading where pruning got to: %w", err)
		}
		rows, err := s.Driver.Reader().Query(ctx, `SELECT seq, received_at FROM events WHERE status = ? AND seq > ? ORDER BY seq LIMIT ?`,
			string(caisse.EventIgnored), cursor, pruneChunk)
		if err != nil {
			return pruned, fmt.Errorf("error finding ignored events to prune: %w", err)
		}
		var seqs []any
		read, young := 0, false
		for rows.Next() {
			var seq, received int64
			if err := rows.Scan(&seq, &received); err != nil {
				rows.Close()
				return pruned, fmt.Errorf("error finding ignored events to prune: %w", err)
			}
			read++
			if received >= cutoff {
				// Events come in about the order of their seq: the rest are
				// younger still.
				young = true
				break
			}
			seqs = append(seqs, seq)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return pruned, fmt.Errorf("error finding ignored events to prune: %w", err)
		}
		if len(seqs) == 0 {
			return pruned, nil
		}
		var n int64
		err = s.RetryTx(ctx, func(tx Tx) error {
			var err error
			// An event replayed meanwhile is no longer ignored, and keeps its body.
			n, err = tx.Exec(ctx, `UPDATE events SET payload = ? WHERE status = ? AND seq IN (`+placeholders(len(seqs))+`)`,
				append([]any{[]byte{}, string(caisse.EventIgnored)}, seqs...)...)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `INSERT INTO cursors (name, value) VALUES ('pruned_ignored', ?)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE excluded.value > cursors.value`, seqs[len(seqs)-1])
			return err
		})
		if err != nil {
			return pruned, fmt.Errorf("error pruning the payloads of ignored events: %w", err)
		}
		pruned += int(n)
		if young || read < pruneChunk {
			return pruned, nil
		}
	}
}
