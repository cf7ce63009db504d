package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// readmeBlocks returns the ```sh blocks of the README's section title.
func readmeBlocks(t *testing.T, title string) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "\n## "+title+"\n")
	if start < 0 {
		t.Fatalf("README.md has no section %q", title)
	}
	section := text[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// The README's "Try it", pasted as written into bash: every line works the
// first time, and every comment is what its line prints. Only the address
// differs (a free port instead of 8080), so the test can run beside a caisse
// on 8080.
func TestReadmeTryIt(t *testing.T) {
	blocks := readmeBlocks(t, "Try it")
	if len(blocks) != 2 || strings.TrimSpace(blocks[0]) != "go build -o caisse ./cmd/caisse" {
		t.Fatalf("the Try it section should build caisse in its first block, then try it in the second: %q", blocks)
	}
	dir := t.TempDir()
	if err := os.Link(caisseBinary(t), filepath.Join(dir, "caisse")); err != nil {
		t.Fatal(err)
	}

	// What each comment claims, checked against its line's output.
	claims := map[string]func(out string) error{
		"listens on 127.0.0.1:8080; creates and migrates caisse.db": func(string) error {
			// The lines after it depend on it; they would fail without.
			return nil
		},
		"new: Print #1, price 900.00 EUR, stock 1": contains("new: Print #1, price 900.00 EUR, stock 1"),
		"o1: pending → paid · print-1 stock 1 → 0": contains("o1: pending → paid · print-1 stock 1 → 0"),
		"status paid, with its timeline": func(out string) error {
			if !regexp.MustCompile(`(?m)^status\s+paid$`).MatchString(out) || !strings.Contains(out, "TIMELINE") ||
				!strings.Contains(out, "checkout.session.completed") {
				return fmt.Errorf("no paid status with its timeline")
			}
			return nil
		},
		"print-1: stock 0": stockIs("print-1", "0"),
		"o1: paid → refunded · print-1 stock 0 → 1": contains("o1: paid → refunded · print-1 stock 0 → 1"),
		"print-1: stock 1 again":                    stockIs("print-1", "1"),
		`the order as JSON: "status":"refunded"`: func(out string) error {
			var o struct{ ID, Status string }
			if err := json.Unmarshal([]byte(out), &o); err != nil || o.ID != "o1" || o.Status != "refunded" {
				return fmt.Errorf("not order o1 refunded as JSON (%v)", err)
			}
			return nil
		},
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()

	// Each line runs after a marker, so its output can be told apart.
	var script strings.Builder
	script.WriteString("set -e\n")
	var lines, comments []string
	for _, line := range strings.Split(strings.TrimSpace(blocks[1]), "\n") {
		cmd, comment, _ := strings.Cut(line, "  # ")
		cmd, comment = strings.TrimSpace(cmd), strings.TrimSpace(comment)
		if comment != "" && claims[comment] == nil {
			t.Errorf("the README's comment %q is checked by no test: add it to TestReadmeTryIt", comment)
		}
		fmt.Fprintf(&script, "echo '@@%d'\n%s\n", len(lines), strings.ReplaceAll(cmd, "localhost:8080", "localhost:"+port))
		lines, comments = append(lines, cmd), append(comments, comment)
	}
	script.WriteString("echo '@@end'\n")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "-c", script.String())
	sh.Dir = dir
	sh.Env = append(os.Environ(), "CAISSE_ADDR=127.0.0.1:"+port, "CAISSE_DATABASE_URL=", "CAISSE_TEST_POSTGRES_URL=")
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A file, not a pipe: caisse serve, left running in the background as
	// the reader's would be, keeps the output open after bash exits.
	outFile, err := os.Create(filepath.Join(t.TempDir(), "output"))
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	sh.Stdout, sh.Stderr = outFile, outFile
	sh.Cancel = func() error { return syscall.Kill(-sh.Process.Pid, syscall.SIGKILL) }
	err = sh.Run()
	_ = syscall.Kill(-sh.Process.Pid, syscall.SIGTERM)
	output, _ := os.ReadFile(outFile.Name())
	out := bytes.NewBuffer(output)
	log, _ := os.ReadFile(filepath.Join(dir, "caisse.log"))
	if err != nil {
		t.Fatalf("the Try it block failed: %v\n%s\ncaisse.log:\n%s", err, out.String(), log)
	}
	outputs := strings.Split(out.String(), "@@")
	for _, part := range outputs[1:] {
		n, text, _ := strings.Cut(part, "\n")
		if n == "end" {
			continue
		}
		var i int
		fmt.Sscan(n, &i)
		if check := claims[comments[i]]; check != nil {
			if err := check(text); err != nil {
				t.Errorf("%s\n  claims %q, but: %v. It printed:\n%s", lines[i], comments[i], err, text)
			}
		}
	}
	t.Logf("the block printed:\n%s", out.String())
	if !strings.Contains(out.String(), "@@end") {
		t.Fatalf("the block stopped early:\n%s", out.String())
	}
}

var built struct {
	sync.Once
	path string
	err  error
	out  []byte
}

// caisseBinary builds the caisse command once for the tests that run it as
// a user does, and returns its path.
func caisseBinary(t *testing.T) string {
	t.Helper()
	built.Do(func() {
		dir, err := os.MkdirTemp("", "caisse-bin")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "caisse")
		built.out, built.err = exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.path
}

func contains(want string) func(string) error {
	return func(out string) error {
		if !strings.Contains(out, want) {
			return fmt.Errorf("it does not say %q", want)
		}
		return nil
	}
}

// stockIs checks the STOCK column of a product in `caisse products list`,
// read where the header puts it (the table's columns are aligned, and
// NAME, PRICE and ARTIST may hold spaces or be empty).
func stockIs(product, stock string) func(string) error {
	return func(out string) error {
		lines := strings.Split(out, "\n")
		at := strings.Index(lines[0], "STOCK")
		if at < 0 {
			return fmt.Errorf("no STOCK column")
		}
		col := utf8.RuneCountInString(lines[0][:at])
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) == 0 || f[0] != product {
				continue
			}
			r := []rune(l)
			if len(r) <= col {
				return fmt.Errorf("no stock")
			}
			if got := strings.Fields(string(r[col:])); len(got) == 0 || got[0] != stock {
				return fmt.Errorf("stock %v", got)
			}
			return nil
		}
		return fmt.Errorf("no row for %s", product)
	}
}

// On a terminal a long import says how far it got, on one line it
// rewrites; in a pipe or a log it says nothing of the kind.
func TestImportShowsProgressOnATerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("needs script(1), from util-linux, to give the command a terminal")
	}
	bin, dir := caisseBinary(t), t.TempDir()
	env := append(os.Environ(), "CAISSE_DATABASE_URL=sqlite:"+filepath.Join(dir, "caisse.db"))
	migrate := exec.Command(bin, "migrate")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	var csv strings.Builder
	csv.WriteString("id,name,price,currency,stock\n")
	for i := range 250 {
		fmt.Fprintf(&csv, "p%d,Product %d,10.00,eur,1\n", i, i)
	}
	file := filepath.Join(dir, "catalogue.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	onTerminal := exec.Command("script", "-qec", bin+" products import --set-stock "+file, "/dev/null")
	onTerminal.Env = env
	out, err := onTerminal.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\r\x1b[Kimported 200 of 250 products") || !strings.Contains(string(out), "imported 250 of 250 products") {
		t.Fatalf("on a terminal: %v\n%q", err, out[max(0, len(out)-400):])
	}
	inPipe := exec.Command(bin, "products", "import", "--set-stock", file)
	inPipe.Env = env
	out, err = inPipe.CombinedOutput()
	if err != nil || strings.Contains(string(out), " of 250 products") {
		t.Fatalf("in a pipe: %v\n%s", err, out)
	}
}
