package catalogue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/caisse/caisse"
)

// parseJSON reads a JSON list of products, and the keys caisse does not
// use; a problem with the file as a whole is its error, those of products
// go to p.
func parseJSON(data []byte, p *problems) ([]Row, []string, error) {
	broken := func() error {
		var v any
		err := json.Unmarshal(data, &v)
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return caisse.Errorf(caisse.EINVALID, "line %d: the JSON is not well formed (%v): look for a missing or extra comma, quote or bracket", lineAt(data, int(se.Offset)), se)
		case err != nil:
			return caisse.Errorf(caisse.EINVALID, "the JSON is not well formed: %v", err)
		}
		return caisse.Errorf(caisse.EINVALID, "the file must hold one JSON list [ … ] of products, and nothing after it")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the [ Parse saw
		return nil, nil, broken()
	}
	file := &fileInfo{json: true}
	var rows []Row
	var ignored []string
	for n := 1; dec.More(); n++ {
		start := int(dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, broken()
		}
		for start < len(data) && strings.IndexByte(" \t\r\n,", data[start]) >= 0 {
			start++
		}
		row := Row{Where: fmt.Sprintf("product %d (line %d)", n, lineAt(data, start)), file: file}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
			p.add("%s is not an object: each product is written {\"id\": \"print-1\", \"name\": …}", row.where())
			continue
		}
		if parseJSONProduct(&row, obj, p, &ignored) {
			rows = append(rows, row)
		}
	}
	if _, err := dec.Token(); err != nil { // ]
		return nil, nil, broken()
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, broken()
	}
	return rows, ignored, nil
}

// parseJSONProduct reads one product of a JSON catalogue into row,
// reporting whether it could; the keys caisse does not use are added to
// ignored, once each.
func parseJSONProduct(row *Row, obj map[string]json.RawMessage, p *problems, ignored *[]string) bool {
	var unknown, twice []string
	fields := map[string]json.RawMessage{}
	seen := map[string]string{}
	for k, v := range obj {
		key := column(k)
		if key == "" {
			if !slices.Contains(outputKeys, header(k)) {
				unknown = append(unknown, k)
			}
			continue
		}
		// "stock" and "Stock" (or "prix" and "price") in one product:
		// which one counts would depend on the order a map is read in.
		if other, ok := seen[key]; ok {
			pair := []string{strconv.Quote(other), strconv.Quote(k)}
			slices.Sort(pair)
			twice = append(twice, strings.Join(pair, " and "))
			continue
		}
		seen[key] = k
		if string(v) != "null" {
			fields[key] = v
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		if !slices.Contains(*ignored, k) {
			*ignored = append(*ignored, k)
		}
	}
	if len(twice) > 0 {
		slices.Sort(twice)
		p.add("%s: the keys %s name the same field: keep one", row.where(), strings.Join(twice, ", "))
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
			share, err := caisse.ParsePercent(s)
			if err != nil {
				p.add("%s: artist_share %s", row.where(), caisse.ErrorMessage(err))
				return false
			}
			row.ArtistShare = &share
		}
	}
	return ok
}
