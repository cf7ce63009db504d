package http

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/template/parse"
	"time"

	"github.com/caisse/caisse"
)

func TestAcceptLanguage(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]string{
		"":                                    "",
		"fr-FR,fr;q=0.9":                      "fr",
		"fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7": "fr",
		"en-US,en;q=0.9,fr;q=0.8":             "en",
		"de-DE,de;q=0.9,fr;q=0.5,en;q=0.4":    "fr",
		"en;q=0.5, fr;q=0.8":                  "fr",
		"en;q=0.8, fr;q=0.8":                  "en", // the first named among equals
		"fr;q=0, en;q=0.1":                    "en", // q=0 is "not this one"
		"fr;q=0":                              "",
		"de, it, *":                           "",
		"fr_CA":                               "fr",
		"FR;Q=0.3, de":                        "fr",
		"fr;q=banana, en;q=0.2":               "en",
		"fr;q=NaN, en;q=0.2":                  "en",
	} {
		if got := acceptLanguage(header); got != want {
			t.Errorf("Accept-Language %q: %q, want %q", header, got, want)
		}
	}
}

func TestPageLanguage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cookie, accept, locale, want string
	}{
		{"nothing said", "", "", "", "en"},
		{"the shop's language", "", "", "fr", "fr"},
		{"the shop's language when the browser asks for another", "", "de-DE,de;q=0.9", "fr", "fr"},
		{"the browser over the shop", "", "en-GB,en;q=0.9", "fr", "en"},
		{"the switch over the browser", "fr", "en-GB,en;q=0.9", "en", "fr"},
		{"a cookie caisse never set", "klingon", "fr", "en", "fr"},
		{"a locale caisse has no words for", "", "", "de", "en"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/admin/", nil)
		if tt.cookie != "" {
			r.Header.Set("Cookie", langCookie+"="+tt.cookie)
		}
		if tt.accept != "" {
			r.Header.Set("Accept-Language", tt.accept)
		}
		if got := (&Server{Locale: tt.locale}).pageLanguage(r); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// The language switch goes back to the page it was on, and never off the
// admin pages.
func TestLanguageBack(t *testing.T) {
	t.Parallel()
	for next, want := range map[string]string{
		"/admin/orders?status=paid":            "/admin/orders?status=paid",
		"/admin/signin?next=%2Fadmin%2Forders": "/admin/signin?next=%2Fadmin%2Forders",
		"/admin/signin":                        "/admin/signin",
		"//evil.example/admin/signin":          "/admin/",
		"https://evil.example/admin/orders":    "/admin/",
		"/admin/../elsewhere":                  "/admin/",
		"/\\evil.example":                      "/admin/",
		"":                                     "/admin/",
	} {
		if got := languageBack(next); got != want {
			t.Errorf("next=%q goes back to %q, want %q", next, got, want)
		}
	}
	r := httptest.NewRequest("GET", "/admin/products?done=saved&n=1&starting_after=x", nil)
	if got := backOf(r); got != "/admin/products?starting_after=x" {
		t.Errorf("back of a page with a flash: %q", got)
	}
	if got := backOf(httptest.NewRequest("POST", "/admin/import", nil)); got != "/admin/products" {
		t.Errorf("back of the import preview: %q", got)
	}
}

func TestFormatTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 5, 15, 3, 59, 0, time.FixedZone("CET", 3600))
	for lang, want := range map[string]string{"en": "Dec 5, 2026 14:03 UTC", "fr": "5 déc. 2026 14:03 UTC"} {
		if got := formatTime(at, lang); got != want {
			t.Errorf("%s: %q, want %q", lang, got, want)
		}
	}
	if got := formatTime(time.Date(2027, 2, 28, 0, 0, 0, 0, time.UTC), "fr"); got != "28 févr. 2027 00:00 UTC" {
		t.Errorf("February in French: %q", got)
	}
	if got := formatTime(time.Time{}, "fr"); got != "—" {
		t.Errorf("no time: %q", got)
	}
}

func TestPageNumbers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		got, want string
	}{
		{formatPercent(6250, "fr"), "62,5\u00a0%"},
		{formatPercent(6000, "en"), "60%"},
		{plainPercent(6250, "fr"), "62,5"},
		{plainPercent(6250, "en"), "62.5"},
		{plainAmount(125000, "eur", "fr"), "1250,00"},
		{plainAmount(125000, "eur", "en"), "1250.00"},
		{plainAmount(5000, "jpy", "fr"), "5000"},
		{itemsSaid([]caisse.Line{{ProductID: "tee", Name: "Tee", Quantity: 2}, {ProductID: "x", Quantity: 1}}, "en"), "2 × Tee, 1 × x"},
		{itemsSaid(make([]caisse.Line, 5), "fr"), "0 × , 0 × , 0 × , et 2 de plus"},
		{roughly(3*24*time.Hour, "fr"), "3 jours"},
	} {
		if tt.got != tt.want {
			t.Errorf("%q, want %q", tt.got, tt.want)
		}
	}
	// A price or share typed back as the page shows it reads as the same.
	for _, lang := range []string{"en", "fr"} {
		if p, err := caisse.ParsePercent(plainPercent(6250, lang)); err != nil || p != 6250 {
			t.Errorf("%s: the share field's %q reads as %d, %v", lang, plainPercent(6250, lang), p, err)
		}
		if n, err := caisse.ParseAmount(plainAmount(125050, "eur", lang), "eur"); err != nil || n != 125050 {
			t.Errorf("%s: the price field's %q reads as %d, %v", lang, plainAmount(125050, "eur", lang), n, err)
		}
	}
}

// A sentence with markup keeps its own and escapes what it is given.
func TestTrHTMLEscapesItsArguments(t *testing.T) {
	t.Parallel()
	got := string(trHTML("fr", "This puts <b>%s</b> event(s) back into processing. Processing is idempotent: an event already applied changes nothing.", "<i>2</i>"))
	if !strings.HasPrefix(got, "Cela remet <b>&lt;i&gt;2&lt;/i&gt;</b> événement(s)") {
		t.Fatalf("%q", got)
	}
}

// Every sentence the pages say in English has its French, with the same
// arguments, and the catalogue holds no sentence the pages no longer say.
func TestEverySentenceIsFrench(t *testing.T) {
	t.Parallel()
	said := map[string]string{} // sentence → where
	// The templates' {{t "…"}} and {{th "…"}}.
	names, err := fs.Glob(pageFiles, "pages/*.html")
	if err != nil {
		t.Fatal(err)
	}
	funcs := map[string]any{}
	for k, v := range pageFuncs("en") {
		funcs[k] = v
	}
	for _, name := range names {
		b, _ := fs.ReadFile(pageFiles, name)
		trees, err := parse.Parse(name, string(b), "{{", "}}", funcs, map[string]any{"and": 0, "or": 0, "not": 0, "eq": 0, "lt": 0,
			"gt": 0, "ne": 0, "le": 0, "ge": 0, "call": 0, "html": 0, "js": 0, "urlquery": 0, "len": 0, "index": 0, "print": 0, "slice": 0})
		if err != nil {
			t.Fatal(err)
		}
		for _, tree := range trees {
			walk(tree.Root, func(c *parse.CommandNode) {
				if id, ok := c.Args[0].(*parse.IdentifierNode); ok && (id.Ident == "t" || id.Ident == "th") {
					s, ok := c.Args[1].(*parse.StringNode)
					if !ok {
						t.Errorf("%s: %s takes a sentence written out, not %s", name, id.Ident, c.Args[1])
						return
					}
					said[s.Text] = name
				}
			})
		}
	}
	// The Go code's tr(lang, "…") and the pages' titles.
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			arg := -1
			switch fun := call.Fun.(type) {
			case *ast.Ident:
				if fun.Name == "tr" || fun.Name == "trHTML" {
					arg = 1
				}
			case *ast.SelectorExpr:
				if fun.Sel.Name == "render" {
					arg = 5
				}
			}
			if arg < 0 || len(call.Args) <= arg {
				return true
			}
			if lit, ok := call.Args[arg].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, _ := strconv.Unquote(lit.Value)
				said[s] = fset.Position(lit.Pos()).String()
			}
			return true
		})
	}
	if len(said) < 100 {
		t.Fatalf("found only %d sentences: the search is broken", len(said))
	}
	verbs := regexp.MustCompile(`%[a-z%]`)
	for s, where := range said {
		fr, ok := french[s]
		if !ok {
			t.Errorf("%s: no French for %q", where, s)
			continue
		}
		if a, b := strings.Join(verbs.FindAllString(s, -1), " "), strings.Join(verbs.FindAllString(fr, -1), " "); a != b {
			t.Errorf("%q takes %q, its French %q takes %q", s, a, fr, b)
		}
	}
	for s := range french {
		if _, ok := said[s]; !ok {
			t.Errorf("the catalogue has French for %q, which no page says", s)
		}
	}
}

// walk calls f on every command of a template tree.
func walk(n parse.Node, f func(*parse.CommandNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				walk(c, f)
			}
		}
	case *parse.ActionNode:
		walk(n.Pipe, f)
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				walk(c, f)
			}
		}
	case *parse.CommandNode:
		f(n)
		for _, a := range n.Args {
			walk(a, f)
		}
	case *parse.IfNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.RangeNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.WithNode:
		walk(n.Pipe, f)
		walk(n.List, f)
		walk(n.ElseList, f)
	case *parse.TemplateNode:
		walk(n.Pipe, f)
	}
}
