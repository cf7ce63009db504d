package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caisse/caisse/catalogue"
)

// A catalogue as Excel saves it in France (a byte-order mark, ";"
// separators, CRLF line ends, decimal commas, empty rows at the end) is
// imported with its prices in euros: the command shows what changes, then
// applies it; --dry-run only shows.
func TestCLIImportExcelCatalogue(t *testing.T) {
	eachDB(t, testCLIImportExcelCatalogue)
}

func testCLIImportExcelCatalogue(t *testing.T, db testDB) {
	a := setup(t, db)
	dir := t.TempDir()
	file := filepath.Join(dir, "catalogue.csv")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("\ufeffid;name;price;currency;stock\r\n" +
		"print-1;Print #1;900,00;EUR;1\r\n" +
		"tee;Tee, large;25,5;eur;10\r\n" +
		"poster;Poster;5000;jpy;3\r\n" +
		";;;;\r\n;;;;\r\n")
	preview := []string{
		"print-1  new: Print #1, price 900.00 EUR, stock 1",
		"tee      new: Tee, large, price 25.50 EUR, stock 10",
		"poster   new: Poster, price 5000 JPY, stock 3",
	}
	out, err := a.cli("products", "import", "--dry-run", file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range append(preview, "ID", "CHANGE", "dry run, nothing written: 3 new, 0 updated, 0 unchanged") {
		if !strings.Contains(out, want) {
			t.Errorf("import --dry-run does not say %q:\n%s", want, out)
		}
	}
	if status := a.admin(http.MethodGet, "/api/admin/products/print-1", nil, nil); status != http.StatusNotFound {
		t.Fatalf("--dry-run wrote print-1 (%d)", status)
	}

	if out, err = a.cli("products", "import", file); err != nil {
		t.Fatal(err)
	}
	for _, want := range append(preview, "imported 3 products: 3 new, 0 updated, 0 unchanged") {
		if !strings.Contains(out, want) {
			t.Errorf("import does not say %q:\n%s", want, out)
		}
	}
	for id, want := range map[string][3]any{"print-1": {int64(90000), "eur", int64(1)}, "tee": {int64(2550), "eur", int64(10)},
		"poster": {int64(5000), "jpy", int64(3)}} {
		if p := a.product(id); p.Price != want[0] || p.Currency != want[1] || p.Stock != want[2] {
			t.Errorf("%s stored %+v, want price %v %v, stock %v", id, p, want[0], want[1], want[2])
		}
	}

	// Again, with new prices, the stock kept, and a price in cents where
	// euros are expected: the preview says so, in JSON too, and --dry-run
	// still writes nothing.
	write("\ufeffid;name;price;currency;stock\r\n" +
		"print-1;Print #1;90000;eur;1\r\n" +
		"tee;Tee, large;18;eur;4\r\n" +
		"poster;Poster;5000;jpy;3\r\n")
	out, err = a.cli("products", "import", "--dry-run", "--json", file)
	if err != nil {
		t.Fatal(err)
	}
	var changes []catalogue.Change
	if err := json.Unmarshal([]byte(out), &changes); err != nil || len(changes) != 3 {
		t.Fatalf("import --dry-run --json is not a list of 3 changes (%v):\n%s", err, out)
	}
	if ch := changes[0]; ch.Action != "update" || !strings.Contains(ch.Warning, "100 times the current price") ||
		ch.Change != "price 900.00 EUR → 90000.00 EUR (100 times the current price: is the file in cents? use the column unit_amount for cents)" {
		t.Errorf("print-1 at 100 times its price: %+v", ch)
	}
	if ch := changes[1]; ch.Action != "update" || ch.Change != "price 25.50 EUR → 18.00 EUR; stock kept at 10 (the file says 4; --set-stock sets it)" {
		t.Errorf("tee: %+v", ch)
	}
	if ch := changes[2]; ch.Action != "unchanged" || ch.Change != "unchanged" {
		t.Errorf("poster: %+v", ch)
	}
	if p := a.product("print-1"); p.Price != 90000 {
		t.Fatalf("--dry-run --json wrote print-1: %+v", p)
	}
	// Without --dry-run the suspect price stops the import, whole, until
	// --force says the file is right.
	if _, err := a.cli("products", "import", file); err == nil || !strings.Contains(err.Error(), "nothing imported: 1 price(s) are 100 times off") {
		t.Fatalf("an import with a price 100 times off: %v", err)
	}
	if p := a.product("tee"); p.Price != 2550 {
		t.Fatalf("a stopped import wrote tee: %+v", p)
	}
	if _, err := a.cli("products", "import", "--force", file); err != nil {
		t.Fatal(err)
	}
	if p := a.product("print-1"); p.Price != 9000000 {
		t.Fatalf("--force did not apply print-1's price: %+v", p)
	}

	// A file with mistakes is refused whole, each line named, and writes
	// nothing.
	write("id;name;price;currency;stock\r\nprint-1;Print #1;900,001;eur;1\r\nnew-one;New;12;eur\r\nnew-two;New;12;eur;\r\n")
	_, err = a.cli("products", "import", file)
	for _, want := range []string{file + ":\n", `line 2: price "900,001" is not an amount of EUR`, "line 3 has 4 values but the header (line 1) has 5 columns"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a file with mistakes: %v, want it to say %q", err, want)
		}
	}
	write("id;name;price;currency;stock\r\nnew-two;New;12;eur;\r\n")
	_, err = a.cli("products", "import", file)
	if want := file + ": line 2: new-two is a new product, so it needs a stock (the units on hand, 0 if none yet): its stock is empty"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a new product without stock: %v, want it to say %q", err, want)
	}
	if status := a.admin(http.MethodGet, "/api/admin/products/new-two", nil, nil); status != http.StatusNotFound {
		t.Fatalf("a refused file wrote new-two (%d)", status)
	}
}
