package catalogue

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/caisse/caisse"
)

// parseCSV reads a CSV catalogue, and the columns of its header caisse
// does not use; a problem with the file as a whole is its error, those of
// rows go to p.
func parseCSV(text string, p *problems) ([]Row, []string, error) {
	// The separator is the one the header line uses.
	first := strings.TrimLeft(text, " \t\r\n")
	first, _, _ = strings.Cut(first, "\n")
	sep := ','
	if strings.Count(first, ";") > strings.Count(first, ",") {
		sep = ';'
	}
	if strings.Count(first, "\t") > max(strings.Count(first, ";"), strings.Count(first, ",")) {
		sep = '\t'
	}
	r := csv.NewReader(strings.NewReader(text))
	r.Comma = sep
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = sep != '\t'
	names, err := r.Read()
	if err != nil {
		return nil, nil, caisse.Errorf(caisse.EINVALID, "%s", csvProblem(err, sep))
	}
	headerLine, _ := r.FieldPos(0)
	raw := slices.Clone(names)
	cols := map[string]int{}
	var ignored []string
	for i, h := range names {
		h = strings.TrimSpace(h)
		c := column(h)
		switch {
		case h == "":
			names[i] = ""
			continue
		case c == "":
			// A column of the shop's own (colour, notes): left aside.
			names[i] = h
			ignored = append(ignored, h)
			continue
		}
		if j, dup := cols[c]; dup {
			as := ""
			if a, b := strings.TrimSpace(raw[j]), h; !strings.EqualFold(a, b) {
				as = fmt.Sprintf(" (as %s and %s)", strconv.Quote(a), strconv.Quote(b))
			}
			return nil, nil, caisse.Errorf(caisse.EINVALID, "line %d: the header names the column %s twice%s: keep one", headerLine, c, as)
		}
		cols[c] = i
		names[i] = c
	}
	sepName := string(sep)
	if sep == '\t' {
		sepName = "tab"
	}
	if len(cols) == 0 {
		return nil, nil, caisse.Errorf(caisse.EINVALID, "line %d must name the columns, such as id%sname%sprice%scurrency%sstock (the columns are %s; in French nom, prix, devise, stock…), but it reads %q",
			headerLine, string(sep), string(sep), string(sep), string(sep), strings.Join(Columns, ", "), quoteShort(strings.TrimSpace(first)))
	}
	if _, ok := cols["id"]; !ok {
		return nil, nil, caisse.Errorf(caisse.EINVALID, "line %d: the header has no column id: each product needs its id, such as id%sname%sprice%scurrency%sstock",
			headerLine, string(sep), string(sep), string(sep), string(sep))
	}
	file := &fileInfo{columns: map[string]bool{}}
	for c := range cols {
		file.columns[c] = true
	}
	var rows []Row
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
		row := Row{Where: fmt.Sprintf("line %d", line), file: file}
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
			share, err := caisse.ParsePercent(v)
			if err != nil {
				p.add("line %d: artist_share %s", line, caisse.ErrorMessage(err))
				continue
			}
			row.ArtistShare = &share
		}
		rows = append(rows, row)
	}
	return rows, ignored, nil
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
