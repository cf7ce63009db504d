package main

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pageAnswer is what a page answered: its status, type and HTML.
type pageAnswer struct {
	status int
	kind   string
	body   string
}

// postPage posts a form to the pages in a language (Accept-Language),
// following the redirect of a form accepted.
func postPage(t *testing.T, c *http.Client, u, lang, contentType string, body io.Reader) pageAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, body)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept-Language", lang)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return pageAnswer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// upload builds the import form of the products page.
func upload(fields map[string]string, file string) (string, io.Reader) {
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
	return mw.FormDataContentType(), &body
}

// cliFlag is a flag of the command line, which a page must never tell the
// owner to use.
var cliFlag = regexp.MustCompile(`(^|[\s(;"'])--[a-z][a-z-]+`)

// A form of the products page that caisse refuses answers with the page
// itself, in the page's language, saying why and keeping what the owner
// typed: never a bare text, never a flag of the command line. Nothing is
// written.
func TestAdminPagesRefusedForms(t *testing.T) {
	a := setup(t, sqliteDB)
	a.putProduct("tee", 10)
	c, _ := signedInClient(t, a)
	before := a.product("tee")

	// isPage checks that an answer is the products page, re-rendered, in
	// lang, with a problem that says each of says.
	isPage := func(t *testing.T, what string, got pageAnswer, status int, lang string, says ...string) {
		t.Helper()
		if got.status != status || !strings.HasPrefix(got.kind, "text/html") {
			t.Fatalf("%s answered %d %s, want %d text/html:\n%.600s", what, got.status, got.kind, status, got.body)
		}
		title := map[string]string{"en": "<h1>Products</h1>", "fr": "<h1>Produits</h1>"}[lang]
		if !strings.Contains(got.body, `<html lang="`+lang+`"`) || !strings.Contains(got.body, title) ||
			!strings.Contains(got.body, `id="import"`) || !strings.Contains(got.body, `id="problem" role="alert"`) {
			t.Errorf("%s is not the products page in %s:\n%s", what, lang, got.body)
		}
		for _, s := range says {
			if !strings.Contains(got.body, s) {
				t.Errorf("%s does not say %q:\n%s", what, s, got.body)
			}
		}
		if m := cliFlag.FindString(got.body); m != "" {
			t.Errorf("%s names a flag of the command line, %q:\n%s", what, m, got.body)
		}
	}
	product := func(lang string, form url.Values) pageAnswer {
		return postPage(t, c, a.url+"/admin/products/tee", lang, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	}

	t.Run("product form", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			form   url.Values
			status int
			en, fr string
			kept   string // what the owner typed, shown again
		}{
			{"a stock that is not a number", url.Values{"stock_was": {"10"}, "stock": {"ten"}}, http.StatusBadRequest,
				"tee was not saved: its stock must be a whole number of units, such as 0, 1 or 12",
				"tee n’a pas été enregistré : son stock doit être un nombre entier d’unités, comme 0, 1 ou 12", `name="stock" min="0" step="1" value="ten"`},
			{"a price that is not an amount", url.Values{"stock_was": {"10"}, "stock": {"10"}, "price": {"12,345"}}, http.StatusBadRequest,
				"tee was not saved: its price &#34;12,345&#34; is not an amount of EUR. Write it in EUR, such as 15.50.",
				"tee n’a pas été enregistré : son prix &#34;12,345&#34; n’est pas un montant en EUR. Écrivez-le en EUR, comme 15,50.", `value="12,345"`},
			{"an artist's share over 100", url.Values{"stock_was": {"10"}, "artist_share": {"150"}, "artist_name": {"Claude Monet"}}, http.StatusBadRequest,
				"tee was not saved: the artist&#39;s share must be a percentage from 0 to 100, such as 60.5",
				"tee n’a pas été enregistré : la part de l’artiste doit être un pourcentage de 0 à 100, comme 60,5", `value="Claude Monet"`},
			{"an artist's address that is not one", url.Values{"stock_was": {"10"}, "artist_email": {"claude@example.com, atelier"}}, http.StatusBadRequest,
				"tee was not saved: &#34;atelier&#34; is not an email address",
				"tee n’a pas été enregistré : &#34;atelier&#34; n’est pas une adresse e-mail", `value="claude@example.com, atelier"`},
			{"a stock that sales moved meanwhile", url.Values{"stock_was": {"3"}, "stock": {"12"}}, http.StatusConflict,
				"tee was not saved: its stock changed while you edited it (sales or returns moved it), and is 10 now. Check it and save again.",
				"tee n’a pas été enregistré : son stock a changé pendant que vous le modifiiez (des ventes ou des retours l’ont fait bouger), il est de 10 maintenant.",
				`name="stock_was" value="10"`},
		} {
			for _, lang := range []string{"en", "fr"} {
				says := map[string]string{"en": tc.en, "fr": tc.fr}[lang]
				got := product(lang, tc.form)
				isPage(t, tc.name+" ("+lang+")", got, tc.status, lang, says, tc.kept, `class="edit refused" data-edit="tee"`)
			}
		}
		if p := a.product("tee"); p.Stock != before.Stock || p.Price != before.Price || p.ArtistName != "" || p.ArtistShare != 0 {
			t.Errorf("refused forms changed tee: %+v", p)
		}
		// The same form, corrected, is saved.
		if got := product("fr", url.Values{"stock_was": {"10"}, "stock": {"12"}, "price": {"15,50"}}); got.status != http.StatusOK ||
			!strings.Contains(got.body, "Enregistré.") {
			t.Fatalf("the corrected form answered %d:\n%s", got.status, got.body)
		}
		if p := a.product("tee"); p.Stock != 12 || p.Price != 1550 {
			t.Errorf("after the corrected form tee is %+v", p)
		}
	})

	t.Run("import form", func(t *testing.T) {
		imp := func(lang string, fields map[string]string, file string) pageAnswer {
			kind, body := upload(fields, file)
			return postPage(t, c, a.url+"/admin/import", lang, kind, body)
		}
		for _, lang := range []string{"en", "fr"} {
			isPage(t, "no file ("+lang+")", imp(lang, map[string]string{"set_stock": "1"}, ""), http.StatusBadRequest, lang,
				map[string]string{"en": "Choose a catalogue file (CSV or JSON) to import.", "fr": "Choisissez un fichier de catalogue (CSV ou JSON) à importer."}[lang])
			isPage(t, "a file with mistakes ("+lang+")", imp(lang, nil, "id;nom;prix;devise;stock\nx;X;1,001;eur;1\nx;Y;2;eur;1\n"), http.StatusBadRequest, lang,
				map[string]string{"en": "The file was not imported, and nothing was written: fix what follows and choose it again.",
					"fr": "Le fichier n’a pas été importé, et rien n’a été écrit : corrigez ce qui suit et choisissez-le de nouveau."}[lang],
				`id="import-problem"`, "<li>line 2: price &#34;1,001&#34; is not an amount of EUR", "<li>line 3: the id x is also on line 2")
			isPage(t, "a preview carried back broken ("+lang+")", postPage(t, c, a.url+"/admin/import", lang, "application/x-www-form-urlencoded",
				strings.NewReader(url.Values{"data": {"not base64!"}, "apply": {"1"}}.Encode())), http.StatusBadRequest, lang,
				map[string]string{"en": "The previewed file did not come back intact: choose it again.",
					"fr": "Le fichier de l’aperçu n’est pas revenu intact : choisissez-le de nouveau."}[lang])
		}
		if status := a.admin(http.MethodGet, "/api/admin/products/x", nil, nil); status != http.StatusNotFound {
			t.Errorf("a refused file wrote x (%d)", status)
		}
		// The preview of a kept stock says how to set it with the page's
		// box, not the command line's flag.
		for lang, says := range map[string]string{"en": "stock kept at 12 (the file says 3; tick “set stock” to set it)",
			"fr": "stock kept at 12 (the file says 3; cochez « fixer le stock » pour le fixer)"} {
			got := imp(lang, nil, "id,stock\ntee,3\n")
			if got.status != http.StatusOK || !strings.Contains(got.body, says) || cliFlag.MatchString(got.body) {
				t.Errorf("the preview (%s) answered %d, not saying %q, or naming a flag:\n%s", lang, got.status, says, got.body)
			}
		}
	})
}

// A shop's spreadsheet, in French and with columns of its own, imports
// from the products page and from the command line: the preview names the
// columns left aside, and the products are those of the same file in
// English.
func TestImportFrenchSpreadsheet(t *testing.T) {
	a := setup(t, sqliteDB)
	c, _ := signedInClient(t, a)
	french := "\ufeffRéférence;Nom;Prix;Devise;Quantité;Couleur;Notes internes\r\n" +
		"print-1;Tirage n°1;900,00;EUR;1;bleu;fragile\r\ntee;T-shirt, taille M;25,50;eur;12;;\r\n"
	kind, body := upload(nil, french)
	got := postPage(t, c, a.url+"/admin/import", "fr", kind, body)
	if got.status != http.StatusOK || !strings.Contains(got.body, `id="ignored-columns"`) ||
		!strings.Contains(got.body, "Colonnes dont caisse ne se sert pas, laissées de côté : <code>Couleur</code>, <code>Notes internes</code>") ||
		!strings.Contains(got.body, "new: Tirage n°1, price 900.00 EUR, stock 1") || !strings.Contains(got.body, "new: T-shirt, taille M, price 25.50 EUR, stock 12") {
		t.Fatalf("the preview answered %d:\n%s", got.status, got.body)
	}
	start := strings.Index(got.body, `name="data" value="`) + len(`name="data" value="`)
	data := got.body[start : start+strings.Index(got.body[start:], `"`)]
	if got = postPage(t, c, a.url+"/admin/import", "fr", "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"data": {data}, "apply": {"1"}}.Encode())); got.status != http.StatusOK || !strings.Contains(got.body, "2 produit(s)") {
		t.Fatalf("apply answered %d:\n%s", got.status, got.body)
	}
	for id, want := range map[string][3]any{"print-1": {"Tirage n°1", int64(90000), int64(1)}, "tee": {"T-shirt, taille M", int64(2550), int64(12)}} {
		if p := a.product(id); p.Name != want[0] || p.Price != want[1] || p.Currency != "eur" || p.Stock != want[2] {
			t.Errorf("%s stored %+v, want %v", id, p, want)
		}
	}

	// The command line: the same file, and its English twin, change nothing
	// now, and the preview says which columns it left aside.
	dir := t.TempDir()
	for name, text := range map[string]string{"fr.csv": french,
		"en.csv": "id,name,price,currency,stock,colour\nprint-1,Tirage n°1,900.00,eur,1,blue\ntee,\"T-shirt, taille M\",25.50,eur,12,\n"} {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := a.cli("products", "import", "--dry-run", file)
		ignored := map[string]string{"fr.csv": "ignored 2 columns caisse does not use: Couleur, Notes internes\n",
			"en.csv": "ignored 1 column caisse does not use: colour\n"}[name]
		if err != nil || !strings.HasPrefix(out, ignored) || !strings.Contains(out, "print-1  unchanged") || !strings.Contains(out, "tee      unchanged") {
			t.Errorf("caisse products import --dry-run %s: %v\n%s", name, err, out)
		}
	}
}
