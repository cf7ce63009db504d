// Package smtptest runs a real SMTP server in-process, and parses the emails
// it receives, for caisse's tests.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// Server is a real SMTP server in the test process that records what it is
// sent.
type Server struct {
	addr string // host:port, on the loopback interface
	opts Options

	mu       sync.Mutex
	messages []Message
	auths    []string // the user names of every AUTH attempt, accepted or not
}

// Options say how a test server behaves.
type Options struct {
	// TLS offers STARTTLS with the test certificate.
	TLS bool
	// ImplicitTLS speaks TLS from the first byte, as on port 465.
	ImplicitTLS bool
	// User and Password, when set, are required (AUTH PLAIN) before MAIL.
	User, Password string
	// RcptReply, when set, is the answer to every RCPT TO.
	RcptReply *gosmtp.SMTPError
	// Hold, when set, holds the answer to each message's DATA until it is
	// closed: the message is recorded, and the client still waits, as when
	// the sender dies between sending and hearing back.
	Hold chan struct{}
	// Delay, when set, is how long the server takes to answer each
	// message's DATA once it has it, as a slow mail server does.
	Delay time.Duration
}

// Message is one message as the server took it.
type Message struct {
	// From and To are the envelope.
	From string
	To   []string
	// Data is the message as sent, headers and body.
	Data []byte
	// TLS says whether the connection was encrypted when the message came.
	TLS bool
	// User is the user name the client signed in with, if it did.
	User string
}

// Start starts a server on 127.0.0.1, stopped when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("error listening: %v", err)
	}
	s := &Server{opts: opts, addr: l.Addr().String()}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &session{server: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if opts.TLS || opts.ImplicitTLS {
		srv.TLSConfig = testCertificate().server
	}
	if opts.ImplicitTLS {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	go srv.Serve(l) //nolint:errcheck // returns when the server is closed
	t.Cleanup(func() { srv.Close() })
	return s
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// URL returns a URL for the server with the given scheme (smtp or smtps),
// with credentials when user is not empty. user and password are written as
// given, so special characters must already be percent-encoded.
func (s *Server) URL(scheme, user, password string) string {
	u := scheme + "://"
	if user != "" {
		u += user + ":" + password + "@"
	}
	return u + s.addr
}

// Messages returns the messages received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Auths returns the user names of the AUTH attempts so far, accepted or not.
func (s *Server) Auths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...)
}

// Only returns the one message received, failing the test otherwise.
func (s *Server) Only(t testing.TB) Message {
	t.Helper()
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("the server received %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

// session is one SMTP connection to a Server.
type session struct {
	server *Server
	conn   *gosmtp.Conn
	user   string
	msg    Message
}

func (s *session) AuthMechanisms() []string {
	if s.server.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		s.server.mu.Lock()
		s.server.auths = append(s.server.auths, username)
		s.server.mu.Unlock()
		if username != s.server.opts.User || password != s.server.opts.Password {
			return gosmtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.server.opts.User != "" && s.user == "" {
		return gosmtp.ErrAuthRequired
	}
	s.msg = Message{From: from, User: s.user}
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if r := s.server.opts.RcptReply; r != nil {
		return r
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = b
	_, s.msg.TLS = s.conn.TLSConnectionState()
	s.server.mu.Lock()
	s.server.messages = append(s.server.messages, s.msg)
	s.server.mu.Unlock()
	if s.server.opts.Hold != nil {
		<-s.server.opts.Hold
	}
	if s.server.opts.Delay > 0 {
		time.Sleep(s.server.opts.Delay) // the server's own slowness
	}
	return nil
}

func (s *session) Reset()        { s.msg = Message{} }
func (s *session) Logout() error { return nil }

// ClientTLSConfig returns a client TLS configuration that trusts the test
// certificate the servers present (for 127.0.0.1 and localhost). Each call
// returns a new copy, which the caller may change.
func ClientTLSConfig() *tls.Config {
	return testCertificate().client.Clone()
}

// certificates are a test certificate for 127.0.0.1 and localhost: the
// server's configuration, and a client's that trusts it.
type certificates struct {
	server, client *tls.Config
}

var testCertificate = sync.OnceValue(func() certificates {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "caisse test mail server"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certificates{
		server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}},
		client: &tls.Config{RootCAs: pool},
	}
})

// Email is a received message, read as a mail client would.
type Email struct {
	// Header is the message's header, as read.
	Header mail.Header
	// Subject is the Subject header, its encoded words decoded.
	Subject string
	// Text and HTML are the decoded parts of the multipart/alternative body,
	// with line ends made "\n".
	Text, HTML string
}

// ParseEmail reads a received message, failing the test if it is not a
// well-formed email with a UTF-8 text and HTML part.
func ParseEmail(t testing.TB, data []byte) Email {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("error reading the message: %v\n%s", err, data)
	}
	var e Email
	e.Header = m.Header
	dec := new(mime.WordDecoder)
	if e.Subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("error decoding the subject %q: %v", m.Header.Get("Subject"), err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type is %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	parts := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := parts.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("error reading a part: %v", err)
		}
		// NextPart decodes quoted-printable itself; base64 is left to us.
		var body io.Reader = p
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
			body = base64.NewDecoder(base64.StdEncoding, p)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("error reading a part: %v", err)
		}
		ct, ctParams, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if cs := ctParams["charset"]; !strings.EqualFold(cs, "utf-8") {
			t.Errorf("part %s has charset %q, want UTF-8", ct, cs)
		}
		// Lines end in CRLF on the wire.
		text := strings.ReplaceAll(string(b), "\r\n", "\n")
		switch ct {
		case "text/plain":
			e.Text = text
		case "text/html":
			e.HTML = text
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	if e.Text == "" || e.HTML == "" {
		t.Fatalf("the message lacks a part: text %d bytes, HTML %d bytes", len(e.Text), len(e.HTML))
	}
	return e
}

// tag matches an HTML tag.
var tag = regexp.MustCompile(`<[^>]*>`)

// Visible returns the text a reader sees in HTML, such as an Email's HTML
// part: tags removed, entities decoded, runs of white space made one space.
func Visible(h string) string {
	h = tag.ReplaceAllString(h, " ")
	return strings.Join(strings.Fields(html.UnescapeString(h)), " ")
}
