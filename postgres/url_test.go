package postgres

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"postgres://db.internal:5432/shop?sslmode=require", "postgres://db.internal:5432/shop?sslmode=require"},
		{"postgres://caisse:s3cret@db:5432/shop", "postgres://caisse:…@db:5432/shop"},
		{"postgresql://caisse@db/shop", "postgresql://caisse@db/shop"},
		{"postgres://db/shop?user=u&password=s3cret", "postgres://db/shop?user=u&password=…"},
		{"postgres://db/shop?PassWord=s3cret&sslmode=verify-full", "postgres://db/shop?PassWord=…&sslmode=verify-full"},
		{"postgres://db/shop?sslpassword=s3cret", "postgres://db/shop?sslpassword=…"},
		{"postgres://db/shop?SSLPASSWORD=s3cret&password=s3cret", "postgres://db/shop?SSLPASSWORD=…&password=…"},
		{"postgres://db/shop?pass%77ord=s3cret", "postgres://db/shop?pass%77ord=…"},
		{"postgres://db/shop?%zz=s3cret", "postgres://db/shop?%zz=…"},
		{"postgres://u:s3cret@db/shop?password=s3cret#s3cret", "postgres://u:…@db/shop?password=…"},
		{"postgres://u:s3%zzcret@db/shop", "postgres://…"},
		{"postgres://u:12#s3cret@db/shop", "postgres://…"},
		{"postgres://u:12?s3cret@db/shop", "postgres://…"},
		{"postgres://u:p@s3/cret@db/shop", "postgres://…"},
		{"postgres://u:p@s3cret@db/shop", "postgres://u:…@db/shop"},
		{"s3cret", "(a database URL that does not parse)"},
		{"postgres://h1:5432,h2:5432/shop?password=s3cret", "postgres://h1:5432,h2:5432/shop?password=…"},
	} {
		got := RedactURL(c.in)
		if got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.Contains(got, "s3") {
			t.Errorf("RedactURL(%q) = %q shows part of the password", c.in, got)
		}
	}
}
