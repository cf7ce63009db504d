package caisse

import (
	"math"
	"strings"
	"testing"
)

func TestFormatAmount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount   int64
		currency string
		want     string
	}{
		{1500, "eur", "15.00 EUR"},
		{5, "eur", "0.05 EUR"},
		{0, "usd", "0.00 USD"},
		{5000, "jpy", "5000 JPY"},
		{5000, "JPY", "5000 JPY"},
		{1234, "krw", "1234 KRW"},
		{1500, "kwd", "1.500 KWD"},
		{7, "bhd", "0.007 BHD"},
		{-250, "eur", "-2.50 EUR"},
		{math.MinInt64, "eur", "-92233720368547758.08 EUR"},
		{42, "", "42"},
	}
	for _, tt := range tests {
		if got := FormatAmount(tt.amount, tt.currency); got != tt.want {
			t.Errorf("FormatAmount(%d, %q) = %q, want %q", tt.amount, tt.currency, got, tt.want)
		}
	}
}

// The rules' arithmetic on amounts never wraps around.
func TestAmountsSaturate(t *testing.T) {
	t.Parallel()
	if got := addSaturating(math.MaxInt64, math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("addSaturating(max, max) = %d", got)
	}
	if got := addSaturating(1, 2); got != 3 {
		t.Errorf("addSaturating(1, 2) = %d", got)
	}
	for _, tt := range []struct{ amount, part, whole, want int64 }{
		{5000, 2700, 5400, 2500},
		{5000, 5400, 5400, 5000},
		{5000, 9000, 5400, 5000},
		{MaxAmount, MaxAmount - 1, MaxAmount, MaxAmount - 1},
		{5000, 1, 0, 0},
	} {
		if got := shareOf(tt.amount, tt.part, tt.whole); got != tt.want {
			t.Errorf("shareOf(%d, %d, %d) = %d, want %d", tt.amount, tt.part, tt.whole, got, tt.want)
		}
	}
}

func TestParseAmount(t *testing.T) {
	for _, c := range []struct {
		in, currency string
		want         int64
	}{
		{"15.00", "eur", 1500}, {"15", "eur", 1500}, {"15.5", "eur", 1550}, {"0.07", "EUR", 7}, {"15,50", "eur", 1550},
		{"5000", "jpy", 5000}, {"1.234", "kwd", 1234}, {" 3 ", "usd", 300},
	} {
		got, err := ParseAmount(c.in, c.currency)
		if err != nil || got != c.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d", c.in, c.currency, got, err, c.want)
		}
		if back := FormatAmount(got, c.currency); c.currency != "" && err == nil {
			if again, err := ParseAmount(strings.Fields(back)[0], c.currency); err != nil || again != got {
				t.Errorf("%s does not read back: %d, %v", back, again, err)
			}
		}
	}
	for _, c := range []struct{ in, currency string }{
		{"15.001", "eur"}, {"50.00", "jpy"}, {"-3", "eur"}, {"", "eur"}, {"1e3", "eur"}, {"15.", "eur"}, {".5", "eur"},
		{"9999999999999", "eur"}, {"12345678901234567890", "eur"}, {"abc", "usd"},
	} {
		if got, err := ParseAmount(c.in, c.currency); err == nil || ErrorCode(err) != EINVALID {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want an invalid-amount error", c.in, c.currency, got, err)
		}
	}
}
