package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// restart stops caisse and starts it again on the same database, its
// configuration changed by edit, as an owner restarting the service would.
func (a *app) restart(t *testing.T, edit ...func(env map[string]string)) *app {
	t.Helper()
	if err := a.p.Close(); err != nil {
		t.Fatalf("stopping caisse: %v", err)
	}
	a.p = &Program{} // what the first setup's cleanup closes now: nothing
	return a.another(t, edit...)
}

// another starts another caisse on the same database, as a second instance.
func (a *app) another(t *testing.T, edit ...func(env map[string]string)) *app {
	t.Helper()
	same := func(env map[string]string) { env["CAISSE_DATABASE_URL"] = a.env["CAISSE_DATABASE_URL"] }
	return setup(t, a.db, append([]func(map[string]string){same}, edit...)...)
}

// pageWith asks for an admin page with a session cookie and returns the
// status.
func pageWith(t *testing.T, a *app, cookie *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.url+"/admin/orders", nil)
	req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Sessions live in the database: a sign-out ends a session for every
// instance and after a restart, and a session opened with an admin token
// ends when caisse restarts with another.
func TestAdminSessionsAcrossInstancesAndRestarts(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		b := a.another(t)
		_, cookie := signedInClient(t, a)
		if status := pageWith(t, a, cookie); status != http.StatusOK {
			t.Fatalf("a fresh session answered %d on the instance that opened it", status)
		}
		if status := pageWith(t, b, cookie); status != http.StatusOK {
			t.Fatalf("a fresh session answered %d on another instance", status)
		}

		// A cookie of the former signed format ("id.expiry.signature"), or
		// any value that is not a session's secret, opens nothing.
		for _, v := range []string{"0123456789abcdef0123456789abcdef.4102444800.c2lnbmF0dXJl", "x", cookie.Value + "A"} {
			if status := pageWith(t, a, &http.Cookie{Name: cookie.Name, Value: v}); status != http.StatusUnauthorized {
				t.Errorf("the cookie %q answered %d, want 401", v, status)
			}
		}

		// The database holds only digests: neither the cookie's secret
		// nor the admin token.
		var id, digest string
		if err := a.raw().QueryRowContext(context.Background(), `SELECT id, token_digest FROM admin_sessions`).Scan(&id, &digest); err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{id, digest} {
			if strings.Contains(v, cookie.Value) || strings.Contains(v, testToken) {
				t.Fatalf("the sessions table holds the cookie's secret or the admin token: %q", v)
			}
		}

		// Sign out on a: b refuses the copy of the cookie, and so does a
		// once restarted.
		req, _ := http.NewRequest(http.MethodPost, a.url+"/admin/signout", nil)
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-out answered %d", resp.StatusCode)
		}
		if status := pageWith(t, b, cookie); status != http.StatusUnauthorized {
			t.Fatalf("a signed-out session answered %d on another instance, want 401", status)
		}
		a = a.restart(t)
		if status := pageWith(t, a, cookie); status != http.StatusUnauthorized {
			t.Fatalf("a signed-out session answered %d after a restart, want 401", status)
		}

		// A session still open survives a restart with the same token, and
		// ends with a restart on another token.
		_, kept := signedInClient(t, a)
		a = a.restart(t)
		if status := pageWith(t, a, kept); status != http.StatusOK {
			t.Fatalf("an open session answered %d after a restart with the same token, want 200", status)
		}
		const newToken = "a-new-admin-token-9876543210-xyz"
		a = a.restart(t, func(env map[string]string) { env["CAISSE_ADMIN_TOKEN"] = newToken })
		if status := pageWith(t, a, kept); status != http.StatusUnauthorized {
			t.Fatalf("a session of the old admin token answered %d after a restart with a new one, want 401", status)
		}
		if status := pageWith(t, b, kept); status != http.StatusOK {
			t.Fatalf("the instance still on the old token refused its session (%d)", status)
		}
	})
}
