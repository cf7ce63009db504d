package caisse

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CatalogueColumns are the columns of a CSV catalogue, and the keys of a
// JSON one.
var CatalogueColumns = []string{"id", "name", "price", "unit_amount", "currency", "stock", "sanity_id",
	"artist_name", "artist_email", "artist_share", "artist_locale"}

// catalogueOutputKeys are the keys of a product as caisse writes it
// (`caisse products list --json`) that an import ignores, so such a list
// imports back.
var catalogueOutputKeys = []string{"reserved", "available", "is_available", "created_at", "updated_at"}

// CatalogueRow is one product of a catalogue file: its id and the fields
// the file gives (a field the file leaves out, or leaves empty, is left as
// it is).
type CatalogueRow struct {
	ID string
	ProductUpdate
	// PriceText is a price in the currency's units ("15.00") on a row that
	// names no currency: ImportCatalogue reads it in the currency of the
	// product it updates. A row that names its currency has its Price read
	// already.
	PriceText string
	// Where names the row as its file shows it, for messages: "line 3" in a
	// CSV (whose header is line 1), "product 2 (line 4)" in JSON.
	Where string

	priceFrom string         // where the price comes from: "price" (units), "unit_amount" or "json" (a JSON number)
	file      *catalogueFile // the file the row comes from
}

// catalogueFile is what messages about a row need to know of its file.
type catalogueFile struct {
	json    bool
	columns map[string]bool // a CSV's header
}

// where names a row in a message.
func (r *CatalogueRow) where() string {
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
		return Errorf(EINVALID, "%s\n… and %d more problems", strings.Join(p.list[:maxProblems], "\n"), n-maxProblems)
	}
	return Errorf(EINVALID, "%s", strings.Join(p.list, "\n"))
}

// ParseCatalogue reads a catalogue file, as a spreadsheet or a person
// writes it: a JSON list of products, or a CSV whose header line names its
// columns (CatalogueColumns), separated by "," or ";" (as the header line
// shows), in UTF-8 with or without a byte-order mark, with "\n" or "\r\n"
// line ends, blank lines ignored.
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
// checked by ImportCatalogue, before it writes anything.
func ParseCatalogue(data []byte) ([]CatalogueRow, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return nil, Errorf(EINVALID, "the file is UTF-16 text: save it as UTF-8 (in Excel: \"CSV UTF-8\")")
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, Errorf(EINVALID, "the file is empty: a catalogue is a CSV whose first line names the columns (such as id,name,price,currency,stock), or a JSON list [ … ] of products")
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
		return nil, Errorf(EINVALID, "line %d is not UTF-8 text: save the file as UTF-8 (in Excel: \"CSV UTF-8\"; in LibreOffice: character set Unicode (UTF-8))",
			lineAt(data, bad))
	}
	var p problems
	var rows []CatalogueRow
	var err error
	switch trimmed[0] {
	case '[':
		rows, err = parseJSONCatalogue(data, &p)
	case '{':
		return nil, Errorf(EINVALID, "the file holds one JSON object; wrap it in [ … ]: a JSON catalogue is a list of products")
	default:
		rows, err = parseCSVCatalogue(string(data), &p)
	}
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 && len(p.list) == 0 {
		if trimmed[0] == '[' {
			return nil, Errorf(EINVALID, "the file holds an empty list: write one {\"id\": …} per product in it")
		}
		return nil, Errorf(EINVALID, "the file holds no product: after the header line, write one line per product")
	}
	seen := map[string]string{}
	for i := range rows {
		r := &rows[i]
		if r.ID == "" {
			p.add("%s has no id: each product needs one, such as print-1", r.where())
			continue
		}
		if err := r.Validate(r.ID); err != nil {
			p.add("%s: %s", r.where(), ErrorMessage(err))
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
				p.add("%s: price %s", r.where(), ErrorMessage(err))
				continue
			}
			r.Price, r.PriceText = &n, ""
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return rows, nil
}

// lineAt is the line of data that offset is on, counting from 1.
func lineAt(data []byte, offset int) int {
	offset = min(max(offset, 0), len(data))
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

// parseCSVCatalogue reads a CSV catalogue; a problem with the file as a
// whole is its error, those of rows go to p.
func parseCSVCatalogue(text string, p *problems) ([]CatalogueRow, error) {
	// The separator is the one the header line uses.
	header := strings.TrimLeft(text, " \t\r\n")
	header, _, _ = strings.Cut(header, "\n")
	sep := ','
	if strings.Count(header, ";") > strings.Count(header, ",") {
		sep = ';'
	}
	if strings.Count(header, "\t") > max(strings.Count(header, ";"), strings.Count(header, ",")) {
		sep = '\t'
	}
	r := csv.NewReader(strings.NewReader(text))
	r.Comma = sep
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = sep != '\t'
	names, err := r.Read()
	if err != nil {
		return nil, Errorf(EINVALID, "%s", csvProblem(err, sep))
	}
	headerLine, _ := r.FieldPos(0)
	cols := map[string]int{}
	known := 0
	var unknown []string
	for i, h := range names {
		h = strings.ToLower(strings.TrimSpace(h))
		names[i] = h
		switch {
		case h == "":
			continue
		case !slices.Contains(CatalogueColumns, h):
			unknown = append(unknown, strconv.Quote(h))
			continue
		}
		if _, dup := cols[h]; dup {
			return nil, Errorf(EINVALID, "line %d: the header names the column %s twice: keep one", headerLine, h)
		}
		cols[h] = i
		known++
	}
	sepName := string(sep)
	if sep == '\t' {
		sepName = "tab"
	}
	switch {
	case known == 0:
		return nil, Errorf(EINVALID, "line %d must name the columns, such as id%sname%sprice%scurrency%sstock (the columns are %s), but it reads %q",
			headerLine, string(sep), string(sep), string(sep), string(sep), strings.Join(CatalogueColumns, ", "), quoteShort(strings.TrimSpace(header)))
	case len(unknown) == 1:
		return nil, Errorf(EINVALID, "line %d: caisse does not know the column %s: the columns are %s (a column caisse does not use must go)",
			headerLine, unknown[0], strings.Join(CatalogueColumns, ", "))
	case len(unknown) > 1:
		return nil, Errorf(EINVALID, "line %d: caisse does not know the columns %s: the columns are %s (columns caisse does not use must go)",
			headerLine, strings.Join(unknown, ", "), strings.Join(CatalogueColumns, ", "))
	}
	if _, ok := cols["id"]; !ok {
		return nil, Errorf(EINVALID, "line %d: the header has no column id: each product needs its id, such as id%sname%sprice%scurrency%sstock",
			headerLine, string(sep), string(sep), string(sep), string(sep))
	}
	file := &catalogueFile{columns: map[string]bool{}}
	for c := range cols {
		file.columns[c] = true
	}
	var rows []CatalogueRow
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		} else if err != nil {
			p.add("%s", csvProblem(err, sep))
			break
		}
		line, _ := r.FieldPos(0)
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue // a blank line, or one of separators only
		}
		if len(rec) != len(names) {
			hint := fmt.Sprintf("a value holding a %s must be in double quotes, such as \"Print%s large\"", sepName, string(sep))
			if sep == ',' {
				hint += ", and a price written 15.00 rather than 15,00 (or in double quotes)"
			}
			if _, ok := cols["artist_email"]; ok && sep != '\t' {
				hint += fmt.Sprintf("; so do several addresses in artist_email, such as \"claude@example.com%s atelier@example.com\"", string(sep))
			}
			if len(rec) < len(names) {
				hint = "each line needs a value for each column, even an empty one"
			}
			values := "values"
			if len(rec) == 1 {
				values = "value"
			}
			p.add("line %d has %d %s but the header (line %d) has %d columns: %s", line, len(rec), values, headerLine, len(names), hint)
			continue
		}
		row := CatalogueRow{Where: fmt.Sprintf("line %d", line), file: file}
		get := func(name string) (string, bool) {
			i, ok := cols[name]
			if !ok {
				return "", false
			}
			v := strings.TrimSpace(rec[i])
			return v, v != ""
		}
		for i, h := range names {
			if v := strings.TrimSpace(rec[i]); h == "" && v != "" {
				p.add("line %d: the value %q is in column %d, which the header (line %d) does not name: name the column or empty it",
					line, quoteShort(v), i+1, headerLine)
			}
		}
		row.ID, _ = get("id")
		for _, f := range []struct {
			name string
			dst  **string
		}{{"name", &row.Name}, {"currency", &row.Currency}, {"sanity_id", &row.SanityID},
			{"artist_name", &row.ArtistName}, {"artist_locale", &row.ArtistLocale}} {
			if v, ok := get(f.name); ok {
				*f.dst = &v
			}
		}
		price, hasPrice := get("price")
		amount, hasAmount := get("unit_amount")
		switch {
		case hasPrice && hasAmount:
			p.add("line %d: give price or unit_amount, not both (price is in the currency's units, such as 15.00; unit_amount in its smallest unit, such as 1500)", line)
			continue
		case hasPrice:
			row.PriceText, row.priceFrom = price, "price"
		case hasAmount:
			n, ok := wholeNumber(amount)
			if !ok {
				p.add("line %d: unit_amount %q is not a whole number: unit_amount is in the currency's smallest unit, such as 1500 for 15.00 EUR; for 15.00, use the column price", line, quoteShort(amount))
				continue
			}
			row.Price, row.priceFrom = &n, "unit_amount"
		}
		if v, ok := get("stock"); ok {
			n, ok := wholeNumber(v)
			if !ok {
				p.add("line %d: stock %q is not a whole number of units: write it such as 0, 1 or 12", line, quoteShort(v))
				continue
			}
			row.Stock = &n
		}
		if v, ok := get("artist_email"); ok {
			emails, problem := artistEmails(v)
			if problem != "" {
				p.add("line %d: %s", line, problem)
				continue
			}
			row.ArtistEmail = emails
		}
		if v, ok := get("artist_share"); ok {
			share, err := ParsePercent(v)
			if err != nil {
				p.add("line %d: artist_share %s", line, ErrorMessage(err))
				continue
			}
			row.ArtistShare = &share
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// csvProblem says what is wrong with a CSV that cannot be read.
func csvProblem(err error, sep rune) string {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Sprintf(`line %d: a " inside a value that is not in double quotes: put the whole value in double quotes and double the " inside it, such as "Print 12"" x 16"""`, pe.Line)
	case errors.Is(pe.Err, csv.ErrQuote):
		where := fmt.Sprintf("line %d", pe.Line)
		if pe.StartLine != pe.Line {
			where = fmt.Sprintf("lines %d to %d", pe.StartLine, pe.Line)
		}
		return fmt.Sprintf(`%s: a value opened with " is not closed where it should be: end it with " before the next %q, and double any " inside it`, where, string(sep))
	}
	return fmt.Sprintf("line %d: %v", pe.Line, pe.Err)
}

// wholeNumber reads a count or an amount in the smallest unit, allowing
// the spaces that group thousands ("1 000").
func wholeNumber(s string) (int64, bool) {
	if bare := strings.TrimSpace(s); strings.ContainsFunc(bare, unicode.IsSpace) && !grouped.MatchString(bare) {
		return 0, false // "15 00" is not 1500
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	if s == "" || len(s) > 15 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// currencySymbols are the symbols a price may carry beside its amount, by
// the currencies they may stand for.
var currencySymbols = map[string][]string{
	"eur": {"€"}, "gbp": {"£"}, "jpy": {"¥", "円"}, "cny": {"¥"},
	"usd": {"US$", "$"}, "cad": {"CA$", "$"}, "aud": {"A$", "$"}, "nzd": {"NZ$", "$"}, "hkd": {"HK$", "$"}, "sgd": {"S$", "$"}, "mxn": {"$"},
}

// readPrice reads a price in a currency's units, as ParseAmount does, also
// as spreadsheets show it: "1 234,50 €", "EUR 15.00", "1'234.50".
func readPrice(text, currency string) (int64, error) {
	if CurrencyExponent(currency) == 3 && ambiguousComma.MatchString(strings.TrimSpace(text)) {
		// "1,500" is 1.500 in French and 1500 in English.
		return 0, Errorf(EINVALID, "%q could be read two ways in %s: write 1.500 for one and a half, or 1500 for fifteen hundred",
			text, strings.ToUpper(currency))
	}
	n, err := ParseAmount(text, currency)
	if err == nil {
		return n, nil
	}
	s := strings.TrimSpace(text)
	for _, affix := range append([]string{strings.ToUpper(currency)}, currencySymbols[currency]...) {
		if u := strings.ToUpper(s); strings.HasPrefix(u, affix) {
			s = s[len(affix):]
			break
		} else if strings.HasSuffix(u, affix) {
			s = s[:len(s)-len(affix)]
			break
		}
	}
	bare := strings.TrimSpace(s)
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '\'' || r == '’' {
			return -1
		}
		return r
	}, s)
	// Spaces and apostrophes may only group the digits of the whole part
	// by three ("1 234,50", "1'234.50"): "15 00" is not 1500.
	if s != "" && s != text && grouped.MatchString(bare) {
		if n, err2 := ParseAmount(s, currency); err2 == nil {
			return n, nil
		}
	}
	return 0, err
}

var (
	ambiguousComma = regexp.MustCompile(`^\d{1,3},\d{3}$`)
	grouped        = regexp.MustCompile(`^\d{1,3}([ \x{00a0}\x{202f}'’]\d{3})*([.,]\d+)?$`)
)

// parseJSONCatalogue reads a JSON list of products; a problem with the
// file as a whole is its error, those of products go to p.
func parseJSONCatalogue(data []byte, p *problems) ([]CatalogueRow, error) {
	broken := func() error {
		var v any
		err := json.Unmarshal(data, &v)
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return Errorf(EINVALID, "line %d: the JSON is not well formed (%v): look for a missing or extra comma, quote or bracket", lineAt(data, int(se.Offset)), se)
		case err != nil:
			return Errorf(EINVALID, "the JSON is not well formed: %v", err)
		}
		return Errorf(EINVALID, "the file must hold one JSON list [ … ] of products, and nothing after it")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the [ ParseCatalogue saw
		return nil, broken()
	}
	file := &catalogueFile{json: true}
	var rows []CatalogueRow
	for n := 1; dec.More(); n++ {
		start := int(dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, broken()
		}
		for start < len(data) && strings.IndexByte(" \t\r\n,", data[start]) >= 0 {
			start++
		}
		row := CatalogueRow{Where: fmt.Sprintf("product %d (line %d)", n, lineAt(data, start)), file: file}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			p.add("%s is not an object: each product is written {\"id\": \"print-1\", \"name\": …}", row.where())
			continue
		}
		if parseJSONProduct(&row, obj, p) {
			rows = append(rows, row)
		}
	}
	if _, err := dec.Token(); err != nil { // ]
		return nil, broken()
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, broken()
	}
	return rows, nil
}

// parseJSONProduct reads one product of a JSON catalogue into row,
// reporting whether it could.
func parseJSONProduct(row *CatalogueRow, obj map[string]json.RawMessage, p *problems) bool {
	var unknown, twice []string
	fields := map[string]json.RawMessage{}
	seen := map[string]string{}
	for k, v := range obj {
		key := strings.ToLower(k)
		// "stock" and "Stock" in one product: which one counts would
		// depend on the order a map is read in.
		if other, ok := seen[key]; ok {
			pair := []string{strconv.Quote(other), strconv.Quote(k)}
			slices.Sort(pair)
			twice = append(twice, strings.Join(pair, " and "))
			continue
		}
		seen[key] = k
		switch {
		case slices.Contains(CatalogueColumns, key):
			if string(v) != "null" {
				fields[key] = v
			}
		case !slices.Contains(catalogueOutputKeys, key):
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(twice) > 0 {
		slices.Sort(twice)
		p.add("%s: the keys %s name the same field: keep one", row.where(), strings.Join(twice, ", "))
		return false
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		p.add("%s: caisse does not know the key(s) %s: the keys are %s", row.where(), strings.Join(unknown, ", "), strings.Join(CatalogueColumns, ", "))
		return false
	}
	ok := true
	str := func(key string, dst **string) {
		v, given := fields[key]
		if !given {
			return
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			p.add("%s: %s must be a string, such as %q", row.where(), key, map[string]string{"id": "print-1", "name": "Print #1", "currency": "eur", "sanity_id": "product-print-1",
				"artist_name": "Claude Monet", "artist_locale": "fr"}[key])
			ok = false
			return
		}
		if s = strings.TrimSpace(s); s != "" {
			*dst = &s
		}
	}
	var id *string
	str("id", &id)
	if id != nil {
		row.ID = *id
	}
	str("name", &row.Name)
	str("currency", &row.Currency)
	str("sanity_id", &row.SanityID)
	str("artist_name", &row.ArtistName)
	str("artist_locale", &row.ArtistLocale)
	price, hasPrice := fields["price"]
	amount, hasAmount := fields["unit_amount"]
	switch {
	case hasPrice && hasAmount:
		p.add("%s: give price or unit_amount, not both", row.where())
		return false
	case hasPrice && len(price) > 0 && price[0] == '"':
		var s string
		_ = json.Unmarshal(price, &s)
		if s = strings.TrimSpace(s); s != "" {
			row.PriceText, row.priceFrom = s, "price"
		}
	case hasPrice:
		n, err := strconv.ParseInt(string(price), 10, 64)
		if err != nil {
			p.add("%s: price %s: a JSON number is in the currency's smallest unit (1500 for 15.00 EUR), so it must be whole; write an amount in the currency's units as a string, such as \"15.50\"", row.where(), quoteShort(string(price)))
			return false
		}
		row.Price, row.priceFrom = &n, "json"
	case hasAmount:
		n, err := strconv.ParseInt(string(amount), 10, 64)
		if err != nil {
			p.add("%s: unit_amount %s is not a whole number: unit_amount is in the currency's smallest unit, such as 1500 for 15.00 EUR", row.where(), quoteShort(string(amount)))
			return false
		}
		row.Price, row.priceFrom = &n, "unit_amount"
	}
	if v, given := fields["stock"]; given {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		n, isWhole := wholeNumber(s)
		if !isWhole {
			p.add("%s: stock %s is not a whole number of units: write it such as 0, 1 or 12", row.where(), quoteShort(string(v)))
			return false
		}
		row.Stock = &n
	}
	if v, given := fields["artist_email"]; given {
		var list []string
		var one string
		if json.Unmarshal(v, &one) == nil {
			list = []string{one}
		} else if json.Unmarshal(v, &list) != nil {
			p.add("%s: artist_email must be an address or a list of addresses, such as \"claude@example.com\" or [\"claude@example.com\", \"atelier@example.com\"]", row.where())
			return false
		}
		emails, problem := artistEmails(list...)
		if problem != "" {
			p.add("%s: %s", row.where(), problem)
			return false
		}
		row.ArtistEmail = emails
	}
	if v, given := fields["artist_share"]; given {
		// A number (60, 62.5) or a string as a spreadsheet writes it ("60 %").
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		if strings.TrimSpace(s) != "" {
			share, err := ParsePercent(s)
			if err != nil {
				p.add("%s: artist_share %s", row.where(), ErrorMessage(err))
				return false
			}
			row.ArtistShare = &share
		}
	}
	return ok
}

// artistEmails reads the artist's addresses of a cell, or of a JSON string
// or list: nil when there are none, so the product keeps its own. Whether
// each is an address, and how many there are, ProductUpdate.Validate
// checks; an address written with a name, as a mail program copies it
// ("Claude Monet <claude@example.com>"), is refused here, where the
// message can say where the name goes.
func artistEmails(values ...string) (*Addresses, string) {
	for _, v := range values {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			continue
		}
		addr, _, _ := strings.Cut(v[i+1:], ">")
		if addr = strings.TrimSpace(addr); !ValidEmail(addr) {
			addr = "claude@example.com"
		}
		return nil, fmt.Sprintf("artist_email %q holds a name: write the address alone, such as %s, and the name in artist_name", quoteShort(strings.TrimSpace(v)), addr)
	}
	emails := ParseAddresses(strings.Join(values, ","))
	if len(emails) == 0 {
		return nil, ""
	}
	return &emails, ""
}

// ImportChange is what importing one product did, or would do.
type ImportChange struct {
	ID string `json:"id"`
	// Action is "new", "update" or "unchanged".
	Action string `json:"action"`
	Change string `json:"change"`
	// Warning is set when the new price looks like a mistake of unit: 100
	// times the current one, or a hundredth of it (for two-decimal
	// currencies). Change says it too.
	Warning string   `json:"warning,omitempty"`
	Product *Product `json:"product"`
}

// ImportCatalogue creates or updates each product of a catalogue; with
// preview it writes nothing and says what it would do. The stock of a
// product that exists already is kept unless setStock says otherwise: a
// catalogue file holds the stock a product started with, and importing it
// again must never put back units that were sold.
//
// Before it writes anything, it checks every row against the shop: a price
// needs a currency (the row's, or the product's), and a new product needs
// a name, a price, a currency and its stock (never 0 by default). A row
// that fails is an EINVALID error naming its line, and nothing is written.
func ImportCatalogue(ctx context.Context, products ProductService, rows []CatalogueRow, setStock, preview bool) ([]ImportChange, error) {
	type plan struct {
		id           string
		before       *Product
		u            ProductUpdate
		kept, notice string
	}
	var plans []plan
	var p problems
	// A store that imports in one transaction also reads the products in
	// one go: a catalogue of 100,000 rows is not 100,000 round trips.
	importer, whole := products.(ProductImporter)
	var existing map[string]*Product
	if whole {
		ids := make([]string, len(rows))
		for i := range rows {
			ids[i] = rows[i].ID
		}
		var err error
		if existing, err = importer.FindProductsByID(ctx, ids); err != nil {
			return nil, err
		}
	}
	for i := range rows {
		r := &rows[i]
		var before *Product
		if whole {
			before = existing[r.ID]
		} else if found, err := products.FindProduct(ctx, r.ID); err == nil {
			before = found
		} else if ErrorCode(err) != ENOTFOUND {
			return nil, err
		}
		u, notice, problem := r.resolve(before)
		if problem != "" {
			p.add("%s: %s", r.where(), problem)
			continue
		}
		if before != nil && u.Stock != nil && setStock && *u.Stock < before.Reserved {
			// Checked here, so the import is refused whole, not half-way.
			p.add("%s: %s's stock %d is below the %d units open checkouts reserve; set at least %d, or wait for them to end",
				r.where(), r.ID, *u.Stock, before.Reserved, before.Reserved)
			continue
		}
		var kept string
		if before != nil && u.Stock != nil && !setStock {
			if *u.Stock != before.Stock {
				kept = fmt.Sprintf("stock kept at %d (the file says %d; --set-stock sets it)", before.Stock, *u.Stock)
			}
			u.Stock = nil
		}
		plans = append(plans, plan{id: r.ID, before: before, u: u, kept: kept, notice: notice})
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	var written map[string]*Product
	if whole && !preview {
		puts := make([]ProductPut, len(plans))
		for i, pl := range plans {
			puts[i] = ProductPut{ID: pl.id, Update: pl.u}
		}
		afters, err := importer.PutProducts(ctx, puts)
		if ErrorCode(err) == EINTERNAL {
			return nil, fmt.Errorf("error importing %d products, none imported: %w", len(puts), err)
		} else if err != nil {
			return nil, Errorf(ErrorCode(err), "%s (nothing was imported)", ErrorMessage(err))
		}
		written = make(map[string]*Product, len(afters))
		for _, a := range afters {
			written[a.ID] = a
		}
	}
	var out []ImportChange
	for _, pl := range plans {
		var after *Product
		var err error
		switch {
		case preview:
			after = previewUpdate(pl.id, pl.before, pl.u)
		case whole:
			after = written[pl.id]
		default:
			if after, err = products.PutProduct(ctx, pl.id, pl.u); err != nil {
				return out, Errorf(ErrorCode(err), "product %s: %s (products before it were imported)", pl.id, ErrorMessage(err))
			}
		}
		ch := ImportChange{ID: pl.id, Action: "update", Change: describeImport(pl.before, after, pl.kept, pl.notice), Product: after}
		if pl.before == nil {
			ch.Action = "new"
		} else if ch.Change == "unchanged" {
			ch.Action = "unchanged"
		}
		if pl.before != nil && pl.before.Price != after.Price {
			ch.Warning = pl.notice
		}
		out = append(out, ch)
	}
	return out, nil
}

// resolve is the update a row makes to the product it names (nil for a
// new one), and a notice about its price; or what is wrong with the row.
func (r *CatalogueRow) resolve(before *Product) (u ProductUpdate, notice, problem string) {
	u = r.ProductUpdate
	currency := ""
	if u.Currency != nil && *u.Currency != "" {
		currency = *u.Currency
	} else if before != nil {
		currency = before.Currency
	}
	if before == nil {
		var needs, absent, empty, keys []string
		need := func(what string, missing bool, columns ...string) {
			if !missing {
				return
			}
			needs = append(needs, what)
			switch {
			case r.file == nil:
			case r.file.json:
				keys = append(keys, strconv.Quote(columns[0]))
			case !r.file.columns[columns[0]] && (len(columns) == 1 || !r.file.columns[columns[1]]):
				absent = append(absent, strings.Join(columns, " (or ")+strings.Repeat(")", len(columns)-1))
			default:
				empty = append(empty, columns[0])
			}
		}
		need("a name", u.Name == nil, "name")
		need("a price (or unit_amount)", u.Price == nil && r.PriceText == "", "price", "unit_amount")
		need("a currency (such as eur)", currency == "", "currency")
		need("a stock (the units on hand, 0 if none yet)", u.Stock == nil, "stock")
		if len(needs) > 0 {
			var why []string
			switch len(absent) {
			case 0:
			case 1:
				why = append(why, "the file has no column "+absent[0])
			default:
				why = append(why, "the file has no columns "+joinAnd(absent))
			}
			switch len(empty) {
			case 0:
			case 1:
				why = append(why, "its "+empty[0]+" is empty")
			default:
				why = append(why, "its "+joinAnd(empty)+" are empty")
			}
			if len(keys) > 0 {
				list := keys[len(keys)-1]
				if len(keys) > 1 {
					list = strings.Join(keys[:len(keys)-1], ", ") + " or " + list
				}
				why = append(why, "it has no "+list)
			}
			problem = fmt.Sprintf("%s is a new product, so it needs %s", r.ID, joinAnd(needs))
			if len(why) > 0 {
				problem += ": " + strings.Join(why, "; ")
			}
			return u, "", problem
		}
	}
	if r.PriceText != "" {
		if currency == "" {
			how := "add a column currency"
			if r.file != nil && r.file.json {
				how = `give its "currency"`
			}
			return u, "", fmt.Sprintf("price %q needs a currency: %s, such as eur", quoteShort(r.PriceText), how)
		}
		n, err := readPrice(r.PriceText, currency)
		if err != nil {
			return u, "", "price " + ErrorMessage(err)
		}
		u.Price = &n
	}
	if before != nil && u.Currency != nil && *u.Currency != "" && *u.Currency != before.Currency && u.Price == nil {
		return u, "", fmt.Sprintf("the currency of %s changes from %s to %s, but the row gives no price: give its price in %s",
			r.ID, strings.ToUpper(before.Currency), strings.ToUpper(*u.Currency), strings.ToUpper(*u.Currency))
	}
	if before != nil && u.Price != nil && currency == before.Currency {
		notice = priceNotice(r.priceFrom, before.Price, *u.Price, currency)
	}
	return u, notice, ""
}

// priceNotice warns of a new price that looks like a mistake of unit: the
// current one times 100 (for a two-decimal currency), or divided by 100.
func priceNotice(from string, before, after int64, currency string) string {
	exp := CurrencyExponent(currency)
	if exp == 0 || currency == "" || before <= 0 || after <= 0 || before == after {
		return ""
	}
	f := int64(1)
	for range exp {
		f *= 10
	}
	smallest := "cents"
	if exp != 2 {
		smallest = "the smallest unit of " + strings.ToUpper(currency)
	}
	units, cents := FormatAmount(15*f, currency), strconv.FormatInt(15*f, 10)
	switch {
	case after == before*f:
		switch from {
		case "unit_amount":
			return fmt.Sprintf("%d times the current price: unit_amount is in %s, %s for %s", f, smallest, cents, units)
		case "json":
			return fmt.Sprintf("%d times the current price: a JSON number is in %s, %s for %s", f, smallest, cents, units)
		}
		return fmt.Sprintf("%d times the current price: is the file in %s? use the column unit_amount for %s", f, smallest, smallest)
	case before == after*f:
		switch from {
		case "unit_amount":
			return fmt.Sprintf("1/%d of the current price: unit_amount is in %s; for amounts such as %s, use the column price", f, smallest, units)
		case "json":
			return fmt.Sprintf("1/%d of the current price: a JSON number is in %s; write an amount such as %s as a string, \"%s\"", f, smallest, units, strings.Fields(units)[0])
		}
		return fmt.Sprintf("1/%d of the current price: price is in %s, such as %s (unit_amount is in %s)", f, strings.ToUpper(currency), strings.Fields(units)[0], smallest)
	}
	return ""
}

// joinAnd joins "a", "b" and "c" as "a, b and c".
func joinAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// previewUpdate is the product as an update would leave it.
func previewUpdate(id string, before *Product, u ProductUpdate) *Product {
	p := Product{ID: id}
	if before != nil {
		p = *before
	}
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.Name, u.Name)
	set(&p.Currency, u.Currency)
	set(&p.SanityID, u.SanityID)
	set(&p.ArtistName, u.ArtistName)
	set(&p.ArtistLocale, u.ArtistLocale)
	if u.ArtistEmail != nil {
		p.ArtistEmail = slices.Clone(*u.ArtistEmail)
	}
	if u.ArtistShare != nil {
		p.ArtistShare = *u.ArtistShare
	}
	if u.Price != nil {
		p.Price = *u.Price
	}
	if u.Stock != nil {
		p.Stock = *u.Stock
	}
	p.Fill()
	return &p
}

// describeImport says what an import did to a product; notice, about its
// new price, follows the price's change.
func describeImport(before, after *Product, kept, notice string) string {
	if before == nil {
		s := fmt.Sprintf("new: %s, price %s, stock %d", after.Name, FormatAmount(after.Price, after.Currency), after.Stock)
		if artist := describeArtist(after); artist != "" {
			s += "; artist: " + artist
		}
		return s
	}
	var parts []string
	if before.Name != after.Name {
		parts = append(parts, fmt.Sprintf("name %q → %q", before.Name, after.Name))
	}
	if before.Price != after.Price || before.Currency != after.Currency {
		price := fmt.Sprintf("price %s → %s", FormatAmount(before.Price, before.Currency), FormatAmount(after.Price, after.Currency))
		if notice != "" && before.Price != after.Price {
			price += " (" + notice + ")"
		}
		parts = append(parts, price)
	}
	if before.Stock != after.Stock {
		parts = append(parts, fmt.Sprintf("stock %d → %d", before.Stock, after.Stock))
	}
	if kept != "" {
		parts = append(parts, kept)
	}
	if before.ArtistName != after.ArtistName {
		parts = append(parts, fmt.Sprintf("artist_name %q → %q", before.ArtistName, after.ArtistName))
	}
	if !slices.Equal(before.ArtistEmail, after.ArtistEmail) {
		emails := func(a Addresses) string {
			if len(a) == 0 {
				return "(none)"
			}
			return a.String()
		}
		parts = append(parts, fmt.Sprintf("artist_email %s → %s", emails(before.ArtistEmail), emails(after.ArtistEmail)))
	}
	if before.ArtistShare != after.ArtistShare {
		parts = append(parts, fmt.Sprintf("artist_share %s → %s %%", before.ArtistShare, after.ArtistShare))
	}
	if before.ArtistLocale != after.ArtistLocale {
		locale := func(l string) string {
			if l == "" {
				return "(the shop's)"
			}
			return l
		}
		parts = append(parts, fmt.Sprintf("artist_locale %s → %s", locale(before.ArtistLocale), locale(after.ArtistLocale)))
	}
	if len(parts) == 0 {
		return "unchanged"
	}
	return strings.Join(parts, "; ")
}

// describeArtist writes a product's artist as a new product's change shows
// it: "Claude Monet <claude@example.com>, 60 %, fr"; "" when it has none.
func describeArtist(p *Product) string {
	var parts []string
	who := p.ArtistName
	if len(p.ArtistEmail) > 0 {
		who = strings.TrimSpace(who + " <" + p.ArtistEmail.String() + ">")
	}
	if who != "" {
		parts = append(parts, who)
	}
	if p.ArtistShare != 0 {
		parts = append(parts, p.ArtistShare.String()+" %")
	}
	if p.ArtistLocale != "" {
		parts = append(parts, p.ArtistLocale)
	}
	return strings.Join(parts, ", ")
}
