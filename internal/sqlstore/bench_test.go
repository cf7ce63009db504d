package sqlstore_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/scenario"
	"github.com/caisse/caisse/stripe"
)

// BenchmarkReceive measures storing one event with its job (the webhook's
// transaction), on each database.
func BenchmarkReceive(b *testing.B) {
	for _, kind := range dbtest.Kinds {
		b.Run(string(kind), func(b *testing.B) {
			st := openBench(b, kind)
			s := scenario.Generate(rand.New(rand.NewPCG(1, 1)), b.N/3+1, 10)
			b.ResetTimer()
			for i := range b.N {
				e, _ := stripe.DecodeEvent(s.Events[i%len(s.Events)].Payload)
				e.ID = e.ID + "_" + time.Now().Format("150405.000000000")
				if _, err := st.ReceiveEvent(context.Background(), e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProcess measures processing stored events by the workers, on each
// database: b.N events are stored first, then processed.
func BenchmarkProcess(b *testing.B) {
	for _, kind := range dbtest.Kinds {
		b.Run(string(kind), func(b *testing.B) {
			st := openBench(b, kind)
			s := scenario.Generate(rand.New(rand.NewPCG(1, 1)), b.N/3+1, 10)
			ctx := context.Background()
			for _, p := range s.Products {
				st.PutProduct(ctx, p.ID, caisse.NewProductUpdate(p.Name, 0, "", p.Stock))
			}
			var ids []string
			for _, ev := range s.Events[:min(b.N, len(s.Events))] {
				e, _ := stripe.DecodeEvent(ev.Payload)
				st.ReceiveEvent(ctx, e)
				ids = append(ids, e.ID)
			}
			b.ResetTimer()
			if err := st.Start(ctx); err != nil {
				b.Fatal(err)
			}
			waitAll(b, []*bundle{st}, ids)
		})
	}
}

func openBench(b *testing.B, kind dbtest.Kind) *bundle {
	return open(b, kind, kind.NewURL(b))
}
