package catalogue

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/caisse/caisse"
)

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
	if caisse.CurrencyExponent(currency) == 3 && ambiguousComma.MatchString(strings.TrimSpace(text)) {
		// "1,500" is 1.500 in French and 1500 in English.
		return 0, caisse.Errorf(caisse.EINVALID, "%q could be read two ways in %s: write 1.500 for one and a half, or 1500 for fifteen hundred",
			text, strings.ToUpper(currency))
	}
	n, err := caisse.ParseAmount(text, currency)
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
		if n, err2 := caisse.ParseAmount(s, currency); err2 == nil {
			return n, nil
		}
	}
	return 0, err
}

var (
	ambiguousComma = regexp.MustCompile(`^\d{1,3},\d{3}$`)
	grouped        = regexp.MustCompile(`^\d{1,3}([ \x{00a0}\x{202f}'’]\d{3})*([.,]\d+)?$`)
)

// artistEmails reads the artist's addresses of a cell, or of a JSON string
// or list: nil when there are none, so the product keeps its own. Whether
// each is an address, and how many there are, ProductUpdate.Validate
// checks; an address written with a name, as a mail program copies it
// ("Claude Monet <claude@example.com>"), is refused here, where the
// message can say where the name goes.
func artistEmails(values ...string) (*caisse.Addresses, string) {
	for _, v := range values {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			continue
		}
		addr, _, _ := strings.Cut(v[i+1:], ">")
		if addr = strings.TrimSpace(addr); !caisse.ValidEmail(addr) {
			addr = "claude@example.com"
		}
		return nil, fmt.Sprintf("artist_email %q holds a name: write the address alone, such as %s, and the name in artist_name", quoteShort(strings.TrimSpace(v)), addr)
	}
	emails := caisse.ParseAddresses(strings.Join(values, ","))
	if len(emails) == 0 {
		return nil, ""
	}
	return &emails, ""
}

// quoteShort cuts a value quoted in a message to a length a message can
// hold.
func quoteShort(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
