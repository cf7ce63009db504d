package caisse

import (
	"strconv"
	"strings"
)

// MaxAmount is the largest amount caisse takes from Stripe, in a currency's
// smallest unit: twelve digits, more than Stripe charges in any currency. A
// signed event with a larger (or negative) amount makes no sense and is
// refused rather than applied, so sums of amounts can never overflow.
const MaxAmount = 999_999_999_999

// CurrencyExponent returns how many decimals a currency's amounts have in
// Stripe's API: 0 for zero-decimal currencies such as JPY, 3 for BHD, JOD,
// KWD, OMR and TND, 2 for the others.
func CurrencyExponent(currency string) int {
	switch strings.ToLower(currency) {
	case "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf":
		return 0
	case "bhd", "jod", "kwd", "omr", "tnd":
		return 3
	}
	return 2
}

// FormatAmount writes an amount in a currency's smallest unit as people read
// it: FormatAmount(1500, "eur") is "15.00 EUR", FormatAmount(5000, "jpy") is
// "5000 JPY". Without a currency, the bare number.
func FormatAmount(amount int64, currency string) string {
	if currency == "" {
		return strconv.FormatInt(amount, 10)
	}
	sign := ""
	u := uint64(amount)
	if amount < 0 {
		sign, u = "-", uint64(-amount)
	}
	digits := strconv.FormatUint(u, 10)
	if exp := CurrencyExponent(currency); exp > 0 {
		if len(digits) <= exp {
			digits = strings.Repeat("0", exp-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-exp] + "." + digits[len(digits)-exp:]
	}
	return sign + digits + " " + strings.ToUpper(currency)
}

// ParseAmount reads an amount as people write it in a currency's units
// ("15.00" or "15" EUR is 1500; "5000" JPY is 5000) into the currency's
// smallest unit. It refuses more decimals than the currency has, a
// negative amount, and one over MaxAmount.
func ParseAmount(s, currency string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, hasDot := strings.Cut(s, ".")
	if !hasDot {
		whole, frac, hasDot = strings.Cut(s, ",")
	}
	exp := CurrencyExponent(currency)
	unit := strings.ToUpper(currency)
	bad := func() (int64, error) {
		if exp == 0 {
			return 0, Errorf(EINVALID, "%q is not an amount of %s: write a whole number such as 5000 (%s has no decimals)", s, unit, unit)
		}
		return 0, Errorf(EINVALID, "%q is not an amount of %s: write it in %s such as 15 or 15.%s (at most %d decimals)",
			s, unit, unit, strings.Repeat("0", exp), exp)
	}
	digits := func(v string) bool {
		for _, c := range v {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	if whole == "" || !digits(whole) || !digits(frac) || len(frac) > exp || (hasDot && frac == "") || len(whole) > 15 {
		return bad()
	}
	frac += strings.Repeat("0", exp-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n > MaxAmount {
		return 0, Errorf(EINVALID, "%s %s is more than caisse takes (at most %s)", s, unit, FormatAmount(MaxAmount, currency))
	}
	return n, nil
}
