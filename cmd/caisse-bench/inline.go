package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caisse/caisse/internal/scenario"
)

// countStatements is the script node loads before the inline handler to
// count the SQL statements it runs.
//
//go:embed countstatements.js
var countStatements []byte

// countStatementsFile is its name in the handler's folder.
const countStatementsFile = "caisse-bench-count-statements.js"

// prepareInlineNode returns a folder holding a copy of the inline handler in
// src with its dependencies installed, ready for `node server.js`. The copy
// is kept under the OS temp folder, named by a digest of the handler's
// files, so npm install runs once per version of the handler.
func prepareInlineNode(ctx context.Context, src string, logs io.Writer) (string, error) {
	files := map[string][]byte{countStatementsFile: countStatements}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		files[rel], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("error reading the inline handler in %s: %w", src, err)
	}
	if _, ok := files["server.js"]; !ok {
		return "", fmt.Errorf("--inline-node %s: no server.js there; pass the inline handler's folder", src)
	}
	if _, ok := files["package.json"]; !ok {
		return "", fmt.Errorf("--inline-node %s: no package.json there; pass the inline handler's folder", src)
	}
	sum := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(sum, "%s\x00%d\x00", name, len(files[name]))
		sum.Write(files[name])
	}
	dir := filepath.Join(os.TempDir(), "caisse-bench-inline-node-"+hex.EncodeToString(sum.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
		return dir, nil
	}

	build, err := os.MkdirTemp(os.TempDir(), "caisse-bench-inline-node-install-")
	if err != nil {
		return "", fmt.Errorf("error making a folder for the inline handler: %w", err)
	}
	defer os.RemoveAll(build) // gone once renamed
	for name, b := range files {
		path := filepath.Join(build, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", fmt.Errorf("error copying the inline handler: %w", err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return "", fmt.Errorf("error copying the inline handler: %w", err)
		}
	}
	fmt.Fprintf(logs, "inline-node: npm install in %s (once; kept as %s)\n", build, dir)
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund")
	cmd.Dir, cmd.Stdout, cmd.Stderr = build, logs, logs
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("error installing the inline handler's dependencies with npm install (are npm and the npm registry reachable?): %w", err)
	}
	// Another caisse-bench may have installed the same handler meanwhile:
	// either copy will do.
	if err := os.Rename(build, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "node_modules")); serr != nil {
			return "", fmt.Errorf("error keeping the installed inline handler: %w", err)
		}
	}
	return dir, nil
}

// inlineNode is the inline handler, running.
type inlineNode struct {
	cmd    *exec.Cmd
	url    string
	dbURL  string // its database, with the bench's own application_name
	app    string // the application_name of its connections
	exit   chan error
	logs   *logTail
	mu     sync.Mutex
	stdin  io.WriteCloser
	counts *bufio.Scanner
}

// inlineStartTimeout is how long the inline handler may take to answer
// /readyz.
const inlineStartTimeout = 60 * time.Second

// startInlineNode creates a fresh PostgreSQL database on the server at
// pgURL through admin, and starts the inline handler installed in dir on it,
// checking signatures with secret. It returns once the handler answers
// /readyz. stop ends it and drops its database.
func startInlineNode(ctx context.Context, dir, pgURL string, admin *sql.DB, secret string) (n *inlineNode, stop func(), err error) {
	var cleanups []func()
	stop = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	u, err := url.Parse(pgURL)
	if err != nil {
		// The parser's message quotes the URL, password and all: leave it out.
		return nil, stop, fmt.Errorf("--postgres-url is not a valid URL; write it as postgres://user:password@host:5432/database")
	}
	name := "caisse_bench_inline_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return nil, stop, fmt.Errorf("error creating a database for the inline handler on PostgreSQL at %s (the --postgres-url user needs CREATEDB): %w", u.Redacted(), err)
	}
	cleanups = append(cleanups, func() { dropDatabase(admin, name) })

	u.Path = "/" + name
	q := u.Query()
	q.Set("application_name", "caisse-bench")
	u.RawQuery = q.Encode()
	n = &inlineNode{dbURL: u.String(), app: "caisse-bench-inline-" + randomHex(4), exit: make(chan error, 1), logs: &logTail{}}
	q.Set("application_name", n.app)
	u.RawQuery = q.Encode()

	port, err := freePort()
	if err != nil {
		return nil, stop, err
	}
	n.url = "http://127.0.0.1:" + strconv.Itoa(port)
	n.cmd = exec.Command("node", "--require", "./"+countStatementsFile, "server.js")
	n.cmd.Dir = dir
	n.cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "DATABASE_URL="+u.String(), "STRIPE_WEBHOOK_SECRET="+secret)
	n.cmd.Stderr = n.logs
	if n.stdin, err = n.cmd.StdinPipe(); err != nil {
		return nil, stop, fmt.Errorf("error starting the inline handler: %w", err)
	}
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		return nil, stop, fmt.Errorf("error starting the inline handler: %w", err)
	}
	n.counts = bufio.NewScanner(stdout)
	if err := n.cmd.Start(); err != nil {
		return nil, stop, fmt.Errorf("error starting the inline handler with node (is node installed?): %w", err)
	}
	go func() { n.exit <- n.cmd.Wait() }()
	cleanups = append(cleanups, func() {
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exit:
		case <-time.After(15 * time.Second):
			n.cmd.Process.Kill()
			<-n.exit
		}
	})

	deadline := time.After(inlineStartTimeout)
	for {
		res, err := http.Get(n.url + "/readyz")
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return n, stop, nil
			}
		}
		select {
		case err := <-n.exit:
			n.exit <- err
			return nil, stop, fmt.Errorf("the inline handler exited before answering /readyz: %v; its last log lines:\n%s", err, n.logs)
		case <-deadline:
			return nil, stop, fmt.Errorf("the inline handler did not answer /readyz within %s; its last log lines:\n%s", inlineStartTimeout, n.logs)
		case <-ctx.Done():
			return nil, stop, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// putProducts gives the inline handler's database the scenario's products,
// so that its stock updates find their rows as caisse's do.
func (n *inlineNode) putProducts(ctx context.Context, products []scenario.Product) error {
	db, err := sql.Open("pgx", n.dbURL)
	if err != nil {
		return fmt.Errorf("error connecting to the inline handler's database: %w", err)
	}
	defer db.Close()
	for _, p := range products {
		if _, err := db.ExecContext(ctx, `INSERT INTO products (id, stock) VALUES ($1, $2)`, p.ID, p.Stock); err != nil {
			return fmt.Errorf("error creating product %s for the inline handler: %w", p.ID, err)
		}
	}
	return nil
}

// statements returns how many SQL statements the handler has run so far.
func (n *inlineNode) statements() (float64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := io.WriteString(n.stdin, "\n"); err != nil {
		return 0, fmt.Errorf("error asking the inline handler for its statement count: %w", err)
	}
	if !n.counts.Scan() {
		return 0, fmt.Errorf("error reading the inline handler's statement count: %v", errors.Join(n.counts.Err(), io.ErrUnexpectedEOF))
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(n.counts.Text()), 64)
	if err != nil {
		return 0, fmt.Errorf("error reading the inline handler's statement count: %w", err)
	}
	return v, nil
}

// dropDatabase drops a database the bench created, once its last
// connections have gone.
func dropDatabase(admin *sql.DB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// WITH (FORCE) ends connections still open (PostgreSQL 13 and later);
	// older servers refuse the option, and get a few tries.
	if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err == nil {
		return
	}
	for range 10 {
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("error finding a free port for the inline handler: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
