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

// TestFind changes PATH and GOPATH, so it cannot run in parallel.
func TestFind(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	if goCmd, err = filepath.Abs(goCmd); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		installed bool
	}{
		{"installed in GOPATH/bin", true},
		{"not installed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// PATH holds only the go command, so the lookup must go through
			// `go env GOPATH`.
			pathDir := t.TempDir()
			if err := os.Symlink(goCmd, filepath.Join(pathDir, "go")); err != nil {
				t.Fatal(err)
			}
			gopath := t.TempDir()
			t.Setenv("PATH", pathDir)
			t.Setenv("GOPATH", gopath)
			t.Setenv("GOBIN", "")
			t.Setenv("GOENV", "off")
			want := filepath.Join(gopath, "bin", "stripe-mock")
			if tc.installed {
				if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			got, err := find()
			switch {
			case tc.installed && (err != nil || got != want):
				t.Errorf("find() = %q, %v; want %q", got, err, want)
			case !tc.installed && (err == nil || !strings.Contains(err.Error(), InstallCommand)):
				t.Errorf("find() = %q, %v; want an error naming %q", got, err, InstallCommand)
			}
		})
	}
}
