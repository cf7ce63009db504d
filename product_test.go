package caisse

import (
	"reflect"
	"slices"
	"testing"
)

func TestProductUpdateApplyTo(t *testing.T) {
	t.Parallel()
	ptr := func(s string) *string { return &s }
	n := func(v int64) *int64 { return &v }
	before := Product{ID: "p1", Name: "Print", Price: 2500, Currency: "eur", Stock: 4, Reserved: 1, SanityID: "doc-1",
		ArtistName: "Ada", ArtistEmail: Addresses{"ada@example.com"}, ArtistShare: 60 * PercentUnit, ArtistLocale: "fr"}
	before.Fill()
	tests := []struct {
		name   string
		update ProductUpdate
		want   func(p *Product)
	}{
		{"nothing set keeps everything", ProductUpdate{}, func(*Product) {}},
		{"name and price", ProductUpdate{Name: ptr("Poster"), Price: n(3000)}, func(p *Product) {
			p.Name, p.Price = "Poster", 3000
		}},
		{"stock refills the derived fields", ProductUpdate{Stock: n(1)}, func(p *Product) {
			p.Stock, p.Available, p.IsAvailable = 1, 0, false
		}},
		{"empty strings clear", ProductUpdate{SanityID: ptr(""), ArtistName: ptr(""), ArtistLocale: ptr(""), Currency: ptr("")},
			func(p *Product) { p.SanityID, p.ArtistName, p.ArtistLocale, p.Currency = "", "", "", "" }},
		{"artist", ProductUpdate{ArtistEmail: &Addresses{"a@example.com", "b@example.com"}, ArtistShare: func() *Percent {
			v := 50 * PercentUnit
			return &v
		}()}, func(p *Product) {
			p.ArtistEmail, p.ArtistShare = Addresses{"a@example.com", "b@example.com"}, 50*PercentUnit
		}},
		{"stock_was alone changes nothing", ProductUpdate{StockWas: n(9)}, func(*Product) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := before
			got.ArtistEmail = slices.Clone(before.ArtistEmail)
			tt.update.ApplyTo(&got)
			want := before
			want.ArtistEmail = slices.Clone(before.ArtistEmail)
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestProductUpdateApplyToNewProduct(t *testing.T) {
	t.Parallel()
	u := NewProductUpdate("Print", 2500, "eur", 3)
	p := Product{ID: "p1"}
	u.ApplyTo(&p)
	want := Product{ID: "p1", Name: "Print", Price: 2500, Currency: "eur", Stock: 3, Available: 3, IsAvailable: true}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got  %+v\nwant %+v", p, want)
	}
}

func TestProductUpdateApplyToCopiesAddresses(t *testing.T) {
	t.Parallel()
	emails := Addresses{"a@example.com"}
	var p Product
	ProductUpdate{ArtistEmail: &emails}.ApplyTo(&p)
	emails[0] = "b@example.com"
	if p.ArtistEmail[0] != "a@example.com" {
		t.Errorf("the product shares the update's addresses: %v", p.ArtistEmail)
	}
}

func TestProductUpdateCheckStockWas(t *testing.T) {
	t.Parallel()
	n := func(v int64) *int64 { return &v }
	tests := []struct {
		name     string
		update   ProductUpdate
		stock    int64
		conflict bool
	}{
		{"no stock_was", ProductUpdate{Stock: n(5)}, 3, false},
		{"stock_was as read", ProductUpdate{Stock: n(5), StockWas: n(3)}, 3, false},
		{"stock moved since", ProductUpdate{Stock: n(5), StockWas: n(3)}, 2, true},
		{"stock_was without stock is ignored", ProductUpdate{StockWas: n(3)}, 2, false},
	}
	for _, tt := range tests {
		err := tt.update.CheckStockWas("p1", tt.stock)
		if got := ErrorCode(err) == ECONFLICT; got != tt.conflict || (err != nil && !tt.conflict) {
			t.Errorf("%s: got %v, want a conflict: %v", tt.name, err, tt.conflict)
		}
	}
}
