package stripemock

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestStart(t *testing.T) {
	t.Parallel()
	base := Start(t)
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("stripe-mock at %s, want it on 127.0.0.1 only", base)
	}
	if again := Start(t); again != base {
		t.Errorf("second Start gave %s, want the shared %s", again, base)
	}
	for _, tc := range []struct {
		name string
		auth string
		want int
	}{
		{"test key", "Bearer " + TestKey, http.StatusOK},
		{"no key", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/v1/webhook_endpoints", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Errorf("GET /v1/webhook_endpoints: %s, want %d", res.Status, tc.want)
			}
		})
	}
}

// TestFind changes PATH, so it cannot run in parallel: with nothing but the
// go command on PATH (no stripe-mock installed), the pinned tool is built.
func TestFind(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	if goCmd, err = filepath.Abs(goCmd); err != nil {
		t.Fatal(err)
	}
	pathDir := t.TempDir()
	if err := os.Symlink(goCmd, filepath.Join(pathDir, "go")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", pathDir)
	got, err := find()
	if err != nil {
		t.Fatalf("find() = %v, want the stripe-mock pinned in go.mod", err)
	}
	if info, err := os.Stat(got); err != nil || info.Mode()&0o111 == 0 || filepath.Base(got) != "stripe-mock" {
		t.Fatalf("find() = %q (%v), want an executable stripe-mock", got, err)
	}
}
