package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/caisse/caisse/stripe"
)

// run runs caisse with no configuration but the environment given, and
// returns its exit status, stdout and stderr.
func runCaisse(env map[string]string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }}
	code := m.Run(context.Background(), args)
	return code, out.String(), errOut.String()
}

// Every command and subcommand answers --help on stdout, with its flags
// and an example, and exits 0; a group without a known subcommand lists
// them.
func TestEveryCommandHasHelp(t *testing.T) {
	env := map[string]string{}
	names := []string{}
	for name := range helps {
		names = append(names, name)
	}
	for group, subs := range groups {
		for _, s := range subs {
			if _, ok := helps[group+" "+s[0]]; !ok {
				t.Errorf("caisse %s %s has no help", group, s[0])
			}
		}
		code, out, _ := runCaisse(env, group, "--help")
		if code != 0 || !strings.Contains(out, "usage: caisse "+group+" COMMAND") {
			t.Errorf("caisse %s --help exited %d:\n%s", group, code, out)
		}
		for _, s := range subs {
			if !strings.Contains(out, s[0]) {
				t.Errorf("caisse %s --help does not list %s", group, s[0])
			}
		}
		if code, _, errOut := runCaisse(env, group, "nope"); code != 2 || !strings.Contains(errOut, `unknown command "nope"`) {
			t.Errorf("caisse %s nope exited %d: %s", group, code, errOut)
		}
	}
	for _, name := range names {
		args := append(strings.Fields(name), "--help")
		code, out, errOut := runCaisse(env, args...)
		if code != 0 || !strings.Contains(out, "usage: caisse "+name) || !strings.Contains(out, "flags:") ||
			!strings.Contains(out, "examples:\n  caisse") && !strings.Contains(out, "examples:\n  ") {
			t.Errorf("caisse %s --help exited %d:\n%s%s", name, code, out, errOut)
		}
	}
	// A mistaken flag says so, names the flags the command takes, shows
	// the help on stderr and exits 2.
	if code, _, errOut := runCaisse(env, "orders", "list", "--colour", "red"); code != 2 ||
		!strings.Contains(errOut, "caisse orders list: unknown flag --colour: caisse orders list takes --all, --json, --limit, --starting-after, --status and --to-ship\n") ||
		!strings.Contains(errOut, "usage: caisse orders list") {
		t.Errorf("a mistaken flag exited %d: %s", code, errOut)
	}
	// The top-level usage names every command that has help.
	_, out, _ := runCaisse(env, "--help")
	for _, name := range names {
		if !strings.Contains(out, "caisse "+strings.Fields(name)[0]) {
			t.Errorf("caisse --help does not name %s", name)
		}
	}
}

// Each subcommand owns its flags: its --help lists only those, and a flag
// of another subcommand is refused, saying whose it is and which flags the
// command takes, before anything is read or written.
func TestSubcommandFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{"CAISSE_DATABASE_URL": "sqlite:" + t.TempDir() + "/none.db"}
	flagsOf := func(help string) []string {
		_, list, _ := strings.Cut(help, "\nflags:\n")
		list, _, _ = strings.Cut(list, "\nexamples:")
		var names []string
		for _, l := range strings.Split(list, "\n") {
			if f, ok := strings.CutPrefix(strings.TrimSpace(l), "-"); ok && !strings.HasPrefix(l, "    \t") {
				names = append(names, strings.Fields(f)[0])
			}
		}
		return names
	}
	for _, tc := range []struct {
		command string
		flags   string
	}{
		{"products list", "json"},
		{"products import", "dry-run force json set-stock"},
		{"products sync-cms", "all json"},
		{"orders list", "all json limit starting-after status to-ship"},
		{"orders show", "json"},
		{"orders ship", "carrier json tracking tracking-url"},
		{"events list", "all json limit starting-after status type"},
		{"events show", "json"},
		{"events replay", "failed json"},
		{"outbox list", "all channel json limit order starting-after status"},
		{"outbox retry", "failed json"},
	} {
		code, out, errOut := runCaisse(env, append(strings.Fields(tc.command), "--help")...)
		if got := strings.Join(flagsOf(out), " "); code != 0 || got != tc.flags {
			t.Errorf("caisse %s --help exited %d, listing the flags %q, want %q:\n%s%s", tc.command, code, got, tc.flags, out, errOut)
		}
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"products", "list", "--set-stock"},
			"caisse products list: --set-stock is a flag of caisse products import, not of caisse products list: caisse products list takes --json\n"},
		{[]string{"products", "import", "--all", "catalogue.csv"},
			"caisse products import: --all is a flag of caisse products sync-cms, not of caisse products import: caisse products import takes --dry-run, --force, --json and --set-stock\n"},
		{[]string{"events", "show", "evt_1", "--failed"},
			"caisse events show: --failed is a flag of caisse events replay, not of caisse events show: caisse events show takes --json\n"},
		{[]string{"orders", "show", "o1", "--status", "paid"},
			"caisse orders show: --status is a flag of caisse orders list, not of caisse orders show: caisse orders show takes --json\n"},
		{[]string{"outbox", "retry", "--channel", "email"},
			"caisse outbox retry: --channel is a flag of caisse outbox list, not of caisse outbox retry: caisse outbox retry takes --failed and --json\n"},
	} {
		code, out, errOut := runCaisse(env, tc.args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, tc.says) || !strings.Contains(errOut, "usage: caisse "+tc.args[0]+" "+tc.args[1]) {
			t.Errorf("caisse %s exited %d:\n%s%s\nwant it refused, saying\n%s", strings.Join(tc.args, " "), code, out, errOut, tc.says)
		}
		if strings.Contains(errOut, "no database") || strings.Contains(errOut, "waiting for the database") {
			t.Errorf("caisse %s looked for the database before refusing its flags:\n%s", strings.Join(tc.args, " "), errOut)
		}
	}
}

// Lists say how many more there are and how to see them.
func TestListsPage(t *testing.T) {
	a := setup(t, sqliteDB)
	var ids []string
	for i := range 5 {
		ids = append(ids, a.send(stripe.Example{Type: "checkout.session.expired", OrderID: fmt.Sprintf("o%d", i)}))
	}
	a.wait(ids...)
	code, out, errOut := runCaisse(a.env, "orders", "list", "--limit", "2")
	if code != 0 || strings.Count(out, "\no") != 2 || !strings.Contains(errOut, "3 more orders — use --starting-after o3 for the next page, or --all") {
		t.Fatalf("orders list --limit 2 exited %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCaisse(a.env, "orders", "list", "--limit", "2", "--starting-after", "o3")
	if code != 0 || !strings.Contains(out, "o2") || !strings.Contains(out, "o1") || strings.Contains(out, "o3") ||
		!strings.Contains(errOut, "1 more order — use --starting-after o1") {
		t.Fatalf("the next page exited %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCaisse(a.env, "orders", "list", "--all", "--json")
	if code != 0 || strings.Count(out, `"id": "o`) != 5 || errOut != "" {
		t.Fatalf("orders list --all --json exited %d:\n%s%s", code, out, errOut)
	}
	if code, out, errOut = runCaisse(a.env, "events", "list", "--limit", "4"); code != 0 || !strings.Contains(errOut, "1 more event —") {
		t.Fatalf("events list --limit 4 exited %d:\n%s%s", code, out, errOut)
	}
	if code, _, errOut = runCaisse(a.env, "orders", "list", "--status", "banana"); code != 1 ||
		!strings.Contains(errOut, "oversold") || !strings.Contains(errOut, "payment_mismatch") || !strings.Contains(errOut, "refunded") {
		t.Fatalf("a wrong status exited %d: %s", code, errOut)
	}
	if code, out, errOut = runCaisse(a.env, "orders", "list", "--status", "oversold"); code != 0 {
		t.Fatalf("orders list --status oversold exited %d: %s%s", code, out, errOut)
	}
}
