package caisse_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/caisse/caisse"
)

func TestAdvise(t *testing.T) {
	t.Parallel()
	urlFix := caisse.WithFix(errors.New("CAISSE_SMTP_URL names no host"), "write it as smtp://user:password@host:587")
	tests := []struct {
		name string
		err  error
		want []caisse.Advice
		fix  string
	}{
		{"nil", nil, nil, ""},
		{"no fix", errors.New("the port is not a number"), []caisse.Advice{{Problem: "the port is not a number"}}, ""},
		// A colon in what went wrong is not a fix: only the type says.
		{"a colon is not a fix", errors.New("CAISSE_X: check failed: set up wrong"),
			[]caisse.Advice{{Problem: "CAISSE_X: check failed: set up wrong"}}, ""},
		{"fix", urlFix, []caisse.Advice{{"CAISSE_SMTP_URL names no host", "write it as smtp://user:password@host:587"}},
			"write it as smtp://user:password@host:587"},
		{"wrapped", fmt.Errorf("email: %w", urlFix),
			[]caisse.Advice{{"email: CAISSE_SMTP_URL names no host", "write it as smtp://user:password@host:587"}},
			"write it as smtp://user:password@host:587"},
		{"delivery error", caisse.Permanentf("Sanity does not accept the token (401)").Do("set CAISSE_SANITY_TOKEN"),
			[]caisse.Advice{{"Sanity does not accept the token (401)", "set CAISSE_SANITY_TOKEN"}}, "set CAISSE_SANITY_TOKEN"},
		{"delivery error without a fix", caisse.Retryf("Sanity failed (500): caisse will try again"),
			[]caisse.Advice{{Problem: "Sanity failed (500): caisse will try again"}}, ""},
		{"joined", fmt.Errorf("sanity: %w", errors.Join(
			caisse.WithFix(errors.New("CAISSE_SANITY_TOKEN is empty"), "set it"),
			errors.New("CAISSE_SANITY_DATASET must be a dataset's name"),
			caisse.WithFix(errors.New("CAISSE_SANITY_URL is wrong"), "set it"))),
			[]caisse.Advice{{"sanity: CAISSE_SANITY_TOKEN is empty", "set it"}, {Problem: "sanity: CAISSE_SANITY_DATASET must be a dataset's name"},
				{"sanity: CAISSE_SANITY_URL is wrong", "set it"}},
			"set it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := caisse.Advise(tt.err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Advise = %q, want %q", got, tt.want)
			}
			if got := caisse.Fix(tt.err); got != tt.fix {
				t.Errorf("Fix = %q, want %q", got, tt.fix)
			}
		})
	}
	// The message is whole, for the logs: what went wrong, then what to do.
	if got, want := urlFix.Error(), "CAISSE_SMTP_URL names no host: write it as smtp://user:password@host:587"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
