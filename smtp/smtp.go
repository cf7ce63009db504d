// Package smtp delivers caisse's emails over SMTP: the customer emails of the
// email channel (order confirmation, payment failed, refunds, the apology for
// a payment caisse refunded), the emails to a work's artist (its sale, and
// that sale's cancellation), and team alerts sent by email.
//
// New checks the configuration (CAISSE_SMTP_URL, CAISSE_MAIL_FROM,
// CAISSE_LOCALE, CAISSE_TEMPLATES, CAISSE_SHOP_URL, and the host of
// CAISSE_PUBLIC_URL) once; the *Sender it returns is a caisse.Sender, safe
// for concurrent use, that opens one SMTP connection per email.
//
// # Message-ID
//
// Each email's Message-ID is made of the delivery's id, so an email sent
// again after a crash, or retried by the owner, is the same message to the
// mail servers and clients that see it twice; and of a name for where it
// comes from, as two caisse instances or databases may write the same
// delivery id (it is derived from what the delivery announces, such as
// "order ord_1 is paid"): the host of the instance's public address, else
// the database's own id. (Two databases behind one public address, such as
// a database started afresh, are not told apart by the first form.)
//
//	<DELIVERY_ID.DATABASE_ID@HOST>       HOST being Config.MessageIDHost (the host of
//	                                     CAISSE_PUBLIC_URL), else the From address's domain,
//	                                     and DATABASE_ID the database's own id
//	                                     (Sender.SetDatabaseID)
//	<DELIVERY_ID@HOST>                   before SetDatabaseID is called
//
// # Languages
//
// Customer emails are written in the language of the order's locale (fr,
// fr-FR… in French; en, en-GB… in English), else in Config.Locale; an
// artist's emails in the work's artist locale, else in Config.Locale; team
// alerts in Config.Locale. The language is sent in a Content-Language
// header. Amounts are written as a reader of the language writes money,
// after CLDR: "1 250,00 €" in French (with no-break spaces), "€1,250.00"
// in English, "¥5,000" for a currency without decimals. A declined payment
// is explained in the customer's language for the reasons Stripe gives most
// (insufficient_funds, expired_card, incorrect_cvc…); for any other, the
// email quotes Stripe's message.
//
// # Templates
//
// Each email has a text part and an HTML part, written from templates
// embedded in caisse. A file of the same name in the folder CAISSE_TEMPLATES
// replaces the embedded template; the others stay. The names are KIND.LANG.txt
// (text/template) and KIND.LANG.html (html/template), LANG being en or fr and
// KIND one of:
//
//	order_confirmation        the order is paid                       EmailData
//	payment_failed            a payment attempt was declined          EmailData
//	order_refunded            the order is refunded in full           EmailData
//	order_partially_refunded  part of the order is refunded           EmailData
//	refund_apology            caisse refunded the payment             EmailData
//	artist_sale               a work sold: to its artist              ArtistData
//	artist_sale_cancelled     that sale was undone: to its artist     ArtistData
//	alert                     a team alert, or caisse notify test     AlertData
//
// An artist's emails say what sold, for how much and the artist's share;
// ArtistData has no field for the buyer, so no template can name them.
//
// The .txt file also gives the subject, as {{define "subject"}}…{{end}}.
// Templates are checked at start with sample data: a template that does not
// parse, has no subject, or names a field its data does not have stops
// caisse with a message naming the file. Any other .txt or .html file in the
// folder is refused too, as it is most likely a misspelt name.
//
// It must not put a buyer's name, address or phone anywhere but the buyer's own
// emails, and never in an artist's email or a team alert.
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caisse/caisse"
	gomail "github.com/wneessen/go-mail"
)

// Sender sends caisse's emails through one mail server. It implements
// caisse.Sender for the email channel and for team alerts by email.
type Sender struct {
	server    server
	from      sender
	shop      string
	shopURL   string
	idHost    string
	lang      string
	templates templates
	tls       *tls.Config
	timeout   time.Duration
	now       func() time.Time
	// databaseID is the database's id in each Message-ID without idHost
	// (SetDatabaseID); atomic, as Send may run while it is set.
	databaseID atomic.Pointer[string]
}

var _ caisse.Sender = (*Sender)(nil)

// New checks cfg and returns a Sender. Its errors name the variable to fix
// and never contain the password.
func New(cfg Config) (*Sender, error) {
	srv, err := parseServer(cfg.URL)
	if err != nil {
		return nil, err
	}
	from, err := parseFrom(cfg.From)
	if err != nil {
		return nil, err
	}
	lang := "en"
	if cfg.Locale != "" {
		if lang = language(cfg.Locale); lang == "" {
			return nil, caisse.WithFix(fmt.Errorf("CAISSE_LOCALE %q is not a language caisse writes emails in", cfg.Locale), "set it to fr or en")
		}
	}
	idHost, err := parseMessageIDHost(cfg.MessageIDHost)
	if err != nil {
		return nil, err
	}
	shopURL, err := parseShopURL(cfg.ShopURL)
	if err != nil {
		return nil, err
	}
	t, err := loadTemplates(cfg.Templates)
	if err != nil {
		return nil, err
	}
	var tlsConfig *tls.Config
	if cfg.TLSConfig != nil {
		tlsConfig = cfg.TLSConfig.Clone()
	} else {
		tlsConfig = &tls.Config{}
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = srv.host
	}
	if tlsConfig.MinVersion == 0 {
		tlsConfig.MinVersion = tls.VersionTLS12
	}
	s := &Sender{
		server:    srv,
		from:      from,
		shop:      cfg.ShopName,
		shopURL:   shopURL,
		idHost:    idHost,
		lang:      lang,
		templates: t,
		tls:       tlsConfig,
		timeout:   cfg.Timeout,
		now:       cfg.Now,
	}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// SetDatabaseID sets the id of the database the deliveries are read from
// (a random id the database keeps), written in each Message-ID after the
// delivery's id, so two databases sending through one From domain or one
// public host never write the same Message-ID. Call it
// once, before sending starts. Only its letters, digits, _ and - are kept;
// "" (or never calling it) leaves the database's id out.
func (s *Sender) SetDatabaseID(id string) {
	id = strings.Map(func(r rune) rune {
		if idRune(r) {
			return r
		}
		return -1
	}, id)
	s.databaseID.Store(&id)
}

// messageID is the Message-ID of a delivery's email, without its angle
// brackets: the same on every send of the delivery.
func (s *Sender) messageID(d caisse.Delivery) string {
	// The row's id, made unique to this database by its id: two databases
	// (a new one, a test and a live one) behind one host or one From
	// domain may hold rows of the same key.
	left := d.ID
	if db := s.databaseID.Load(); db != nil && *db != "" {
		left += "." + *db
	}
	if s.idHost != "" {
		return left + "@" + s.idHost
	}
	return left + "@" + s.from.domain
}

// String describes the mail server without its password, such as
// "smtp://user@mail.example.com:587 (STARTTLS)", for logs and caisse notify
// test.
func (s *Sender) String() string {
	switch s.server.security {
	case startTLS:
		return s.server.String() + " (STARTTLS)"
	case implicitTLS:
		return s.server.String() + " (TLS)"
	}
	return s.server.String() + " (no TLS)"
}

// Send writes the notice's email and hands it to the mail server. It returns
// nil once the server has accepted it; otherwise a *caisse.DeliveryError
// that says, in the shop owner's words, what went wrong and what to do:
// permanent for a refusal (a 5xx reply, wrong credentials, a recipient that
// is not an address), to retry for anything that may pass later (a 4xx
// reply, a server that cannot be reached).
func (s *Sender) Send(ctx context.Context, n caisse.Notice) error {
	d := n.Delivery
	if !validID(d.ID) {
		return caisse.Permanentf("email for delivery %q not sent: its id cannot be a Message-ID (only letters, digits, _ and - may be); this is a bug in caisse, please report it", d.ID)
	}
	to, err := s.recipient(n)
	if err != nil {
		return err
	}
	var (
		lang string
		r    rendered
	)
	switch {
	case d.Channel == caisse.ChannelAlert || (d.Channel == caisse.ChannelEmail && d.Topic == caisse.TopicTest):
		lang = s.lang
		r, err = s.templates[alertKind+"."+lang].render(s.alertData(n, lang))
	case d.Channel == caisse.ChannelEmail:
		if d.Topic == alertKind || !slices.Contains(kinds, d.Topic) {
			return caisse.Permanentf("email %s not sent: caisse writes no email for the topic %q; this is a bug in caisse, please report it", d.ID, d.Topic)
		}
		if n.Order == nil {
			return caisse.Permanentf("email %s (%s) not sent: order %s was not found, so there is nothing to tell", d.ID, d.Topic, d.OrderID)
		}
		if artistKind(d.Topic) {
			lang = s.artistLanguage(n)
			r, err = s.templates[d.Topic+"."+lang].render(s.artistData(n, lang))
			break
		}
		lang = language(n.Order.Locale)
		if lang == "" {
			lang = s.lang
		}
		r, err = s.templates[d.Topic+"."+lang].render(s.emailData(n, lang))
	default:
		return caisse.Permanentf("delivery %s not sent: the email sender does not deliver on the %q channel; this is a bug in caisse, please report it", d.ID, d.Channel)
	}
	if err != nil {
		// Every template rendered at start with sample data; one that fails
		// now fails on this notice's values.
		return caisse.Retryf("email %s (%s) not sent: its template did not render (%v); correct the %s.%s templates in CAISSE_TEMPLATES and restart caisse", d.ID, d.Topic, err, templateKind(d), lang)
	}

	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	m.FromMailAddress(s.from.address)
	m.ToMailAddress(to)
	m.Subject(r.subject)
	m.SetMessageIDWithValue(s.messageID(d))
	m.SetDateWithValue(s.now())
	m.SetGenHeader(gomail.HeaderContentLang, lang)
	// Automatic mail (RFC 3834): out-of-office replies are not sent back.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetBodyString(gomail.TypeTextPlain, r.text)
	m.AddAlternativeString(gomail.TypeTextHTML, r.html)
	return s.deliver(ctx, d, to.Address, m)
}

// templateKind is the kind of templates a delivery is written with.
func templateKind(d caisse.Delivery) string {
	if d.Channel == caisse.ChannelEmail && d.Topic != caisse.TopicTest {
		return d.Topic
	}
	return alertKind
}

// validID says whether a delivery id can be written verbatim in a
// Message-ID: letters, digits, _ and -.
func validID(id string) bool {
	if id == "" || len(id) > 200 {
		return false
	}
	for _, r := range id {
		if !idRune(r) {
			return false
		}
	}
	return true
}

// idRune says whether r may be in the left of a Message-ID as caisse
// writes it: a letter, a digit, _ or -.
func idRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

// recipient reads the email's recipient, an email address: the
// delivery's, else for a customer email the order's.
func (s *Sender) recipient(n caisse.Notice) (*mail.Address, error) {
	d := n.Delivery
	fix := "contact the customer another way"
	switch {
	case d.Channel != caisse.ChannelEmail || d.Topic == caisse.TopicTest:
		fix = "correct CAISSE_ALERT_EMAIL (addresses separated by commas) and restart caisse"
	case artistKind(d.Topic):
		fix = fmt.Sprintf("correct the artist's address of product %s, then retry the delivery", d.ProductID)
	}
	raw := strings.TrimSpace(d.Recipient)
	if raw == "" && d.Channel == caisse.ChannelEmail && caisse.CustomerTopic(d.Topic) && n.Order != nil {
		raw = strings.TrimSpace(n.Order.CustomerEmail)
	}
	if raw == "" {
		return nil, caisse.Permanentf("email %s (%s) not sent: there is no recipient address; %s", d.ID, d.Topic, fix)
	}
	a, err := mail.ParseAddress(raw)
	if err != nil || strings.LastIndexByte(a.Address, '@') < 1 {
		return nil, caisse.Permanentf("email %s (%s) not sent: %q is not an email address; %s", d.ID, d.Topic, raw, fix)
	}
	return a, nil
}

// deliver sends m over one SMTP connection and turns a failure into a
// *caisse.DeliveryError.
func (s *Sender) deliver(ctx context.Context, d caisse.Delivery, to string, m *gomail.Msg) error {
	var conns connections
	defer conns.close()
	c, auth, err := s.client(ctx, &conns)
	if err != nil {
		return caisse.Permanentf("email %s not sent: the mail client could not be set up (%s); check CAISSE_SMTP_URL", d.ID, s.redact(err.Error()))
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		if m.IsDelivered() {
			// The server took the email; only what came after (RSET,
			// QUIT) failed.
			return nil
		}
		return s.failure(ctx, d, to, auth, err)
	}
	return nil
}

// client returns a mail client for one exchange with the server, set up as
// CAISSE_SMTP_URL says (TLS, STARTTLS, signing in), whose connections
// follow ctx; and the login it signs in with, nil without a user name.
func (s *Sender) client(ctx context.Context, conns *connections) (*gomail.Client, *login, error) {
	var auth *login
	opts := []gomail.Option{
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSConfig(s.tls),
		gomail.WithDialContextFunc(func(dialCtx context.Context, network, addr string) (net.Conn, error) {
			return s.dial(ctx, dialCtx, network, addr, conns)
		}),
	}
	switch s.server.security {
	case plainText:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case startTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case implicitTLS:
		// dial speaks TLS from the first byte; WithSSL tells the client
		// so, and that no STARTTLS is to be asked for.
		opts = append(opts, gomail.WithSSL())
	}
	if s.server.user != "" {
		auth = &login{user: s.server.user, password: s.server.password, host: s.server.host}
		opts = append(opts, gomail.WithSMTPAuthCustom(auth))
	}
	// WithPort comes last: WithSSL may set its own default port.
	opts = append(opts, gomail.WithPort(s.server.port))
	c, err := gomail.NewClient(s.server.host, opts...)
	return c, auth, err
}

// connections are the connections one send opened, closed when it ends or
// when its context is cancelled, so a stalled server never holds a send past
// the dispatcher's wishes.
type connections struct {
	mu    sync.Mutex
	conns []net.Conn
	stops []func() bool
}

func (c *connections) add(ctx context.Context, conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conns = append(c.conns, conn)
	c.stops = append(c.stops, context.AfterFunc(ctx, func() { conn.Close() }))
}

func (c *connections) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, conn := range c.conns {
		c.stops[i]()
		conn.Close()
	}
}

// dial connects to the mail server, in TLS from the first byte for
// smtps://. The connection follows ctx, the send's context: dialCtx is the
// mail client's own, which ends with the dial.
func (s *Sender) dial(ctx, dialCtx context.Context, network, addr string, conns *connections) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(dialCtx, network, addr)
	if err != nil {
		return nil, err
	}
	if s.server.security == implicitTLS {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	conns.add(ctx, conn)
	return conn, nil
}

// errNoMechanism is returned when the server offers no sign-in caisse uses.
var errNoMechanism = errors.New("the server offers neither AUTH PLAIN nor AUTH LOGIN")
