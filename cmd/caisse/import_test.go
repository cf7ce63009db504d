package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// catalogueOf writes a CSV catalogue of n new products, art-0000001…
func catalogueOf(n int) string {
	var b strings.Builder
	b.WriteString("id,name,price,currency,stock\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "art-%07d,Artwork %07d,1250.00,eur,1\n", i, i)
	}
	return b.String()
}

// importPage posts the products page's import form: a file, or the
// fields of the preview's apply form.
func importPage(t *testing.T, c *http.Client, a *app, fields map[string]string, file string) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	if file != "" {
		fw, _ := mw.CreateFormFile("file", "catalogue.csv")
		_, _ = fw.Write([]byte(file))
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, a.url+"/admin/import", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(page)
}

// previewed is the file a preview page carries back to be applied.
func previewed(t *testing.T, page string) string {
	t.Helper()
	const field = `name="data" value="`
	start := strings.Index(page, field)
	if start < 0 {
		t.Fatalf("the preview carries no file:\n%.400s", page)
	}
	start += len(field)
	return page[start : start+strings.Index(page[start:], `"`)]
}

func (a *app) countProducts() int {
	a.t.Helper()
	var n int
	if err := a.raw().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM products`).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

// A large import through the pages: a file over CAISSE_IMPORT_MAX is
// refused with 413, saying the limit, the file's size and the command
// without a limit, and changes nothing; an import that fails on its
// 1,500th product writes none of them (one transaction); and a file just
// under 10 MiB (about 250,000 products) is previewed and applied, each
// within the server's timeouts, its time logged.
func TestLargeImport(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.putProduct("kept", 2)
		c, _ := signedInClient(t, a)

		over := catalogueOf(260_000) // 10.5 MiB
		status, page := importPage(t, c, a, nil, over)
		if status != http.StatusRequestEntityTooLarge || !strings.Contains(page, "over the 10 MiB") ||
			!strings.Contains(page, fmt.Sprintf("is %.1f MiB", float64(len(over))/(1<<20))) || !strings.Contains(page, "caisse products import FILE") {
			t.Fatalf("a %d-byte file answered %d:\n%.2000s", len(over), status, page)
		}
		if n := a.countProducts(); n != 1 {
			t.Fatalf("a refused file left %d products, want 1", n)
		}

		// The 1,500th product of 2,000 is refused by the database.
		failOn := "art-0001500"
		create := []string{`CREATE TRIGGER import_broken BEFORE INSERT ON products WHEN NEW.id = '` + failOn + `'
			BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`}
		drop := []string{`DROP TRIGGER import_broken`}
		if db == postgresDB {
			create = []string{`CREATE FUNCTION import_broken() RETURNS trigger LANGUAGE plpgsql AS
				$$ BEGIN IF NEW.id = '` + failOn + `' THEN RAISE EXCEPTION 'database or disk is full'; END IF; RETURN NEW; END $$`,
				`CREATE TRIGGER import_broken BEFORE INSERT ON products FOR EACH ROW EXECUTE FUNCTION import_broken()`}
			drop = []string{`DROP TRIGGER import_broken ON products`, `DROP FUNCTION import_broken()`}
		}
		raw := a.raw()
		for _, q := range create {
			if _, err := raw.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		status, page = importPage(t, c, a, nil, catalogueOf(2000))
		if status != http.StatusOK {
			t.Fatalf("the preview answered %d:\n%.400s", status, page)
		}
		if status, page = importPage(t, c, a, map[string]string{"data": previewed(t, page), "apply": "1"}, ""); status != http.StatusInternalServerError {
			t.Fatalf("an import the database refused half-way answered %d:\n%.400s", status, page)
		}
		if n := a.countProducts(); n != 1 {
			t.Fatalf("an import refused at its 1,500th product left %d products, want 1: it was half-applied", n)
		}
		for _, q := range drop {
			if _, err := raw.Exec(q); err != nil {
				t.Fatal(err)
			}
		}

		// A catalogue just under the limit; under the race detector, which
		// slows each product's parsing tenfold and proves nothing of size,
		// a twelfth of it (the run without the detector imports it whole).
		n := 248_000
		if raceDetector {
			n = 20_000
		}
		file := catalogueOf(n)
		if len(file) > 10<<20 {
			t.Fatalf("the file is %d bytes, over 10 MiB", len(file))
		}
		start := time.Now()
		status, page = importPage(t, c, a, nil, file)
		previewTook := time.Since(start)
		if status != http.StatusOK || !strings.Contains(page, fmt.Sprintf("Apply %d change(s)", n)) {
			t.Fatalf("the preview of %d bytes answered %d:\n%.400s", len(file), status, page)
		}
		start = time.Now()
		status, page = importPage(t, c, a, map[string]string{"data": previewed(t, page), "apply": "1"}, "")
		applyTook := time.Since(start)
		if status != http.StatusOK || !strings.Contains(page, fmt.Sprintf("Imported %d product(s).", n)) {
			t.Fatalf("the apply answered %d:\n%.400s", status, page)
		}
		t.Logf("%s: a %.1f MiB catalogue of %d products: preview %s, apply %s", db, float64(len(file))/(1<<20), n,
			previewTook.Round(time.Millisecond), applyTook.Round(time.Millisecond))
		if got := a.countProducts(); got != n+1 {
			t.Fatalf("%d products after the import, want %d", got, n+1)
		}
		last := fmt.Sprintf("%07d", n-1)
		if p := a.product("art-" + last); p.Name != "Artwork "+last || p.Price != 125000 || p.Stock != 1 || p.Currency != "eur" {
			t.Fatalf("an imported product: %+v", p)
		}
		if p := a.product("kept"); p.Stock != 2 {
			t.Fatalf("a product the file does not name has stock %d, want 2", p.Stock)
		}
	})
}
