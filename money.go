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
