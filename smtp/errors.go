package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"

	"github.com/caisse/caisse"
	gomail "github.com/wneessen/go-mail"
	mailsmtp "github.com/wneessen/go-mail/smtp"
)

// login signs in with AUTH PLAIN, else AUTH LOGIN, whichever the server
// offers, and remembers how far it got, so that a server refusing the
// credentials is told apart from any other failure. One login serves one
// connection.
type login struct {
	user, password, host string
	mech                 mailsmtp.Auth
	// started is set once the server was asked to sign in, accepted once
	// it said yes.
	started, accepted bool
}

// Start implements mailsmtp.Auth.
func (a *login) Start(info *mailsmtp.ServerInfo) (string, []byte, error) {
	a.started = true
	switch {
	case slices.Contains(info.Auth, "PLAIN"):
		a.mech = mailsmtp.PlainAuth("", a.user, a.password, a.host, false)
	case slices.Contains(info.Auth, "LOGIN"):
		a.mech = mailsmtp.LoginAuth(a.user, a.password, a.host, false)
	default:
		return "", nil, errNoMechanism
	}
	return a.mech.Start(info)
}

// Next implements mailsmtp.Auth. The mail client calls it with more false
// only once the server has accepted the credentials (235).
func (a *login) Next(fromServer []byte, more bool) ([]byte, error) {
	resp, err := a.mech.Next(fromServer, more)
	if err == nil && !more {
		a.accepted = true
	}
	return resp, err
}

// failure turns a failed send into a *caisse.DeliveryError that says what
// happened and what to do, never with the password in it.
func (s *Sender) failure(ctx context.Context, d caisse.Delivery, to string, auth *login, err error) error {
	what := fmt.Sprintf("email %s (%s) to %s not sent", d.ID, d.Topic, to)
	srv := s.server.address()
	if ctx.Err() != nil {
		return caisse.Retryf("%s: caisse stopped waiting for the mail server at %s (%v); it will try again", what, srv, context.Cause(ctx))
	}
	code, reply := smtpReply(err)
	// What the server or the network said is quoted, cleared of the
	// password should anything ever echo it.
	reply = s.redact(reply)
	said := s.redact(err.Error())
	if auth != nil && auth.started && !auth.accepted {
		switch {
		case errors.Is(err, errNoMechanism):
			return caisse.Permanentf("%s: the mail server at %s offers no way to sign in that caisse knows (AUTH PLAIN or AUTH LOGIN); ask your mail provider for its SMTP submission settings, correct CAISSE_SMTP_URL and restart caisse, then retry the failed deliveries", what, srv)
		case code >= 500:
			return caisse.Permanentf("%s: the mail server at %s refused the user name %q and the password in CAISSE_SMTP_URL (%s); correct them and restart caisse, then retry the failed deliveries", what, srv, s.server.user, reply)
		case code >= 400:
			return caisse.Retryf("%s: the mail server at %s could not check the user name and password just now (%s); caisse will try again", what, srv, reply)
		}
	}
	var se *gomail.SendError
	stage := gomail.ErrAmbiguous + 1 // no stage: the connection was not set up
	if errors.As(err, &se) {
		stage = se.Reason
	}
	switch {
	case code >= 500:
		switch stage {
		case gomail.ErrSMTPMailFrom:
			return caisse.Permanentf("%s: the mail server at %s refused the sender %s (%s); set CAISSE_MAIL_FROM to an address your mail provider lets you send from and restart caisse, then retry the failed deliveries", what, srv, s.from.address.Address, reply)
		case gomail.ErrSMTPRcptTo:
			fix := "the address may be mistyped or closed: check it with the customer, or contact them another way"
			switch {
			case d.Channel != caisse.ChannelEmail || d.Topic == caisse.TopicTest:
				fix = "correct CAISSE_ALERT_EMAIL and restart caisse"
			case artistKind(d.Topic):
				fix = fmt.Sprintf("the address may be mistyped or closed: check it with the artist, correct it on product %s, then retry the delivery", d.ProductID)
			}
			return caisse.Permanentf("%s: the mail server at %s refused the address %s (%s); %s", what, srv, to, reply, fix)
		case gomail.ErrSMTPData, gomail.ErrSMTPDataClose, gomail.ErrWriteContent:
			return caisse.Permanentf("%s: the mail server at %s refused the message (%s); it may have taken it for spam, and your mail provider's logs say why", what, srv, reply)
		}
		return caisse.Permanentf("%s: the mail server at %s refused to take email from caisse (%s); check CAISSE_SMTP_URL (host, port, smtp:// or smtps://) with your mail provider's settings and restart caisse, then retry the failed deliveries", what, srv, reply)
	case code >= 400:
		return caisse.Retryf("%s: the mail server at %s asked caisse to wait (%s); it will try again later", what, srv, reply)
	}
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verification *tls.CertificateVerificationError
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verification) {
		// Retried rather than failed: an expired or replaced certificate is
		// usually put right by the mail provider, and the emails then go.
		return caisse.Retryf("%s: the mail server at %s did not prove it is the server CAISSE_SMTP_URL names (%s); caisse will try again, but check the host name in CAISSE_SMTP_URL and the server's certificate", what, srv, said)
	}
	var notTLS tls.RecordHeaderError
	if errors.As(err, &notTLS) && s.server.security == implicitTLS {
		return caisse.Retryf("%s: the mail server at %s does not speak TLS from the first byte, as smtps:// expects (%s); caisse will try again, but if your mail provider gives port 587 or 25, write CAISSE_SMTP_URL with smtp:// and restart caisse", what, srv, said)
	}
	// The mail client says so in words only.
	if s.server.security == startTLS && strings.Contains(said, "STARTTLS") {
		return caisse.Retryf("%s: the mail server at %s does not offer STARTTLS, and caisse sends a password only over TLS (%s); caisse will try again, but if your mail provider gives port 465, write CAISSE_SMTP_URL with smtps:// and restart caisse", what, srv, said)
	}
	return caisse.Retryf("%s: caisse could not talk to the mail server at %s (%s); it will try again, but check that the server is up and that the host and port in CAISSE_SMTP_URL are right", what, srv, said)
}

// smtpReply finds the mail server's reply in err: its code (0 when the
// failure is not a reply, such as a network error) and its text.
func smtpReply(err error) (int, string) {
	var tpe *textproto.Error
	if errors.As(err, &tpe) {
		return tpe.Code, tpe.Error()
	}
	var se *gomail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		reply := se.Error()
		if i := strings.Index(reply, ", affected"); i >= 0 {
			reply = reply[:i]
		}
		return se.ErrorCode(), reply
	}
	return 0, ""
}

// redact removes the password from what a server or a library said, as is
// and in the forms it takes on the wire.
func (s *Sender) redact(msg string) string {
	p := s.server.password
	if p == "" {
		return msg
	}
	for _, secret := range []string{
		base64.StdEncoding.EncodeToString([]byte("\x00" + s.server.user + "\x00" + p)),
		base64.StdEncoding.EncodeToString([]byte(p)),
		p,
	} {
		msg = strings.ReplaceAll(msg, secret, "[password]")
	}
	return msg
}
