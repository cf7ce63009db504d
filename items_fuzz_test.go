package caisse

import (
	"slices"
	"testing"
)

func FuzzParseItems(f *testing.F) {
	for _, seed := range []string{"tee:1,print:2", "a", " a : 3 ,, b:1", "x:0", "x:-1", ":", "a:99999999999999999999"} {
		f.Add(seed, "", "")
	}
	f.Add("", "print-1", "2")
	f.Fuzz(func(t *testing.T, items, productID, quantity string) {
		parsed, err := ParseItems(map[string]string{"items": items, "product_id": productID, "quantity": quantity})
		if err != nil {
			return
		}
		for _, it := range parsed {
			if it.ProductID == "" || it.Quantity <= 0 {
				t.Fatalf("parsed an invalid item %+v from %q", it, items)
			}
		}
		// What caisse writes, it reads back the same.
		if len(parsed) > 0 {
			again, err := ParseItems(map[string]string{"items": FormatItems(parsed)})
			if err != nil || !slices.Equal(again, parsed) {
				t.Fatalf("round trip of %v: %v %v", parsed, again, err)
			}
		}
	})
}
