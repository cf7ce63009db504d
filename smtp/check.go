package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/caisse/caisse"
)

// Check talks to the mail server as a send would, up to the point where an
// email would go: it connects (in TLS from the first byte for smtps://),
// says EHLO, asks for STARTTLS and signs in as CAISSE_SMTP_URL says, then
// says QUIT without sending anything. It returns nil when all of that
// worked, and otherwise an error that says, in the shop owner's words, what
// failed and, after a colon, what to do; never with the password in it.
func (s *Sender) Check(ctx context.Context) error {
	var conns connections
	defer conns.close()
	c, auth, err := s.client(ctx, &conns)
	if err != nil {
		return caisse.WithFix(fmt.Errorf("the mail client could not be set up (%s)", s.redact(err.Error())), "check CAISSE_SMTP_URL")
	}
	sc, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.checkFailure(ctx, auth, err)
	}
	// Signed in: what QUIT answers changes nothing to that.
	_ = c.CloseWithSMTPClient(sc)
	return nil
}

// checkFailure says why Check failed and what to do.
func (s *Sender) checkFailure(ctx context.Context, auth *login, err error) error {
	srv := s.server.address()
	if ctx.Err() != nil {
		return caisse.WithFix(fmt.Errorf("the mail server at %s did not answer in time (%v)", srv, context.Cause(ctx)), "check that it is up, and that the host and port in CAISSE_SMTP_URL are right")
	}
	code, reply := smtpReply(err)
	reply = s.redact(reply)
	said := s.redact(err.Error())
	if auth != nil && auth.started && !auth.accepted {
		switch {
		case errors.Is(err, errNoMechanism):
			return caisse.WithFix(fmt.Errorf("the mail server at %s offers no way to sign in that caisse knows (AUTH PLAIN or AUTH LOGIN)", srv), "ask your mail provider for its SMTP submission settings and correct CAISSE_SMTP_URL")
		case code >= 500:
			return caisse.WithFix(fmt.Errorf("the mail server at %s refused the user name %q and the password in CAISSE_SMTP_URL (%s)", srv, s.server.user, reply), "correct them (special characters in the password percent-encoded)")
		case code >= 400:
			return caisse.WithFix(fmt.Errorf("the mail server at %s could not check the user name and password just now (%s)", srv, reply), "try again in a few minutes")
		}
	}
	switch {
	case code >= 500:
		return caisse.WithFix(fmt.Errorf("the mail server at %s refused to talk to caisse (%s)", srv, reply), "check CAISSE_SMTP_URL (host, port, smtp:// or smtps://) against your mail provider's settings")
	case code >= 400:
		return caisse.WithFix(fmt.Errorf("the mail server at %s asked caisse to wait (%s)", srv, reply), "try again in a few minutes")
	}
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verification *tls.CertificateVerificationError
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verification) {
		return caisse.WithFix(fmt.Errorf("the mail server at %s did not prove it is the server CAISSE_SMTP_URL names (%s)", srv, said), "check the host name in CAISSE_SMTP_URL (the one on the server's certificate) with your mail provider")
	}
	var notTLS tls.RecordHeaderError
	if errors.As(err, &notTLS) && s.server.security == implicitTLS {
		return caisse.WithFix(fmt.Errorf("the mail server at %s does not speak TLS from the first byte, as smtps:// expects (%s)", srv, said), "if your mail provider gives port 587 or 25, write CAISSE_SMTP_URL with smtp://")
	}
	if s.server.security == startTLS && strings.Contains(said, "STARTTLS") {
		return caisse.WithFix(fmt.Errorf("the mail server at %s does not offer STARTTLS, and caisse sends a password only over TLS (%s)", srv, said), "if your mail provider gives port 465, write CAISSE_SMTP_URL with smtps://")
	}
	return caisse.WithFix(fmt.Errorf("caisse could not talk to the mail server at %s (%s)", srv, said), "check that the server is up and that the host and port in CAISSE_SMTP_URL are right")
}
