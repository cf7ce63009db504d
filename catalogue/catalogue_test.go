package catalogue

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caisse/caisse"
)

// parseRows is Parse's rows.
func parseRows(data []byte) ([]Row, error) {
	f, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return f.Rows, nil
}

// A catalogue row as the tests compare it.
type rowWant struct {
	where, id string
	price     any // int64, the PriceText string, or nil
	currency  any // string or nil
	stock     any // int64 or nil
}

func rowGot(r Row) rowWant {
	w := rowWant{where: r.Where, id: r.ID}
	switch {
	case r.Price != nil:
		w.price = *r.Price
	case r.PriceText != "":
		w.price = r.PriceText
	}
	if r.Currency != nil {
		w.currency = *r.Currency
	}
	if r.Stock != nil {
		w.stock = *r.Stock
	}
	return w
}

// Catalogue files as spreadsheets and people write them are read; what is
// wrong is refused with the line and how to fix it.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []rowWant
		err        []string // what the error says, every part of it
	}{
		{name: "plain CSV", file: "id,name,price,currency,stock\nprint-1,Print #1,900.00,eur,1\n",
			want: []rowWant{{"line 2", "print-1", int64(90000), "eur", int64(1)}}},
		{name: "Excel in France: BOM, semicolons, CRLF, decimal comma, blank trailing lines",
			file: "\ufeffid;name;price;currency;stock\r\nprint-1;Print #1;15,00;EUR;1\r\ntee;Tee, large;25,5;eur;12\r\n;;;;\r\n\r\n\r\n",
			want: []rowWant{{"line 2", "print-1", int64(1500), "eur", int64(1)}, {"line 3", "tee", int64(2550), "eur", int64(12)}}},
		{name: "whole units, spaces around the cells", file: "id, name, price, currency, stock\nx, X, 15 , eur, 2\n",
			want: []rowWant{{"line 2", "x", int64(1500), "eur", int64(2)}}},
		{name: "a price as a spreadsheet shows it", file: "id;price;currency\nx;1 234,50 €;eur\ny;EUR 15.00;eur\n",
			want: []rowWant{{"line 2", "x", int64(123450), "eur", nil}, {"line 3", "y", int64(1500), "eur", nil}}},
		{name: "JPY and KWD", file: "id,price,currency\nj,5000,jpy\nk,1.234,kwd\n",
			want: []rowWant{{"line 2", "j", int64(5000), "jpy", nil}, {"line 3", "k", int64(1234), "kwd", nil}}},
		{name: "unit_amount is the smallest unit", file: "id,unit_amount,currency\nx,1500,eur\nj,5000,jpy\n",
			want: []rowWant{{"line 2", "x", int64(1500), "eur", nil}, {"line 3", "j", int64(5000), "jpy", nil}}},
		{name: "both columns, one per row", file: "id,price,unit_amount,currency\nx,15.00,,eur\ny,,1500,eur\n",
			want: []rowWant{{"line 2", "x", int64(1500), "eur", nil}, {"line 3", "y", int64(1500), "eur", nil}}},
		{name: "a price without a currency waits for the product's", file: "id,price\nx,15.00\n",
			want: []rowWant{{"line 2", "x", "15.00", nil, nil}}},
		{name: "empty cells keep the product's values", file: "id,name,price,currency,stock\nx,,,,\n",
			want: []rowWant{{"line 2", "x", nil, nil, nil}}},
		{name: "JSON: a number price is the smallest unit, a string one the currency's units",
			file: "\ufeff[\n  {\"id\":\"print-1\",\"name\":\"Print #1\",\"price\":90000,\"currency\":\"EUR\",\"stock\":1},\n" +
				"  {\"id\":\"tee\",\"price\":\"15,50\",\"currency\":\"eur\",\"stock\":\"3\"},\n  {\"id\":\"j\",\"unit_amount\":5000,\"currency\":\"jpy\",\"price\":null}\n]\n",
			want: []rowWant{{"product 1 (line 2)", "print-1", int64(90000), "eur", int64(1)},
				{"product 2 (line 3)", "tee", int64(1550), "eur", int64(3)}, {"product 3 (line 4)", "j", int64(5000), "jpy", nil}}},
		{name: "JSON from caisse products list --json imports back",
			file: `[{"id":"x","name":"X","price":2500,"currency":"eur","stock":0,"reserved":0,"available":0,"is_available":false,"sanity_id":"","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}]`,
			want: []rowWant{{"product 1 (line 1)", "x", int64(2500), "eur", int64(0)}}},

		{name: "empty file", file: "\ufeff \r\n", err: []string{"the file is empty"}},
		{name: "header only", file: "id;name\r\n", err: []string{"the file holds no product"}},
		{name: "JSON object", file: ` {"id":"x","price":100}`, err: []string{"the file holds one JSON object; wrap it in [ … ]"}},
		{name: "empty JSON list", file: `[]`, err: []string{"empty list"}},
		{name: "too many decimals", file: "id,name,price,currency,stock\nx,X,15.001,eur,1\n",
			err: []string{`line 2: price "15.001" is not an amount of EUR: write it in EUR such as 15 or 15.00 (at most 2 decimals)`}},
		{name: "decimals in JPY", file: "id;price;currency\nj;50,5;jpy\n", err: []string{`line 2: price "50,5" is not an amount of JPY: write a whole number`}},
		{name: "price and unit_amount on one row", file: "id,price,unit_amount,currency\nx,15.00,1500,eur\n",
			err: []string{"line 2: give price or unit_amount, not both"}},
		{name: "unit_amount with decimals", file: "id,unit_amount,currency\nx,15.00,eur\n",
			err: []string{`line 2: unit_amount "15.00" is not a whole number`, "use the column price"}},
		{name: "a column in English and in French", file: "id,name,price,Prix,currency\nx,X,15,15,eur\n",
			err: []string{`line 1: the header names the column price twice (as "price" and "Prix"): keep one`}},
		{name: "a value in a column the header does not name", file: "id,name,,stock\nx,X,oops,1\n",
			err: []string{`line 2: the value "oops" is in column 3, which the header (line 1) does not name: name the column or empty it`}},
		{name: "no header", file: "print-1,Print #1,15.00,eur,1\n", err: []string{"line 1 must name the columns", `it reads "print-1,Print #1`}},
		{name: "no id column", file: "name;price;currency;stock\nX;15;eur;1\n", err: []string{"line 1: the header has no column id"}},
		{name: "a column twice", file: "id,price,price\nx,1,2\n", err: []string{"the column price twice"}},
		{name: "duplicates name both lines", file: "id,name\nx,X\ny,Y\nx,X again\n",
			err: []string{"line 4: the id x is also on line 2; each id may appear once"}},
		{name: "JSON duplicates", file: "[{\"id\":\"x\"},\n{\"id\":\"x\"}]",
			err: []string{"product 2 (line 2): the id x is also on product 1 (line 1)"}},
		{name: "more fields than the header", file: "id,name,price,currency,stock\nx,X,15,00,eur,1\n",
			err: []string{"line 2 has 6 values but the header (line 1) has 5 columns", "double quotes", "15.00 rather than 15,00"}},
		{name: "fewer fields than the header", file: "id;name;price;currency;stock\r\nx;X;15\r\n",
			err: []string{"line 2 has 3 values but the header (line 1) has 5 columns", "even an empty one"}},
		{name: "every row's problem at once", file: "id,price,currency,stock\nx,1.001,eur,1\ny,1,eur,2.5\nz,1,euro,1\n",
			err: []string{`line 2: price "1.001"`, `line 3: stock "2.5" is not a whole number`, "line 4: currency of z must be a three-letter ISO code"}},
		{name: "a row without id", file: "id,name\n,X\n", err: []string{"line 2 has no id"}},
		{name: "a stray quote", file: "id,name\nx,Print 12\" x 16\"\n", err: []string{"line 2: a \" inside a value", `"Print 12"" x 16"""`}},
		{name: "not UTF-8 (Excel's plain CSV on Windows)", file: "id;name\nx;\xc9preuve\n", err: []string{"line 2 is not UTF-8 text", "CSV UTF-8"}},
		{name: "JSON number price with decimals", file: `[{"id":"x","price":15.50,"currency":"eur"}]`,
			err: []string{"product 1 (line 1): price 15.50: a JSON number is in the currency's smallest unit", `as a string, such as "15.50"`}},
		{name: "JSON: a key in English and in French", file: `[{"id":"x","prix":1,"price":1}]`,
			err: []string{`product 1 (line 1): the keys "price" and "prix" name the same field: keep one`}},
		{name: "JSON not a product", file: "[\n1]", err: []string{"product 1 (line 2) is not an object"}},
		{name: "broken JSON", file: "[\n{\"id\":\"x\",}\n]", err: []string{"line 2: the JSON is not well formed"}},
		{name: "JSON keys that differ only in case", file: `[{"id":"x","stock":5,"Stock":500}]`,
			err: []string{`product 1 (line 1): the keys "Stock" and "stock" name the same field: keep one`}},
		{name: "a comma and three digits in a three-decimal currency", file: "id;price;currency\nk;1,500;kwd\n",
			err: []string{`line 2: price "1,500" could be read two ways in KWD: write 1.500 for one and a half, or 1500 for fifteen hundred`}},
		{name: "spaces that do not group thousands", file: "id;price;currency\nx;15 00;eur\n", err: []string{`line 2: price "15 00"`}},
		{name: "a stock with spaces that do not group thousands", file: "id,stock\nx,1 0\n", err: []string{`line 2: stock "1 0" is not a whole number`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := parseRows([]byte(tc.file))
			if tc.err != nil {
				if err == nil {
					t.Fatalf("accepted: %+v", rows)
				}
				if caisse.ErrorCode(err) != caisse.EINVALID {
					t.Errorf("error code %s, want %s", caisse.ErrorCode(err), caisse.EINVALID)
				}
				for _, want := range tc.err {
					if !strings.Contains(caisse.ErrorMessage(err), want) {
						t.Errorf("the error\n%s\ndoes not say\n%s", caisse.ErrorMessage(err), want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []rowWant
			for _, r := range rows {
				got = append(got, rowGot(r))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("read\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

// memProducts is a ProductService in memory.
type memProducts map[string]*caisse.Product

func (m memProducts) FindProduct(_ context.Context, id string) (*caisse.Product, error) {
	if p, ok := m[id]; ok {
		c := *p
		return &c, nil
	}
	return nil, caisse.Errorf(caisse.ENOTFOUND, "no product %s", id)
}

func (m memProducts) String() string {
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%+v\n", *m[id])
	}
	return b.String()
}

func (m memProducts) FindProducts(context.Context, caisse.Page) ([]*caisse.Product, bool, error) {
	return nil, false, nil
}

func (m memProducts) PutProduct(ctx context.Context, id string, u caisse.ProductUpdate) (*caisse.Product, error) {
	before, _ := m.FindProduct(ctx, id)
	m[id] = previewUpdate(id, before, u)
	return m.FindProduct(ctx, id)
}

// Importing checks every row against the shop before it writes anything,
// and says what each row changes, warning of a price 100 times off.
func TestImport(t *testing.T) {
	ctx := context.Background()
	shop := func() memProducts {
		return memProducts{
			"tee":     {ID: "tee", Name: "Tee", Price: 1500, Currency: "eur", Stock: 0},
			"print-1": {ID: "print-1", Name: "Print #1", Price: 90000, Currency: "eur", Stock: 1},
			"kw":      {ID: "kw", Name: "KW", Price: 1234, Currency: "kwd", Stock: 1},
			"j":       {ID: "j", Name: "J", Price: 5000, Currency: "jpy", Stock: 1},
			"res":     {ID: "res", Name: "Reserved", Price: 1000, Currency: "eur", Stock: 5, Reserved: 3},
			"monet": {ID: "monet", Name: "Nymphéas", Price: 90000, Currency: "eur", Stock: 1,
				ArtistName: "Claude Monet", ArtistEmail: caisse.Addresses{"claude@example.com"}, ArtistShare: 50 * caisse.PercentUnit, ArtistLocale: "fr"},
		}
	}
	for _, tc := range []struct {
		name, file string
		setStock   bool
		changes    []string // id: change
		warnings   int
		err        []string
	}{
		{name: "new, kept, changed, unchanged",
			file: "id;name;price;currency;stock\nprint-2;Print #2;900,00;eur;1\ntee;Tee;15,00;eur;5\nprint-1;Print #1;950;eur;1\nj;J;5000;jpy;1\n",
			changes: []string{"print-2: new: Print #2, price 900.00 EUR, stock 1", "tee: stock kept at 0 (the file says 5; --set-stock sets it)",
				"print-1: price 900.00 EUR → 950.00 EUR", "j: unchanged"}},
		{name: "set stock", file: "id,stock\ntee,5\n", setStock: true, changes: []string{"tee: stock 0 → 5"}},
		{name: "set stock below what open checkouts reserve, refused whole", file: "id,stock\nprint-1,4\nres,1\n", setStock: true,
			err: []string{"line 3: res's stock 1 is below the 3 units open checkouts reserve; set at least 3"}},
		{name: "a price in the product's currency", file: "id,price\ntee,18\nkw,2.5\nj,6000\n",
			changes: []string{"tee: price 15.00 EUR → 18.00 EUR", "kw: price 1.234 KWD → 2.500 KWD", "j: price 5000 JPY → 6000 JPY"}},
		{name: "a file in cents under price", file: "id,price\ntee,1500\n", warnings: 1,
			changes: []string{"tee: price 15.00 EUR → 1500.00 EUR (100 times the current price: is the file in cents? use the column unit_amount for cents)"}},
		{name: "euros under unit_amount", file: "id,unit_amount\ntee,15\n", warnings: 1,
			changes: []string{"tee: price 15.00 EUR → 0.15 EUR (1/100 of the current price: unit_amount is in cents; for amounts such as 15.00 EUR, use the column price)"}},
		{name: "euros as a JSON number", file: `[{"id":"print-1","price":900}]`, warnings: 1,
			changes: []string{`print-1: price 900.00 EUR → 9.00 EUR (1/100 of the current price: a JSON number is in cents; write an amount such as 15.00 EUR as a string, "15.00")`}},
		{name: "KWD is 1000 times", file: "id,price\nkw,1234\n", warnings: 1,
			changes: []string{"kw: price 1.234 KWD → 1234.000 KWD (1000 times the current price: is the file in the smallest unit of KWD? use the column unit_amount for the smallest unit of KWD)"}},
		{name: "no warning in JPY", file: "id,price\nj,500000\n", changes: []string{"j: price 5000 JPY → 500000 JPY"}},
		{name: "a new product needs its stock", file: "id,name,price,currency\nprint-2,Print #2,900.00,eur\n",
			err: []string{"line 2: print-2 is a new product, so it needs a stock (the units on hand, 0 if none yet): the file has no column stock"}},
		{name: "a new product with empty cells", file: "id;name;price;currency;stock\nprint-2;;900;eur;\n",
			err: []string{"line 2: print-2 is a new product, so it needs a name and a stock (the units on hand, 0 if none yet): its name and stock are empty"}},
		{name: "a new product needs everything", file: "id\nprint-2\n",
			err: []string{"needs a name, a price (or unit_amount), a currency (such as eur) and a stock", "the file has no columns name, price (or unit_amount), currency and stock"}},
		{name: "a new JSON product", file: `[{"id":"print-2","name":"P","price":100}]`,
			err: []string{`product 1 (line 1): print-2 is a new product, so it needs a currency (such as eur) and a stock (the units on hand, 0 if none yet): it has no "currency" or "stock"`}},
		{name: "a price in units needs the product's currency", file: "id,price\ntee,20\nnope,20\n",
			err: []string{"line 3: nope is a new product"}},
		{name: "too many decimals in the product's currency", file: "id,price\nj,50.5\n",
			err: []string{`line 2: price "50.5" is not an amount of JPY`}},
		{name: "another currency needs a price", file: "id,currency\ntee,usd\n",
			err: []string{"line 2: the currency of tee changes from EUR to USD, but the row gives no price: give its price in USD"}},
		{name: "a new work with its artist",
			file: "id;name;price;currency;stock;artist_name;artist_email;artist_share;artist_locale\n" +
				"print-2;Print #2;900,00;eur;1;Claude Monet;claude@example.com;60 %;\n" +
				"print-3;Print #3;900,00;eur;1;Berthe Morisot;berthe@example.com, atelier@example.com;62,5;EN\n" +
				"print-4;Print #4;900,00;eur;1;;;;\n",
			changes: []string{"print-2: new: Print #2, price 900.00 EUR, stock 1; artist: Claude Monet <claude@example.com>, 60 %",
				"print-3: new: Print #3, price 900.00 EUR, stock 1; artist: Berthe Morisot <berthe@example.com, atelier@example.com>, 62.5 %, en",
				"print-4: new: Print #4, price 900.00 EUR, stock 1"}},
		{name: "the artist of a work changes",
			file:    "id,artist_name,artist_email,artist_share,artist_locale\nmonet,Claude Oscar Monet,\"claude@example.com, atelier@example.com\",60,en\n",
			changes: []string{`monet: artist_name "Claude Monet" → "Claude Oscar Monet"; artist_email claude@example.com → claude@example.com, atelier@example.com; artist_share 50 → 60 %; artist_locale fr → en`}},
		{name: "a work gets its artist", file: `[{"id":"tee","artist_email":["a@example.com"],"artist_share":62.5,"artist_locale":"fr"}]`,
			changes: []string{"tee: artist_email (none) → a@example.com; artist_share 0 → 62.5 %; artist_locale (the shop's) → fr"}},
		{name: "the same artist, or empty cells, change nothing",
			file:    "id;artist_name;artist_email;artist_share;artist_locale\nmonet;Claude Monet;claude@example.com;50 %;fr\ntee;;;;\n",
			changes: []string{"monet: unchanged", "tee: unchanged"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := parseRows([]byte(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, preview := range []bool{true, false} {
				products := shop()
				changes, err := Import(ctx, products, rows, Options{SetStock: tc.setStock, Preview: preview, SetStockHow: "--set-stock sets it"})
				if tc.err != nil {
					if err == nil || caisse.ErrorCode(err) != caisse.EINVALID {
						t.Fatalf("imported: %v %+v", err, changes)
					}
					for _, want := range tc.err {
						if !strings.Contains(caisse.ErrorMessage(err), want) {
							t.Errorf("the error\n%s\ndoes not say\n%s", caisse.ErrorMessage(err), want)
						}
					}
					if products.String() != shop().String() {
						t.Errorf("a refused file changed the products")
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				warnings := 0
				for _, ch := range changes {
					got = append(got, ch.ID+": "+ch.Change)
					if ch.Warning != "" {
						warnings++
					}
					if p := products[ch.ID]; !preview && (p == nil || p.Price != ch.Product.Price || p.Stock != ch.Product.Stock ||
						describeArtist(p) != describeArtist(ch.Product)) {
						t.Errorf("%s stored %+v, the change says %+v", ch.ID, p, ch.Product)
					}
				}
				if strings.Join(got, "\n") != strings.Join(tc.changes, "\n") {
					t.Errorf("preview %v:\n%s\nwant\n%s", preview, strings.Join(got, "\n"), strings.Join(tc.changes, "\n"))
				}
				if warnings != tc.warnings {
					t.Errorf("%d warnings, want %d", warnings, tc.warnings)
				}
				if preview && products.String() != shop().String() {
					t.Errorf("the preview wrote")
				}
			}
		})
	}
}

// The README's "Catalogue files" examples read as they say: the same two
// products in each.
func TestReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "\n### Catalogue files\n")
	if start < 0 {
		t.Fatal(`README.md has no section "Catalogue files"`)
	}
	section := text[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	blocks := regexp.MustCompile("(?s)```(csv|json)\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) != 4 {
		t.Fatalf("the section has %d csv and json examples, want 4", len(blocks))
	}
	// The gallery's example, with its artist.
	gallery, err := parseRows([]byte(blocks[3][2]))
	if err != nil || len(gallery) != 1 {
		t.Fatalf("the gallery's example: %v", err)
	}
	if g := gallery[0]; *g.Price != 900000 || *g.Name != "Les Nymphéas bleus" ||
		artistGot(g) != "line 2 nympheas: Claude Monet [claude@example.com atelier@example.com] 60 fr" {
		t.Errorf("the gallery's example reads %v %v %s", *g.Price, *g.Name, artistGot(g))
	}
	want := "[print-1 Print #1 90000 eur 1] [tee-m Tee, size M 2550 eur 12]"
	for _, b := range blocks[:3] {
		rows, err := parseRows([]byte(b[2]))
		if err != nil {
			t.Fatalf("the %s example: %v", b[1], err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, fmt.Sprint([]any{r.ID, *r.Name, *r.Price, *r.Currency, *r.Stock}))
		}
		if strings.Join(got, " ") != want {
			t.Errorf("the %s example reads %s, want %s", b[1], strings.Join(got, " "), want)
		}
	}
}

// artistGot is what a row gives of the artist, "-" for a field it leaves
// as it is.
func artistGot(r Row) string {
	str := func(s *string) string {
		if s == nil {
			return "-"
		}
		return *s
	}
	emails, share := "-", "-"
	if r.ArtistEmail != nil {
		emails = fmt.Sprint([]string(*r.ArtistEmail))
	}
	if r.ArtistShare != nil {
		share = r.ArtistShare.String()
	}
	return fmt.Sprintf("%s %s: %s %s %s %s", r.Where, r.ID, str(r.ArtistName), emails, share, str(r.ArtistLocale))
}

// The artist of each work is read from a spreadsheet's cells as people
// write them, and from JSON as caisse and people write it; each mistake is
// refused with its line and how to fix it.
func TestParseArtist(t *testing.T) {
	t.Parallel()
	var eleven string // more addresses than a work may have
	for i := range caisse.MaxArtistEmails + 1 {
		eleven += fmt.Sprintf("a%d@example.com ", i)
	}
	for _, tc := range []struct {
		name, file string
		want       []string // artistGot of each row
		err        []string // what the error says, every part of it
	}{
		{name: "CSV with commas, several addresses in double quotes",
			file: "id,artist_name,artist_email,artist_share,artist_locale\n" +
				"print-1,Claude Monet,\"claude@example.com, atelier@example.com\",60,fr\n" +
				"print-2,Berthe Morisot, \"berthe@example.com;atelier@example.com\",\"62,5\",EN\n" +
				"print-3,,a@example.com b@example.com,60 %,\n",
			want: []string{"line 2 print-1: Claude Monet [claude@example.com atelier@example.com] 60 fr",
				"line 3 print-2: Berthe Morisot [berthe@example.com atelier@example.com] 62.5 en",
				"line 4 print-3: - [a@example.com b@example.com] 60 -"}},
		{name: "CSV with semicolons, as Excel saves it in France",
			file: "\ufeffid;artist_name;artist_email;artist_share;artist_locale\r\n" +
				"print-1;Claude Monet;claude@example.com, atelier@example.com;62,5 %;fr-FR\r\n" +
				"print-2;Berthe Morisot;\"berthe@example.com; atelier@example.com\";60\u202f%;en\r\n" +
				"print-3;;claude@example.com claude@example.com;0;\r\n",
			want: []string{"line 2 print-1: Claude Monet [claude@example.com atelier@example.com] 62.5 fr",
				"line 3 print-2: Berthe Morisot [berthe@example.com atelier@example.com] 60 en",
				"line 4 print-3: - [claude@example.com] 0 -"}},
		{name: "empty cells keep the product's artist", file: "id;artist_name;artist_email;artist_share;artist_locale\nx; ; ,; ;\n",
			want: []string{"line 2 x: - - - -"}},
		{name: "JSON: addresses as a list or a string, a share as a number or a string",
			file: "[\n" +
				`{"id":"a","artist_name":"Claude Monet","artist_email":["claude@example.com","atelier@example.com"],"artist_share":60,"artist_locale":"fr"},` + "\n" +
				`{"id":"b","artist_email":"berthe@example.com; atelier@example.com","artist_share":"62,5 %","artist_locale":"EN"},` + "\n" +
				`{"id":"c","artist_share":62.5,"artist_email":"claude@example.com"},` + "\n" +
				`{"id":"d","artist_name":null,"artist_email":null,"artist_share":null,"artist_locale":null},` + "\n" +
				`{"id":"e","artist_name":"","artist_email":[],"artist_share":"","artist_locale":""}` + "\n]",
			want: []string{"product 1 (line 2) a: Claude Monet [claude@example.com atelier@example.com] 60 fr",
				"product 2 (line 3) b: - [berthe@example.com atelier@example.com] 62.5 en",
				"product 3 (line 4) c: - [claude@example.com] 62.5 -",
				"product 4 (line 5) d: - - - -",
				"product 5 (line 6) e: - - - -"}},

		{name: "not an address", file: "id,artist_email\nx,claude@example\n",
			err: []string{`line 2: artist_email of x: "claude@example" is not an email address: write addresses alone, separated by commas, such as artist@example.com`}},
		{name: "a name with the address", file: "id;artist_email\nx;Claude Monet <claude@example.com>\n",
			err: []string{`line 2: artist_email "Claude Monet <claude@example.com>" holds a name: write the address alone, such as claude@example.com, and the name in artist_name`}},
		{name: "too many addresses", file: "id;artist_email\nx;" + eleven + "\n",
			err: []string{fmt.Sprintf("line 2: artist_email of x: at most %d addresses", caisse.MaxArtistEmails)}},
		{name: "several addresses not in double quotes", file: "id,artist_email,artist_share\nx,claude@example.com, atelier@example.com,60\n",
			err: []string{"line 2 has 4 values but the header (line 1) has 3 columns", `so do several addresses in artist_email, such as "claude@example.com, atelier@example.com"`}},
		{name: "a share that is not a percentage", file: "id;artist_share\nx;sixty\ny;-5\nz;62.555\n",
			err: []string{`line 2: artist_share "sixty" is not a percentage: write it such as 60 or 62.5`,
				`line 3: artist_share "-5" is not a percentage`, `line 4: artist_share "62.555" is not a percentage`}},
		{name: "a share over 100", file: "id,artist_share\nx,150\n",
			err: []string{"line 2: artist_share of x must be a percentage from 0 to 100, such as 60"}},
		{name: "a locale caisse does not write", file: "id,artist_locale\nx,de\n",
			err: []string{"line 2: artist_locale of x must be fr or en"}},
		{name: "every row's artist problem at once", file: "id,artist_email,artist_share,artist_locale\nx,nope,60,fr\ny,a@example.com,101,fr\nz,a@example.com,60,es\n",
			err: []string{`line 2: artist_email of x: "nope" is not an email address`, "line 3: artist_share of y must be a percentage from 0 to 100",
				"line 4: artist_locale of z must be fr or en"}},
		{name: "JSON: addresses that are neither a string nor a list", file: `[{"id":"x","artist_email":5}]`,
			err: []string{`product 1 (line 1): artist_email must be an address or a list of addresses, such as "claude@example.com" or ["claude@example.com", "atelier@example.com"]`}},
		{name: "JSON: a bad address in a list", file: `[{"id":"x","artist_email":["claude@example.com","atelier"]}]`,
			err: []string{`product 1 (line 1): artist_email of x: "atelier" is not an email address`}},
		{name: "JSON: a name with the address in a list", file: `[{"id":"x","artist_email":["Claude <claude@example.com>"]}]`,
			err: []string{`product 1 (line 1): artist_email "Claude <claude@example.com>" holds a name: write the address alone, such as claude@example.com`}},
		{name: "JSON: a share that is not a percentage", file: "[{\"id\":\"x\",\"artist_share\":true},\n{\"id\":\"y\",\"artist_share\":\"60 percent\"},\n{\"id\":\"z\",\"artist_share\":100.5}]",
			err: []string{`product 1 (line 1): artist_share "true" is not a percentage`, `product 2 (line 2): artist_share "60 percent" is not a percentage`,
				"product 3 (line 3): artist_share of z must be a percentage from 0 to 100"}},
		{name: "JSON: a locale that is not a string", file: `[{"id":"x","artist_locale":1}]`,
			err: []string{`product 1 (line 1): artist_locale must be a string, such as "fr"`}},
		{name: "JSON: a name that is not a string", file: `[{"id":"x","artist_name":["Claude Monet"]}]`,
			err: []string{`product 1 (line 1): artist_name must be a string, such as "Claude Monet"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rows, err := parseRows([]byte(tc.file))
			if tc.err != nil {
				if err == nil {
					t.Fatalf("accepted: %+v", rows)
				}
				if caisse.ErrorCode(err) != caisse.EINVALID {
					t.Errorf("error code %s, want %s", caisse.ErrorCode(err), caisse.EINVALID)
				}
				for _, want := range tc.err {
					if !strings.Contains(caisse.ErrorMessage(err), want) {
						t.Errorf("the error\n%s\ndoes not say\n%s", caisse.ErrorMessage(err), want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, artistGot(r))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("read\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// What `caisse products list --json` writes imports back unchanged, the
// artist included: each key it writes is a column, or one an import
// ignores.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	shop := memProducts{
		"monet": {ID: "monet", Name: "Nymphéas", Price: 90000, Currency: "eur", Stock: 1, Reserved: 1, SanityID: "work-monet",
			ArtistName: "Claude Monet", ArtistEmail: caisse.Addresses{"claude@example.com", "atelier@example.com"}, ArtistShare: 6250, ArtistLocale: "fr"},
		"morisot": {ID: "morisot", Name: "Le Berceau", Price: 5000, Currency: "jpy", Stock: 3,
			ArtistName: "Berthe Morisot", ArtistEmail: caisse.Addresses{"berthe@example.com"}, ArtistShare: 60 * caisse.PercentUnit},
		"tee": {ID: "tee", Name: "Tee", Price: 1500, Currency: "eur"},
	}
	var list []*caisse.Product
	for _, id := range slices.Sorted(maps.Keys(shop)) {
		shop[id].Fill()
		p := *shop[id]
		list = append(list, &p)
	}
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var keys []map[string]any
	if err := json.Unmarshal(data, &keys); err != nil {
		t.Fatal(err)
	}
	for key := range keys[0] {
		if !slices.Contains(Columns, key) && !slices.Contains(outputKeys, key) {
			t.Errorf("a product's JSON key %q is neither a catalogue column nor one an import ignores", key)
		}
	}
	rows, err := parseRows(data)
	if err != nil {
		t.Fatalf("%s\ndoes not import back: %v", data, err)
	}
	before := shop.String()
	for _, preview := range []bool{true, false} {
		changes, err := Import(context.Background(), shop, rows, Options{SetStock: true, Preview: preview})
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range changes {
			if ch.Action != "unchanged" {
				t.Errorf("preview %v: %s: %s %s, want unchanged", preview, ch.ID, ch.Action, ch.Change)
			}
		}
		if after := shop.String(); after != before {
			t.Errorf("preview %v: the products became\n%s\nwant\n%s", preview, after, before)
		}
	}
}

// A shop's spreadsheet holds columns of its own (colour, notes, a supplier):
// they are left aside, each named once in the File's Ignored, in the
// file's order, and the products import as without them.
func TestExtraColumns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name, file string
		ignored    []string
	}{
		{name: "CSV", file: "id;Couleur;name;price;currency;stock;Notes internes;fournisseur\n" +
			"print-1;bleu;Print #1;900,00;eur;1;fragile;Atelier A\ntee;;Tee;15;eur;4;;\n",
			ignored: []string{"Couleur", "Notes internes", "fournisseur"}},
		{name: "JSON", file: `[{"id":"print-1","name":"Print #1","price":"900.00","currency":"eur","stock":1,"colour":"blue","notes":"fragile"},` +
			`{"id":"tee","name":"Tee","price":1500,"currency":"eur","stock":4,"colour":"","supplier":"A"}]`,
			ignored: []string{"colour", "notes", "supplier"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse([]byte(tc.file))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !slices.Equal(f.Ignored, tc.ignored) {
				t.Errorf("ignored %q, want %q", f.Ignored, tc.ignored)
			}
			shop := memProducts{}
			changes, err := Import(ctx, shop, f.Rows, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ch := range changes {
				got = append(got, ch.ID+": "+ch.Change)
			}
			want := "print-1: new: Print #1, price 900.00 EUR, stock 1\ntee: new: Tee, price 15.00 EUR, stock 4"
			if strings.Join(got, "\n") != want {
				t.Errorf("imported\n%s\nwant\n%s", strings.Join(got, "\n"), want)
			}
			if p := shop["print-1"]; p == nil || p.Price != 90000 || p.Stock != 1 {
				t.Errorf("print-1 stored as %+v", p)
			}
		})
	}
}

// A spreadsheet made in French names its columns in French, with or
// without accents, in any case: it reads as the same file in English.
func TestFrenchHeaders(t *testing.T) {
	t.Parallel()
	english := "id;name;price;currency;stock;sanity_id;artist_name;artist_email;artist_share;artist_locale\n" +
		"nympheas;Les Nymphéas bleus;9 000,00;eur;1;work-1;Claude Monet;claude@example.com, atelier@example.com;60;fr\n" +
		"tee;Tee;25,50;eur;12;;;;;\n"
	frenchBodies := "nympheas;Les Nymphéas bleus;9 000,00;eur;1;work-1;Claude Monet;claude@example.com, atelier@example.com;60;fr\n" +
		"tee;Tee;25,50;eur;12;;;;;\n"
	for _, header := range []string{
		"id;nom;prix;devise;stock;id_sanity;artiste;email_artiste;part_artiste;langue_artiste",
		"Référence;Nom;Prix;Devise;Quantité;ID Sanity;Nom de l'artiste;E-mail artiste;Part de l’artiste;Langue de l'artiste",
		"IDENTIFIANT;DÉSIGNATION;PRIX UNITAIRE;MONNAIE;QTÉ;identifiant_sanity;Artiste;Courriel artiste;part artiste;LANGUE ARTISTE",
		"\ufeffréf;libellé;prix;devise;stock;id-sanity;artiste;courriel_de_l_artiste;part_de_l_artiste;langue_de_l_artiste",
	} {
		t.Run(header, func(t *testing.T) {
			t.Parallel()
			want, err := Parse([]byte(english))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse([]byte(header + "\n" + frenchBodies))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if len(got.Ignored) != 0 {
				t.Errorf("ignored %q, want none", got.Ignored)
			}
			if len(got.Rows) != len(want.Rows) {
				t.Fatalf("%d rows, want %d", len(got.Rows), len(want.Rows))
			}
			for i := range want.Rows {
				if g, w := rowText(got.Rows[i]), rowText(want.Rows[i]); g != w {
					t.Errorf("row %d reads\n%s\nwant\n%s", i, g, w)
				}
			}
			// Imported, they make the same products.
			a, b := memProducts{}, memProducts{}
			if _, err := Import(context.Background(), a, want.Rows, Options{}); err != nil {
				t.Fatal(err)
			}
			if _, err := Import(context.Background(), b, got.Rows, Options{}); err != nil {
				t.Fatal(err)
			}
			if a.String() != b.String() {
				t.Errorf("the French file made\n%s\nthe English one\n%s", b, a)
			}
		})
	}
	// A JSON list may name its keys in French too.
	f, err := Parse([]byte(`[{"id":"tee","nom":"Tee","prix":"25,50","devise":"eur","Quantité":12}]`))
	if err != nil {
		t.Fatal(err)
	}
	if got := rowText(f.Rows[0]); got != "product 1 (line 1) tee Tee 2550 eur 12 - - - - -" {
		t.Errorf("the French JSON reads %s", got)
	}
}

// rowText is every field a row gives, "-" for one it leaves as it is.
func rowText(r Row) string {
	str := func(s *string) string {
		if s == nil {
			return "-"
		}
		return *s
	}
	num := func(n *int64) string {
		if n == nil {
			return "-"
		}
		return fmt.Sprint(*n)
	}
	emails, share := "-", "-"
	if r.ArtistEmail != nil {
		emails = r.ArtistEmail.String()
	}
	if r.ArtistShare != nil {
		share = r.ArtistShare.String()
	}
	return fmt.Sprintf("%s %s %s %s %s %s %s %s %s %s %s", r.Where, r.ID, str(r.Name), num(r.Price), str(r.Currency), num(r.Stock),
		str(r.SanityID), str(r.ArtistName), emails, share, str(r.ArtistLocale))
}
