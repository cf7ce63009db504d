package caisse

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// The exports of the books: a CSV of money movements, one line each, and
// the journal French accountants import (the FEC). Both write as they are
// given movements, so a year of a busy shop exports in constant memory.

// SalesColumns are the sales CSV's header.
var SalesColumns = []string{"type", "date", "order", "customer_name", "items", "gross", "tax", "shipping", "discount",
	"fee", "net", "currency", "payout", "payout_date", "balance_transaction"}

// SalesCSV writes the sales CSV: RFC 4180, UTF-8, a header, dates as ISO
// 8601 days of the shop's zone, amounts in the currency's unit with a dot
// and comma-separated; or, for French spreadsheets, with a decimal comma
// and semicolon-separated.
type SalesCSV struct {
	w      *csv.Writer
	loc    *time.Location
	comma  bool
	header bool
}

// NewSalesCSV returns a writer of the sales CSV to w, in the shop's zone;
// locale "fr" writes decimal commas and semicolons.
func NewSalesCSV(w io.Writer, loc *time.Location, locale string) *SalesCSV {
	c := csv.NewWriter(w)
	fr := locale == LangFrench
	if fr {
		c.Comma = ';'
	}
	c.UseCRLF = true
	return &SalesCSV{w: c, loc: loc, comma: fr}
}

// Write writes one movement (the header first).
func (s *SalesCSV) Write(m Movement) error {
	if err := s.writeHeader(); err != nil {
		return err
	}
	num := func(v int64) string { return decimal(v, m.Currency, s.comma) }
	payoutDate := ""
	if !m.PayoutDate.IsZero() {
		payoutDate = m.PayoutDate.In(s.loc).Format(DateLayout)
	}
	return s.w.Write([]string{m.Type, m.At.In(s.loc).Format(DateLayout), m.OrderID, csvText(m.CustomerName), csvText(m.Items),
		num(m.Gross), num(m.Tax), num(m.Shipping), num(m.Discount), num(m.Fee), num(m.Net), strings.ToUpper(m.Currency),
		m.Payout, payoutDate, m.BalanceTransaction})
}

func (s *SalesCSV) writeHeader() error {
	if s.header {
		return nil
	}
	s.header = true
	return s.w.Write(SalesColumns)
}

// Close writes the header if no movement came, and flushes.
func (s *SalesCSV) Close() error {
	if err := s.writeHeader(); err != nil {
		return err
	}
	s.w.Flush()
	return s.w.Error()
}

// csvText keeps a spreadsheet from reading a customer's text as a formula
// (a name starting with =, +, - or @).
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// decimal writes an amount in the currency's smallest unit in its unit,
// with a dot (or a comma), no thousands separator: 1250 EUR is 12.50.
func decimal(v int64, currency string, comma bool) string {
	s := strconv.FormatInt(v, 10)
	if currency != "" {
		s = FormatAmount(v, currency)
		s = s[:strings.LastIndexByte(s, ' ')]
	}
	if comma {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// Accounts are the account numbers of the FEC journal (CAISSE_ACCOUNTS).
type Accounts struct {
	Customers string // 411: the customers, between a sale and its payment
	Sales     string // 707: sales of goods
	VAT       string // 44571: VAT collected
	Fees      string // 627: bank fees, Stripe's
	Bank      string // 512: the shop's bank account
	Transit   string // 58: transfers in transit, the Stripe balance
	Disputes  string // 658: disputes lost and other adjustments
}

// DefaultAccounts are the French chart of accounts' usual numbers.
var DefaultAccounts = Accounts{Customers: "411", Sales: "707", VAT: "44571", Fees: "627", Bank: "512", Transit: "58", Disputes: "658"}

// accountKeys name the accounts in CAISSE_ACCOUNTS.
func (a *Accounts) keys() map[string]*string {
	return map[string]*string{"customers": &a.Customers, "sales": &a.Sales, "vat": &a.VAT, "fees": &a.Fees,
		"bank": &a.Bank, "transit": &a.Transit, "disputes": &a.Disputes}
}

// ParseAccounts reads CAISSE_ACCOUNTS: key=number pairs, comma-separated,
// over the defaults (customers, sales, vat, fees, bank, transit, disputes).
func ParseAccounts(s string) (Accounts, error) {
	a := DefaultAccounts
	keys := a.keys()
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k, v = strings.TrimSpace(strings.ToLower(k)), strings.TrimSpace(v)
		p := keys[k]
		if !ok || p == nil {
			return a, fmt.Errorf("%q is not an account: write key=number, the keys being customers, sales, vat, fees, bank, transit and disputes (such as sales=707,fees=627)", pair)
		}
		if v == "" || len(v) > 20 || strings.IndexFunc(v, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z')
		}) >= 0 {
			return a, fmt.Errorf("account %s=%q is not an account number: use digits and letters, at most 20", k, v)
		}
		*p = v
	}
	return a, nil
}

// String writes the accounts as CAISSE_ACCOUNTS takes them.
func (a Accounts) String() string {
	return fmt.Sprintf("customers=%s,sales=%s,vat=%s,fees=%s,bank=%s,transit=%s,disputes=%s",
		a.Customers, a.Sales, a.VAT, a.Fees, a.Bank, a.Transit, a.Disputes)
}

// FECColumns are the 18 columns of the Fichier des Écritures Comptables,
// in the order the format fixes.
var FECColumns = []string{"JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
	"CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit", "EcritureLet", "DateLet",
	"ValidDate", "Montantdevise", "Idevise"}

// Journals of the FEC: sales (a sale and its reversal by a refund), and
// the Stripe balance (money collected, fees, disputes, payouts).
const (
	JournalSales  = "VE"
	JournalStripe = "ST"
)

// FEC writes the books as a FEC journal: tab-separated, one header line,
// dates YYYYMMDD, amounts with a decimal comma, every entry balanced
// (its debits equal its credits).
//
// A payment is two entries: the sale (customers debited the gross; sales
// credited less the VAT; VAT collected credited) and its collection
// (transit debited the net and fees the fee; customers credited the
// gross). A refund is the same with the signs turned. A dispute moves
// transit, fees and the disputes account; Stripe's own fees transit and
// fees; a payout the bank and transit.
type FEC struct {
	w        *bufio.Writer
	accounts Accounts
	loc      *time.Location
	num      int
	header   bool
}

// NewFEC returns a writer of the FEC journal to w, in the shop's zone.
func NewFEC(w io.Writer, accounts Accounts, loc *time.Location) *FEC {
	return &FEC{w: bufio.NewWriter(w), accounts: accounts, loc: loc}
}

type posting struct {
	account, label string
	amount         int64 // positive is a debit, negative a credit
}

func (f *FEC) accountLabel(account string) string {
	a := f.accounts
	switch account {
	case a.Customers:
		return "Clients"
	case a.Sales:
		return "Ventes de marchandises"
	case a.VAT:
		return "TVA collectée"
	case a.Fees:
		return "Frais bancaires"
	case a.Bank:
		return "Banque"
	case a.Transit:
		return "Virements internes"
	case a.Disputes:
		return "Litiges et ajustements"
	}
	return account
}

// Write writes the entries of one movement (the header first).
func (f *FEC) Write(m Movement) error {
	if err := f.writeHeader(); err != nil {
		return err
	}
	a := f.accounts
	ref := cmpOr(m.OrderID, m.BalanceTransaction)
	switch m.Type {
	case MovePayment, MoveRefund:
		label := "Vente " + ref
		if m.Type == MoveRefund {
			label = "Remboursement " + ref
		}
		if err := f.entry(JournalSales, m, ref, label, []posting{
			{a.Customers, label, m.Gross}, {a.Sales, label, -(m.Gross - m.Tax)}, {a.VAT, label, -m.Tax},
		}); err != nil {
			return err
		}
		label = "Encaissement Stripe " + ref
		if m.Type == MoveRefund {
			label = "Remboursement Stripe " + ref
		}
		return f.entry(JournalStripe, m, ref, label, []posting{
			{a.Transit, label, m.Net}, {a.Fees, label, m.Fee}, {a.Customers, label, -m.Gross},
		})
	case MoveDispute, MoveAdjustment, MoveFee:
		label := map[string]string{MoveDispute: "Litige ", MoveAdjustment: "Ajustement Stripe ", MoveFee: "Frais Stripe "}[m.Type] + ref
		return f.entry(JournalStripe, m, ref, label, []posting{
			{a.Transit, label, m.Net}, {a.Fees, label, m.Fee}, {a.Disputes, label, -m.Gross},
		})
	case MovePayout:
		label := "Virement Stripe " + cmpOr(m.Payout, m.Source)
		return f.entry(JournalStripe, m, cmpOr(m.Payout, m.Source), label, []posting{
			{a.Bank, label, -m.Gross}, {a.Transit, label, m.Gross},
		})
	}
	return nil
}

// entry writes one balanced entry, leaving out postings of nothing. The
// postings must sum to zero, which every movement's do (Net = Gross − Fee);
// one that does not is refused rather than written unbalanced.
func (f *FEC) entry(journal string, m Movement, ref, label string, ps []posting) error {
	var sum int64
	var lines []posting
	for _, p := range ps {
		sum += p.amount
		if p.amount != 0 {
			lines = append(lines, p)
		}
	}
	if sum != 0 {
		return fmt.Errorf("balance transaction %s does not balance (gross %d, fee %d, net %d): the FEC cannot carry it", m.BalanceTransaction, m.Gross, m.Fee, m.Net)
	}
	if len(lines) == 0 {
		return nil
	}
	f.num++
	day := m.At.In(f.loc).Format("20060102")
	journalLib := map[string]string{JournalSales: "Ventes", JournalStripe: "Stripe"}[journal]
	for _, p := range lines {
		debit, credit := p.amount, int64(0)
		if p.amount < 0 {
			debit, credit = 0, -p.amount
		}
		cols := []string{journal, journalLib, strconv.Itoa(f.num), day, p.account, f.accountLabel(p.account), "", "",
			fecText(ref), day, fecText(p.label), decimal(debit, m.Currency, true), decimal(credit, m.Currency, true), "", "",
			day, "", ""}
		if !strings.EqualFold(m.Currency, "eur") {
			// The books are kept in euros; money settled in another
			// currency says which.
			cols[16], cols[17] = decimal(debit+credit, m.Currency, true), strings.ToUpper(m.Currency)
		}
		if _, err := f.w.WriteString(strings.Join(cols, "\t") + "\r\n"); err != nil {
			return err
		}
	}
	return nil
}

// fecText keeps a field on its line and column.
func fecText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

func (f *FEC) writeHeader() error {
	if f.header {
		return nil
	}
	f.header = true
	_, err := f.w.WriteString(strings.Join(FECColumns, "\t") + "\r\n")
	return err
}

// Close writes the header if no movement came, and flushes.
func (f *FEC) Close() error {
	if err := f.writeHeader(); err != nil {
		return err
	}
	return f.w.Flush()
}

// MovementWriter writes the books' movements in one of the exports' formats.
type MovementWriter interface {
	Write(Movement) error
	// Close writes what a file needs at its end (the header, when no
	// movement came) and flushes.
	Close() error
}

// Export is what an export of the sales is asked for.
type Export struct {
	Period Period
	// Loc is the shop's time zone, whose days the period and the dates are.
	Loc *time.Location
	// Livemode selects live-mode money, else test-mode money.
	Livemode bool
	// Format is csv (the default) or fec; Locale en (the default) or fr,
	// for the CSV.
	Format, Locale string
	// Accounts are the FEC's account numbers (DefaultAccounts when zero).
	Accounts Accounts
}

// Check refuses a format or locale the exports do not have.
func (x *Export) Check() error {
	x.Format = cmpOr(x.Format, "csv")
	x.Locale = cmpOr(x.Locale, LangEnglish)
	if x.Format != "csv" && x.Format != "fec" {
		return Errorf(EINVALID, "format %q is neither csv nor fec", x.Format)
	}
	if x.Locale != LangEnglish && x.Locale != LangFrench {
		return Errorf(EINVALID, "locale %q is neither en nor fr", x.Locale)
	}
	if x.Loc == nil {
		x.Loc = time.UTC
	}
	if x.Accounts == (Accounts{}) {
		x.Accounts = DefaultAccounts
	}
	return nil
}

// FileName names the export's file: the period, the mode when it is
// test, the format. (The FEC's legal name is SIREN + "FEC" + the closing
// day: the shop renames it for the tax office.)
func (x Export) FileName() string {
	name := "sales-" + x.Period.From.Format(DateLayout) + "-" + x.Period.To.Format(DateLayout)
	if !x.Livemode {
		name += "-test"
	}
	if x.Format == "fec" {
		return name + ".fec.txt"
	}
	return name + ".csv"
}

// ExportSales checks x, then writes the movements of its period to w as
// they are read (constant memory). It returns how many bytes reached w,
// so a caller that has written nothing yet can still answer with the
// error instead of a file.
func ExportSales(ctx context.Context, br BooksReader, w io.Writer, x Export) (int64, error) {
	if err := x.Check(); err != nil {
		return 0, err
	}
	cw := &countingWriter{w: w}
	var out MovementWriter
	if x.Format == "fec" {
		out = NewFEC(cw, x.Accounts, x.Loc)
	} else {
		out = NewSalesCSV(cw, x.Loc, x.Locale)
	}
	err := br.EachMovement(ctx, BooksFilter{From: x.Period.Start(), To: x.Period.End(), Livemode: x.Livemode, Orders: true},
		func(e BooksEntry) error { return out.Write(MovementOf(e)) })
	if err == nil {
		err = out.Close()
	}
	return cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ParseMode reads which of Stripe's modes the books are asked of: live,
// test, or "" for def.
func ParseMode(s string, def bool) (bool, error) {
	switch s {
	case "":
		return def, nil
	case "live":
		return true, nil
	case "test":
		return false, nil
	}
	return false, Errorf(EINVALID, "mode %q is neither live nor test", s)
}
