package caisse

import (
	"strconv"
	"strings"
	"sync"

	"github.com/bojanz/currency"
)

// Languages caisse speaks to people in: its pages, the CLI's words and every
// email.
const (
	LangEnglish = "en"
	LangFrench  = "fr"
)

// Language returns the language caisse writes in for a locale (fr, fr-FR,
// fr_CA… are French; en, en-GB… English), or "" for a locale it has no
// words for.
func Language(locale string) string {
	l := strings.ToLower(strings.TrimSpace(locale))
	if i := strings.IndexAny(l, "-_"); i >= 0 {
		l = l[:i]
	}
	switch l {
	case LangFrench, LangEnglish:
		return l
	}
	return ""
}

// formatters are the money formatters of each language, made once: CLDR's
// rules for placing the symbol, the separators and the digits.
var formatters sync.Map // language → *currency.Formatter

func formatter(lang string) *currency.Formatter {
	if lang != LangFrench {
		lang = LangEnglish
	}
	if f, ok := formatters.Load(lang); ok {
		return f.(*currency.Formatter)
	}
	f := currency.NewFormatter(currency.NewLocale(lang))
	formatters.Store(lang, f)
	return f
}

// FormatMoney writes an amount in a currency's smallest unit (as Stripe
// counts it) the way a reader of lang writes money, after CLDR:
// FormatMoney(125000, "eur", "fr") is "1 250,00 €" (with no-break
// spaces), "€1,250.00" in English; 1250 JPY is "¥1,250" (a zero-decimal
// currency is never divided by 100). Without a currency it is the bare
// number; a currency CLDR does not know is written as FormatAmount does.
func FormatMoney(amount int64, currency, lang string) string {
	if currency == "" {
		return strconv.FormatInt(amount, 10)
	}
	// The amount in the currency's units, by Stripe's count of decimals
	// (ISK has two in Stripe's API and none in CLDR: 10000 is ISK 100).
	units := FormatAmount(amount, currency)
	units = units[:strings.IndexByte(units, ' ')]
	a, err := newAmount(units, currency)
	if err != nil {
		return FormatAmount(amount, currency)
	}
	return formatter(Language(lang)).Format(a)
}

func newAmount(units, code string) (currency.Amount, error) {
	return currency.NewAmount(units, strings.ToUpper(code))
}

// Words says an order status as people read it, in lang (English unless
// French): "awaiting payment", "en attente de paiement". JSON keeps the code.
func (s OrderStatus) Words(lang string) string {
	return words(orderWords, string(s), lang)
}

// Words says a delivery status as people read it, in lang.
func (s DeliveryStatus) Words(lang string) string {
	return words(deliveryWords, string(s), lang)
}

// Words says an event status as people read it, in lang.
func (s EventStatus) Words(lang string) string {
	return words(eventWords, string(s), lang)
}

// DisputeWords says a dispute's status as people read it, in lang:
// "awaiting your evidence" for needs_response.
func DisputeWords(status, lang string) string {
	return words(disputeWords, status, lang)
}

// words looks a code up in a table of {English, French}; a code the table
// does not know is shown as it is, its underscores as spaces.
func words(table map[string][2]string, code, lang string) string {
	w, ok := table[code]
	if !ok {
		return strings.ReplaceAll(code, "_", " ")
	}
	if Language(lang) == LangFrench {
		return w[1]
	}
	return w[0]
}

var orderWords = map[string][2]string{
	string(StatusDisputed):          {"disputed", "contestée"},
	string(StatusDisputeLost):       {"dispute lost", "litige perdu"},
	string(StatusRefunded):          {"refunded", "remboursée"},
	string(StatusPartiallyRefunded): {"partly refunded", "remboursée en partie"},
	string(StatusPaid):              {"paid", "payée"},
	string(StatusPaymentFailed):     {"payment failed", "paiement échoué"},
	string(StatusExpired):           {"expired", "expirée"},
	string(StatusAwaitingPayment):   {"awaiting payment", "en attente de paiement"},
	string(StatusPending):           {"not paid yet", "pas encore payée"},
	string(FlagOversold):            {"oversold", "survendue"},
	string(FlagPaymentMismatch):     {"payment mismatch", "paiement non conforme"},
	string(FlagFailedAttempts):      {"declined payment attempts", "tentatives de paiement refusées"},
	string(FlagToShip):              {"to ship", "à expédier"},
}

var disputeWords = map[string][2]string{
	"warning_needs_response": {"inquiry: awaiting your answer", "demande de renseignements : réponse attendue"},
	"needs_response":         {"awaiting your evidence", "en attente de vos preuves"},
	"warning_under_review":   {"inquiry under review", "demande en cours d’examen"},
	"under_review":           {"under review by the bank", "en cours d’examen par la banque"},
	"warning_closed":         {"inquiry closed", "demande close"},
	"won":                    {"won", "gagné"},
	"lost":                   {"lost", "perdu"},
}

var deliveryWords = map[string][2]string{
	string(DeliveryPending):   {"waiting to be sent", "en attente d’envoi"},
	string(DeliveryDelivered): {"delivered", "remis"},
	string(DeliveryFailed):    {"failed", "échec"},
	string(DeliverySkipped):   {"not sent", "non envoyé"},
}

var eventWords = map[string][2]string{
	string(EventPending):   {"waiting", "en attente"},
	string(EventProcessed): {"processed", "traité"},
	string(EventIgnored):   {"ignored", "ignoré"},
	string(EventFailed):    {"dead letter", "en échec"},
}
