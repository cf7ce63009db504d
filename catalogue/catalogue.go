// Package catalogue reads a shop's catalogue files, the CSV a spreadsheet
// saves or a JSON list, and imports them: what each product would change
// is shown first, checked whole against the shop, then written in one go.
// The formats and their messages are the README's "Catalogue files".
//
// It must not know a database: it writes through caisse.ProductImporter.
package catalogue

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/caisse/caisse"
)

// Columns are the columns of a CSV catalogue, and the keys of a JSON one,
// as caisse names them. A header may also name them in French (Aliases),
// in any case, with or without accents.
var Columns = []string{"id", "name", "price", "unit_amount", "currency", "stock", "sanity_id",
	"artist_name", "artist_email", "artist_share", "artist_locale"}

// Aliases are the other names a header may give a column, as a shop's
// spreadsheet in French names it, by the column they stand for. Each is
// written as header() reads a name: in lower case, without accents, words
// joined by "_" ("Prix unitaire", "prix-unitaire" and "PRIX UNITAIRE" are
// prix_unitaire; "Nom de l'artiste" is nom_de_l_artiste).
var Aliases = map[string][]string{
	"id":            {"identifiant", "reference", "ref"},
	"name":          {"nom", "libelle", "designation", "titre"},
	"price":         {"prix", "prix_unitaire"},
	"unit_amount":   {"montant_unitaire", "prix_en_centimes", "centimes"},
	"currency":      {"devise", "monnaie"},
	"stock":         {"quantite", "qte"},
	"sanity_id":     {"id_sanity", "identifiant_sanity"},
	"artist_name":   {"artiste", "nom_artiste", "nom_de_l_artiste", "nom_de_artiste"},
	"artist_email":  {"email_artiste", "e_mail_artiste", "courriel_artiste", "email_de_l_artiste", "courriel_de_l_artiste", "emails_artiste"},
	"artist_share":  {"part_artiste", "part_de_l_artiste"},
	"artist_locale": {"langue_artiste", "langue_de_l_artiste"},
}

// columnOf is the column each name of a header stands for, Columns and
// Aliases together.
var columnOf = func() map[string]string {
	m := map[string]string{}
	for _, c := range Columns {
		m[c] = c
	}
	for c, names := range Aliases {
		for _, n := range names {
			m[n] = c
		}
	}
	return m
}()

// accents are the letters with accents French writes, without them.
var accents = strings.NewReplacer("à", "a", "â", "a", "ä", "a", "ç", "c", "é", "e", "è", "e", "ê", "e", "ë", "e",
	"î", "i", "ï", "i", "ô", "o", "ö", "o", "ù", "u", "û", "u", "ü", "u", "ÿ", "y", "œ", "oe", "æ", "ae")

// header reads a column's name as a header or a JSON key writes it: in
// lower case, without accents, each run of other characters than letters
// and digits one "_" ("Artist e-mail" is artist_e_mail, "Quantité" is
// quantite).
func header(name string) string {
	name = accents.Replace(strings.ToLower(strings.TrimSpace(name)))
	var b strings.Builder
	sep := false
	for _, r := range name {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if sep && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			sep = false
		} else {
			sep = true
		}
	}
	return b.String()
}

// column is the column a header's name stands for, or "" when caisse does
// not use it.
func column(name string) string {
	return columnOf[header(name)]
}

// outputKeys are the keys of a product as caisse writes it
// (`caisse products list --json`) that an import ignores, so such a list
// imports back.
var outputKeys = []string{"reserved", "available", "is_available", "created_at", "updated_at"}

// File is a catalogue file as Parse reads it.
type File struct {
	// Rows are its products, in the file's order.
	Rows []Row
	// Ignored are the columns of a CSV, or the keys of a JSON product, that
	// caisse does not use, as the file writes them, in the file's order:
	// a spreadsheet's own columns (colour, size, notes), which an import
	// leaves aside and a preview lists, so a misspelt column is seen
	// before anything is written.
	Ignored []string
}

// Row is one product of a catalogue file: its id and the fields
// the file gives (a field the file leaves out, or leaves empty, is left as
// it is).
type Row struct {
	ID string
	caisse.ProductUpdate
	// PriceText is a price in the currency's units ("15.00") on a row that
	// names no currency: Import reads it in the currency of the
	// product it updates. A row that names its currency has its Price read
	// already.
	PriceText string
	// Where names the row as its file shows it, for messages: "line 3" in a
	// CSV (whose header is line 1), "product 2 (line 4)" in JSON.
	Where string

	priceFrom string    // where the price comes from: "price" (units), "unit_amount" or "json" (a JSON number)
	file      *fileInfo // the file the row comes from
}

// fileInfo is what messages about a row need to know of its file.
type fileInfo struct {
	json    bool
	columns map[string]bool // a CSV's header
}

// where names a row in a message.
func (r *Row) where() string {
	if r.Where != "" {
		return r.Where
	}
	return "product " + r.ID
}

// problems gathers what is wrong with a catalogue's rows, so one attempt
// shows the owner every row to fix (up to a point).
type problems struct{ list []string }

const maxProblems = 10

func (p *problems) add(format string, args ...any) {
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *problems) err() error {
	switch n := len(p.list); {
	case n == 0:
		return nil
	case n > maxProblems:
		return caisse.Errorf(caisse.EINVALID, "%s\n… and %d more problems", strings.Join(p.list[:maxProblems], "\n"), n-maxProblems)
	}
	return caisse.Errorf(caisse.EINVALID, "%s", strings.Join(p.list, "\n"))
}

// Parse reads a catalogue file, as a spreadsheet or a person writes it: a
// JSON list of products, or a CSV whose header line names its columns
// (Columns, or their French Aliases), separated by ",", ";" or a tab (as
// the header line shows), in UTF-8 with or without a byte-order mark, with
// "\n" or "\r\n" line ends, blank lines ignored. Columns (or keys) caisse
// does not use are left aside, and listed in the File's Ignored.
//
// A CSV's price is in the currency's units ("15.00", "15,00", "15" EUR;
// "5000" JPY), read in the row's currency; unit_amount is Stripe's
// integer in the smallest unit (1500 for 15.00 EUR). In JSON, a number
// price is in the smallest unit (as in the admin API and Stripe) and a
// string price in the currency's units. A row gives one or the other.
//
// The artist of a work: artist_name; artist_email, one or more addresses
// (in a cell separated by commas, semicolons or spaces; in JSON a string of
// them or a list); artist_share, a percentage from 0 to 100 (60, "60 %",
// 62,5; in JSON a number or a string); artist_locale, fr or en.
//
// Everything wrong with the file is refused, each problem naming its line
// and how to fix it: an EINVALID error. What needs the shop's products
// (a price on a row without a currency, what a new product must give) is
// checked by Import, before it writes anything.
func Parse(data []byte) (*File, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return nil, caisse.Errorf(caisse.EINVALID, "the file is UTF-16 text: save it as UTF-8 (in Excel: \"CSV UTF-8\")")
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, caisse.Errorf(caisse.EINVALID, "the file is empty: a catalogue is a CSV whose first line names the columns (such as id,name,price,currency,stock), or a JSON list [ … ] of products")
	}
	if !utf8.Valid(data) {
		bad := len(data)
		for i := 0; i < len(data); {
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				bad = i
				break
			}
			i += size
		}
		return nil, caisse.Errorf(caisse.EINVALID, "line %d is not UTF-8 text: save the file as UTF-8 (in Excel: \"CSV UTF-8\"; in LibreOffice: character set Unicode (UTF-8))",
			lineAt(data, bad))
	}
	var p problems
	var rows []Row
	var ignored []string
	var err error
	switch trimmed[0] {
	case '[':
		rows, ignored, err = parseJSON(data, &p)
	case '{':
		return nil, caisse.Errorf(caisse.EINVALID, "the file holds one JSON object; wrap it in [ … ]: a JSON catalogue is a list of products")
	default:
		rows, ignored, err = parseCSV(string(data), &p)
	}
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 && len(p.list) == 0 {
		if trimmed[0] == '[' {
			return nil, caisse.Errorf(caisse.EINVALID, "the file holds an empty list: write one {\"id\": …} per product in it")
		}
		return nil, caisse.Errorf(caisse.EINVALID, "the file holds no product: after the header line, write one line per product")
	}
	seen := map[string]string{}
	for i := range rows {
		r := &rows[i]
		if r.ID == "" {
			p.add("%s has no id: each product needs one, such as print-1", r.where())
			continue
		}
		if err := r.Validate(r.ID); err != nil {
			p.add("%s: %s", r.where(), caisse.ErrorMessage(err))
			continue
		}
		if first, ok := seen[r.ID]; ok {
			p.add("%s: the id %s is also on %s; each id may appear once", r.where(), r.ID, first)
			continue
		}
		seen[r.ID] = r.where()
		if r.PriceText != "" && r.Currency != nil && *r.Currency != "" {
			n, err := readPrice(r.PriceText, *r.Currency)
			if err != nil {
				p.add("%s: price %s", r.where(), caisse.ErrorMessage(err))
				continue
			}
			r.Price, r.PriceText = &n, ""
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return &File{Rows: rows, Ignored: ignored}, nil
}

// lineAt is the line of data that offset is on, counting from 1.
func lineAt(data []byte, offset int) int {
	offset = min(max(offset, 0), len(data))
	return bytes.Count(data[:offset], []byte("\n")) + 1
}
