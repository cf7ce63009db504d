package http

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caisse/caisse"
)

// The owner's pages speak English and French. The pages are written in
// English; french holds the French of every sentence they say, keyed by
// the English. A language is chosen per request (pageLanguage), and each
// language has its own set of templates whose functions speak it.

// langCookie holds the language the owner chose with the pages' switch.
const langCookie = "caisse_lang"

// langFor is how long the chosen language is remembered.
const langFor = 365 * 24 * time.Hour

// pageLanguage is the language of the pages for a request: the one the
// owner chose with the switch (the caisse_lang cookie); else the first of
// French and English the browser asks for (Accept-Language, by q); else
// the shop's (CAISSE_LOCALE); else English.
func (s *Server) pageLanguage(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil {
		if l := caisse.Language(c.Value); l != "" {
			return l
		}
	}
	if l := acceptLanguage(r.Header.Get("Accept-Language")); l != "" {
		return l
	}
	if l := caisse.Language(s.Locale); l != "" {
		return l
	}
	return caisse.LangEnglish
}

// acceptLanguage returns the language caisse speaks that an Accept-Language
// header prefers most ("fr-FR,fr;q=0.9,en;q=0.8" is fr), the first named
// among equals; "" when it names neither French nor English.
func acceptLanguage(header string) string {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || math.IsNaN(f) {
					f = 0
				}
				q = min(max(f, 0), 1)
			}
		}
		if l := caisse.Language(tag); l != "" && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// handleLanguage is the pages' language switch: it remembers the language
// chosen in a cookie and goes back to the page the switch was on. It needs
// no session (the sign-in form has the switch too); as every POST of the
// pages, it must come from caisse's own pages.
func (s *Server) handleLanguage(w http.ResponseWriter, r *http.Request) {
	lang := caisse.Language(r.PostFormValue("lang"))
	if lang == "" {
		s.pageError(w, r, caisse.Errorf(caisse.EINVALID, "choose English (en) or French (fr)"))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/admin", MaxAge: int(langFor.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(r)})
	http.Redirect(w, r, languageBack(r.PostFormValue("next")), http.StatusSeeOther)
}

// languageBack is where the language switch returns: the page it was on,
// kept within the admin pages as safeNext keeps them, the sign-in form
// included.
func languageBack(next string) string {
	u, err := url.Parse(next)
	if err == nil && u.Scheme == "" && u.Host == "" && u.Path == "/admin/signin" && strings.HasPrefix(next, "/admin/signin") {
		return u.RequestURI()
	}
	return safeNext(next)
}

// backOf is the address the language switch of a page returns to: the
// page itself without its flash, or, for a page that answers a POST, the
// page to go back to.
func backOf(r *http.Request) string {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		switch r.URL.Path {
		case "/admin/signin":
			return "/admin/signin"
		case "/admin/import":
			return "/admin/products"
		}
		if strings.HasPrefix(r.URL.Path, "/admin/products/") {
			return "/admin/products" // a product's refused form
		}
		return "/admin/"
	}
	q := r.URL.Query()
	for _, k := range []string{"done", "n", "signed_out"} {
		q.Del(k)
	}
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	return u.RequestURI()
}

// tr says an English sentence of the pages in lang, its arguments put in
// as fmt does.
func tr(lang, msg string, args ...any) string {
	if lang == caisse.LangFrench {
		if f, ok := french[msg]; ok {
			msg = f
		}
	}
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}

// trHTML is tr for a sentence that holds markup (<b>, <code>): the
// sentence is caisse's own, its arguments are escaped.
func trHTML(lang, msg string, args ...any) template.HTML {
	for i, a := range args {
		args[i] = template.HTMLEscapeString(fmt.Sprint(a))
	}
	return template.HTML(tr(lang, msg, args...))
}

var englishMonths = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
var frenchMonths = [12]string{"janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."}

// formatTime writes a time in UTC as a reader of lang does: "Dec 5, 2026
// 14:03 UTC", "5 déc. 2026 14:03 UTC"; "—" for none.
func formatTime(t time.Time, lang string) string {
	if t.IsZero() {
		return "—"
	}
	t = t.UTC()
	if lang == caisse.LangFrench {
		return fmt.Sprintf("%d %s %d %s UTC", t.Day(), frenchMonths[t.Month()-1], t.Year(), t.Format("15:04"))
	}
	return fmt.Sprintf("%s %d, %d %s UTC", englishMonths[t.Month()-1], t.Day(), t.Year(), t.Format("15:04"))
}

// formatDay writes a date without its time, as a reader of lang does:
// "Dec 6, 2026", "6 déc. 2026" (a payout's arrival date is a day).
func formatDay(t time.Time, lang string) string {
	if t.IsZero() {
		return "—"
	}
	t = t.UTC()
	if lang == caisse.LangFrench {
		return fmt.Sprintf("%d %s %d", t.Day(), frenchMonths[t.Month()-1], t.Year())
	}
	return fmt.Sprintf("%s %d, %d", englishMonths[t.Month()-1], t.Day(), t.Year())
}

// formatPercent writes a share as a reader of lang does: "62.5%",
// "62,5 %" (with a no-break space).
func formatPercent(p caisse.Percent, lang string) string {
	if lang == caisse.LangFrench {
		return plainPercent(p, lang) + "\u00a0%"
	}
	return p.String() + "%"
}

// plainPercent writes a share as a number the owner can type back into a
// share field: "62.5", "62,5" in French (caisse.ParsePercent reads both).
func plainPercent(p caisse.Percent, lang string) string {
	if lang == caisse.LangFrench {
		return strings.Replace(p.String(), ".", ",", 1)
	}
	return p.String()
}

// plainAmount writes an amount as a number the owner can type back into a
// price field: "1250.00" ("1250,00" in French), "5000" for JPY.
func plainAmount(amount int64, currency, lang string) string {
	s, _, _ := strings.Cut(caisse.FormatAmount(amount, currency), " ")
	if lang == caisse.LangFrench {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// roughly writes a duration as people say it.
func roughly(d time.Duration, lang string) string {
	switch {
	case d < time.Second:
		return tr(lang, "less than a second")
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
	}
	return tr(lang, "%d days", int(d.Hours()/24))
}

// statusWords says a status of an order, delivery or event in lang.
func statusWords(status any, lang string) string {
	switch s := status.(type) {
	case caisse.OrderStatus:
		return s.Words(lang)
	case caisse.DeliveryStatus:
		return s.Words(lang)
	case caisse.EventStatus:
		return s.Words(lang)
	case string: // an order's flag named in a template
		return caisse.OrderStatus(s).Words(lang)
	}
	return fmt.Sprint(status)
}

// codeWords says a code of a table of {English, French} in lang; a code
// the table does not know is shown as it is.
func codeWords(table map[string][2]string, code, lang string) string {
	w, ok := table[code]
	if !ok {
		return code
	}
	if lang == caisse.LangFrench {
		return w[1]
	}
	return w[0]
}

var channelWords = map[string][2]string{
	string(caisse.ChannelEmail):   {"email", "e-mail"},
	string(caisse.ChannelAlert):   {"alert", "alerte"},
	string(caisse.ChannelSanity):  {"Sanity", "Sanity"},
	string(caisse.ChannelWebhook): {"webhook", "webhook"},
	string(caisse.ChannelStripe):  {"Stripe", "Stripe"},
}

// topicWords says what a delivery is about. An outbound webhook's topic
// (order.paid) is the shop's API and stays as it is.
var topicWords = map[string][2]string{
	caisse.TopicOrderConfirmation:   {"order confirmation", "confirmation de commande"},
	caisse.TopicPaymentFailed:       {"payment declined", "paiement refusé"},
	caisse.TopicOrderRefunded:       {"order refunded", "commande remboursée"},
	caisse.TopicPartialRefund:       {"order partly refunded", "commande remboursée en partie"},
	caisse.TopicRefundApology:       {"refund apology", "excuses pour le remboursement"},
	caisse.TopicOrderShipped:        {"order shipped", "commande expédiée"},
	caisse.KindShipmentTracking:     {"tracking to Stripe", "suivi transmis à Stripe"},
	caisse.TopicArtistSale:          {"sale, for the artist", "vente, pour l’artiste"},
	caisse.TopicArtistSaleCancelled: {"sale cancelled, for the artist", "vente annulée, pour l’artiste"},
	caisse.TopicDisputeOpened:       {"dispute opened", "litige ouvert"},
	caisse.TopicDisputeClosed:       {"dispute closed", "litige clos"},
	caisse.TopicOversold:            {"order oversold", "commande survendue"},
	caisse.TopicPaymentMismatch:     {"payment mismatch", "paiement non conforme"},
	caisse.TopicDeadLetter:          {"event in dead letter", "événement en échec"},
	caisse.TopicSignatureFailures:   {"bad signatures", "signatures invalides"},
	caisse.TopicSilence:             {"no events", "aucun événement"},
	caisse.TopicEndpointProblem:     {"Stripe endpoint", "endpoint Stripe"},
	caisse.TopicDeliveryFailed:      {"delivery failed", "envoi échoué"},
	caisse.TopicFraudWarning:        {"early fraud warning", "alerte précoce de fraude"},
	caisse.TopicPayoutFailed:        {"payout failed", "virement échoué"},
	caisse.TopicTest:                {"test", "test"},
	caisse.TopicAvailability:        {"product availability", "disponibilité du produit"},
}

// reasonWords are the banks' reasons for a dispute, as Stripe names them.
var reasonWords = map[string][2]string{
	"bank_cannot_process":       {"the bank cannot process it", "la banque ne peut pas la traiter"},
	"check_returned":            {"check returned", "chèque retourné"},
	"credit_not_processed":      {"refund not processed", "remboursement non effectué"},
	"customer_initiated":        {"initiated by the customer", "à l’initiative du client"},
	"debit_not_authorized":      {"debit not authorized", "prélèvement non autorisé"},
	"duplicate":                 {"charged twice", "paiement en double"},
	"fraudulent":                {"fraudulent", "frauduleux"},
	"general":                   {"general", "général"},
	"incorrect_account_details": {"incorrect account details", "coordonnées bancaires erronées"},
	"insufficient_funds":        {"insufficient funds", "fonds insuffisants"},
	"product_not_received":      {"product not received", "produit non reçu"},
	"product_unacceptable":      {"product unacceptable", "produit non conforme"},
	"requested_by_customer":     {"requested by the customer", "à la demande du client"},
	"subscription_canceled":     {"subscription cancelled", "abonnement résilié"},
	"unrecognized":              {"not recognized", "non reconnu"},
}

// languageWords names the languages an artist's emails may be in.
var languageWords = map[string][2]string{
	"":                 {"the shop's language", "la langue de la boutique"},
	caisse.LangEnglish: {"English", "anglais"},
	caisse.LangFrench:  {"French", "français"},
}

// pageFuncs are the template functions of the pages in one language.
func pageFuncs(lang string) template.FuncMap {
	return template.FuncMap{
		"t":  func(msg string, args ...any) string { return tr(lang, msg, args...) },
		"th": func(msg string, args ...any) template.HTML { return trHTML(lang, msg, args...) },
		"money": func(amount int64, currency string) string {
			return caisse.FormatMoney(amount, currency, lang)
		},
		"plain": func(amount int64, currency string) string { return plainAmount(amount, currency, lang) },
		"deref": func(p *int64) int64 { return *p },
		"day":   func(t time.Time) string { return formatDay(t, lang) },
		"when":  func(t time.Time) string { return formatTime(t, lang) },
		"unixDay": func(sec int64) string {
			if sec == 0 {
				return "—"
			}
			return formatDay(time.Unix(sec, 0), lang)
		},
		"unix": func(sec int64) string {
			if sec == 0 {
				return "—"
			}
			return formatTime(time.Unix(sec, 0), lang)
		},
		"percent":        func(p caisse.Percent) string { return formatPercent(p, lang) },
		"share":          func(p caisse.Percent) string { return plainPercent(p, lang) },
		"status":         func(s any) string { return statusWords(s, lang) },
		"dispute":        func(status string) string { return caisse.DisputeWords(status, lang) },
		"reason":         func(code string) string { return codeWords(reasonWords, code, lang) },
		"channel":        func(c caisse.Channel) string { return codeWords(channelWords, string(c), lang) },
		"topic":          func(topic string) string { return codeWords(topicWords, topic, lang) },
		"language":       func(code string) string { return codeWords(languageWords, code, lang) },
		"notInCatalogue": func(productID string) string { return caisse.NotInCatalogue(productID, lang) },
		"items":          func(lines []caisse.Line) string { return itemsSaid(lines, lang) },
		"stripe":         caisse.DashboardURL,
		"query":          queryString,
		"hasPrefix":      strings.HasPrefix,
		"move":           caisse.StockMove.String,
		// path escapes an id for one segment of a URL path: an id holding
		// "/", "?" or "#" must not reach another route or product.
		"path": url.PathEscape,
	}
}

// french is the French of every sentence of the pages, keyed by its
// English (TestEverySentenceIsFrench checks that none is missing).
var french = map[string]string{
	// The books: fees, net and payouts.
	"Payouts":   "Virements",
	"Payout":    "Virement",
	"Payout %s": "Virement %s",
	"What Stripe sent to the shop's bank account, and when it arrived. Each payout lists the payments, refunds and fees it carried.":       "Ce que Stripe a versé sur le compte bancaire de la boutique, et quand. Chaque virement liste les paiements, remboursements et frais qu’il regroupe.",
	"caisse records the payouts Stripe's events announce; it lists what each carried through Stripe's API, which needs STRIPE_SECRET_KEY.": "caisse enregistre les virements qu’annoncent les événements de Stripe ; il liste ce que chacun regroupe par l’API de Stripe, qui demande STRIPE_SECRET_KEY.",
	"Arrival":         "Arrivée",
	"Automatic":       "Automatique",
	"paid":            "versé",
	"Older payouts →": "Virements plus anciens →",
	"No payout yet: Stripe announces each one with a payout.paid event.": "Aucun virement pour l’instant : Stripe annonce chacun par un événement payout.paid.",
	"This payout failed: the money is back in the Stripe balance.":       "Ce virement a échoué : l’argent est revenu sur le solde Stripe.",
	"Stripe": "Stripe",
	"Stripe lists what a payout carried only for automatic payouts: this one was made by hand.": "Stripe ne liste le contenu que des virements automatiques : celui-ci a été fait à la main.",
	"caisse lists what a payout carried through Stripe's API, which needs STRIPE_SECRET_KEY.":   "caisse liste le contenu d’un virement par l’API de Stripe, qui demande STRIPE_SECRET_KEY.",
	"caisse is listing what this payout carried.":                                               "caisse liste le contenu de ce virement.",
	"Date":                                "Date",
	"Source":                              "Source",
	"Gross":                               "Brut",
	"Fee":                                 "Frais",
	"Net":                                 "Net",
	"Payments":                            "Paiements",
	"Disputes":                            "Litiges",
	"Other":                               "Autres",
	"Sum":                                 "Total",
	"Difference from the payout's amount": "Écart avec le montant du virement",
	"%d transactions are still being asked of Stripe.": "%d opérations sont encore demandées à Stripe.",
	"Money":             "Argent",
	"Stripe fee":        "Frais Stripe",
	"Exchange rate":     "Taux de change",
	"in the bank on %s": "en banque le %s",
	"asked of Stripe":   "demandé à Stripe",
	"Stripe's fee and the net are unknown: caisse learns them through Stripe's API, which needs STRIPE_SECRET_KEY.": "Les frais Stripe et le net sont inconnus : caisse les apprend par l’API de Stripe, qui demande STRIPE_SECRET_KEY.",
	"caisse is asking Stripe for the fee of a payment of this order.":                                               "caisse demande à Stripe les frais d’un paiement de cette commande.",
	"Stripe's fee is not known yet: it comes with the payment's settlement.":                                        "Les frais Stripe ne sont pas encore connus : ils viennent avec le règlement du paiement.",
	// The books by period: the dashboard's money, its chart, the export.
	"(test mode)":     "(mode test)",
	"Period":          "Période",
	"Gross sales":     "Ventes brutes",
	"Disputes lost":   "Litiges perdus",
	"Stripe fees":     "Frais Stripe",
	"No money moved.": "Aucun mouvement.",
	"Today":           "Aujourd’hui",
	"Last 7 days":     "7 derniers jours",
	"Last 30 days":    "30 derniers jours",
	"Days are the shop's (%s). Figures are Stripe's, in the currency the money settled in, once Stripe's balance has them.": "Les jours sont ceux de la boutique (%s). Les montants sont ceux de Stripe, dans la devise de règlement, dès que le solde Stripe les a.",
	"From":                                 "Du",
	"To (included)":                        "Au (inclus)",
	"Format":                               "Format",
	"Spreadsheet":                          "Tableur",
	"dot decimals, commas (1234.50)":       "point décimal, virgules (1234.50)",
	"comma decimals, semicolons (1234,50)": "virgule décimale, points-virgules (1234,50)",
	"Download the sales":                   "Télécharger les ventes",
	"Gross and net per day, %s":            "Brut et net par jour, %s",
	"%s: gross %s, net %s":                 "%s : brut %s, net %s",
	"gross sales":                          "ventes brutes",
	"net, after refunds, disputes and Stripe's fees": "net, après remboursements, litiges et frais Stripe",
	"caisse learns Stripe's figures (amounts, fees, net, payouts) through Stripe's API, which needs STRIPE_SECRET_KEY: without it the books stay empty.": "caisse apprend les montants de Stripe (paiements, frais, net, virements) par l’API de Stripe, qui demande STRIPE_SECRET_KEY : sans elle, les comptes restent vides.",
	"caisse is asking Stripe for the figures of %d payments, refunds or disputes: they count once known.":                                                "caisse demande à Stripe les montants de %d paiements, remboursements ou litiges : ils comptent dès qu’ils sont connus.",
	// The layout and the sign-in.
	"Dashboard":  "Tableau de bord",
	"Events":     "Événements",
	"Orders":     "Commandes",
	"Products":   "Produits",
	"Deliveries": "Envois",
	"Jobs":       "Tâches",
	"Sign out":   "Se déconnecter",
	"Language":   "Langue",
	"Sign in":    "Connexion",
	"Enter the admin token: the value of <code>CAISSE_ADMIN_TOKEN</code> in caisse's environment.": "Saisissez le jeton d’administration : la valeur de <code>CAISSE_ADMIN_TOKEN</code> dans l’environnement de caisse.",
	"Admin token": "Jeton d’administration",
	"Too many sign-in attempts from your address: try again in %s.": "Trop de tentatives de connexion depuis votre adresse : réessayez dans %s.",

	// A form refused before it is read.
	"caisse's forms are sent as application/x-www-form-urlencoded, not %s: use the form of caisse's own page.":                                                                                                       "Les formulaires de caisse sont envoyés en application/x-www-form-urlencoded, pas en %s : utilisez le formulaire de la page de caisse.",
	"A catalogue file is sent as multipart/form-data, and its preview as application/x-www-form-urlencoded, not %s: use the import form of the products page.":                                                       "Un fichier de catalogue est envoyé en multipart/form-data, et son aperçu en application/x-www-form-urlencoded, pas en %s : utilisez le formulaire d'import de la page des produits.",
	"This form is larger than caisse's forms ever are (%s): send it again from caisse's own page.":                                                                                                                   "Ce formulaire est plus grand que ne le sont jamais ceux de caisse (%s) : envoyez-le de nouveau depuis la page de caisse.",
	"caisse could not read this form: send it again from caisse's own page.":                                                                                                                                         "caisse n'a pas pu lire ce formulaire : envoyez-le de nouveau depuis la page de caisse.",
	"The catalogue file is %s, over the %s the pages import (CAISSE_IMPORT_MAX): nothing was imported. Import it with `caisse products import FILE`, which has no such limit, split it, or raise CAISSE_IMPORT_MAX.": "Le fichier de catalogue fait %s, plus que les %s que les pages importent (CAISSE_IMPORT_MAX) : rien n'a été importé. Importez-le avec `caisse products import FICHIER`, qui n'a pas cette limite, découpez-le, ou relevez CAISSE_IMPORT_MAX.",
	"The catalogue file is over the %s the pages import (CAISSE_IMPORT_MAX): nothing was imported. Import it with `caisse products import FILE`, which has no such limit, split it, or raise CAISSE_IMPORT_MAX.":     "Le fichier de catalogue dépasse les %s que les pages importent (CAISSE_IMPORT_MAX) : rien n'a été importé. Importez-le avec `caisse products import FICHIER`, qui n'a pas cette limite, découpez-le, ou relevez CAISSE_IMPORT_MAX.",

	"That is not the admin token (CAISSE_ADMIN_TOKEN). Check it and try again.": "Ce n’est pas le jeton d’administration (CAISSE_ADMIN_TOKEN). Vérifiez-le et réessayez.",
	"You are signed out.": "Vous êtes déconnecté.",
	"Replayed %s event(s): caisse is processing them again.": "%s événement(s) rejoué(s) : caisse les traite à nouveau.",
	"Retrying %s delivery(ies).":                             "Nouvel essai de %s envoi(s).",
	"Saved.":                                                 "Enregistré.",
	"Refund asked of Stripe: the order shows it refunded once Stripe's events confirm it.": "Remboursement demandé à Stripe : la commande l’affiche remboursé dès que les événements de Stripe le confirment.",

	// The refund form of an order's page.
	"Refunds":                               "Remboursements",
	"Asked":                                 "Demandé le",
	"Lines":                                 "Lignes",
	"Stripe refund":                         "Remboursement Stripe",
	"back to stock once Stripe confirms it": "remis en stock dès que Stripe le confirme",
	"requested":                             "demandé",
	"refunded":                              "remboursé",
	"failed":                                "échoué",
	"Left to refund: %s.":                   "Reste à rembourser : %s.",
	"Units left to return":                  "Unités pouvant être retournées",
	"Units returned":                        "Unités retournées",
	"amount (empty: the price of the units returned)": "montant (vide : le prix des unités retournées)",
	"put the units returned back in stock":            "remettre en stock les unités retournées",
	"reason":                                          "motif",
	"Ask Stripe for this refund":                      "Demander ce remboursement à Stripe",
	"No refund was asked: the amount must be an amount of %s greater than 0, such as %s, not %q.":  "Aucun remboursement n’a été demandé : le montant doit être un montant en %s supérieur à 0, comme %s, pas %q.",
	"No refund was asked: the units of %s to return must be a whole number, such as 1, not %q.":    "Aucun remboursement n’a été demandé : les unités de %s à retourner doivent être un nombre entier, comme 1, pas %q.",
	"No refund was asked: type the units returned of each line, or an amount.":                     "Aucun remboursement n’a été demandé : indiquez les unités retournées de chaque ligne, ou un montant.",
	"No refund was asked: caisse refunds through Stripe's API and needs STRIPE_SECRET_KEY for it.": "Aucun remboursement n’a été demandé : caisse rembourse par l’API de Stripe et a besoin pour cela de STRIPE_SECRET_KEY.",
	"No refund was asked: %s": "Aucun remboursement n’a été demandé : %s",
	"Imported %s product(s).": "%s produit(s) importé(s).",
	"Error":                   "Erreur",

	// Shared words.
	"Status":               "Statut",
	"Order":                "Commande",
	"Type":                 "Type",
	"any":                  "tous",
	"Filter":               "Filtrer",
	"Clear":                "Effacer",
	"Find":                 "Chercher",
	"Attempts":             "Tentatives",
	"Last error":           "Dernière erreur",
	"Amount":               "Montant",
	"Customer":             "Client",
	"Ship to":              "Livrer à",
	"Shipment":             "Expédition",
	"Carrier":              "Transporteur",
	"Tracking":             "Suivi",
	"Shipped":              "Expédiée",
	"Tracking number":      "Numéro de suivi",
	"Tracking page":        "Page de suivi",
	"Correct the shipment": "Corriger l’expédition",
	"Record the shipment":  "Enregistrer l’expédition",
	"The buyer gets one email with the corrected tracking.":                                                         "L’acheteur reçoit un e-mail avec le suivi corrigé.",
	"The buyer gets an email with the tracking; Stripe keeps it as evidence should the buyer dispute the delivery.": "L’acheteur reçoit un e-mail avec le suivi ; Stripe le garde comme preuve si l’acheteur conteste la livraison.",
	"Packing slip":        "Bordereau de colis",
	"To ship":             "À expédier",
	"Every order to ship": "Toutes les commandes à expédier",
	"Packing slip %s":     "Bordereau de colis %s",
	"No shipping address: the checkout did not ask for one.": "Pas d’adresse de livraison : le paiement n’en a pas demandé.",
	"Back to the order":                  "Retour à la commande",
	"It cannot be shipped: %s.":          "Elle ne peut pas être expédiée : %s.",
	"The shipment was not recorded: %s.": "L’expédition n’a pas été enregistrée : %s.",
	"The shipment was not recorded: say which carrier took the parcel and its tracking number.":                                              "L’expédition n’a pas été enregistrée : indiquez le transporteur et le numéro de suivi.",
	"The shipment was not recorded: the carrier and the tracking number take at most 100 characters each.":                                   "L’expédition n’a pas été enregistrée : le transporteur et le numéro de suivi font au plus 100 caractères chacun.",
	"The shipment was not recorded: the tracking page must be a web address, such as https://www.laposte.fr/outils/suivre-vos-envois?code=…": "L’expédition n’a pas été enregistrée : la page de suivi doit être une adresse web, comme https://www.laposte.fr/outils/suivre-vos-envois?code=…",
	"Shipment recorded: the buyer is told.": "Expédition enregistrée : l’acheteur est prévenu.",
	"Shipping":                              "Livraison",
	"Tax":                                   "Taxes",
	"Discount":                              "Remise",
	"Created":                               "Création",
	"Updated":                               "Mise à jour",
	"Product":                               "Produit",
	"Name":                                  "Nom",
	"Price":                                 "Prix",
	"Stock":                                 "Stock",
	"Reason":                                "Motif",
	"Dispute":                               "Litige",
	"Evidence due":                          "Preuves attendues avant le",
	"Mode":                                  "Mode",
	"None.":                                 "Aucun.",
	"Cancel":                                "Annuler",
	"Retry":                                 "Réessayer",
	"Save":                                  "Enregistrer",
	"test":                                  "test",
	"live":                                  "réel",
	"yes":                                   "oui",
	"no":                                    "non",
	"and %d more":                           "et %d de plus",
	"%d days":                               "%d jours",
	"less than a second":                    "moins d’une seconde",

	// The dashboard.
	"The last event arrived %s ago. If the shop sold anything since, Stripe is not reaching caisse: check the webhook endpoint in Stripe's dashboard (its URL, and that it is enabled).": "Le dernier événement est arrivé il y a %s. Si la boutique a vendu quelque chose depuis, Stripe n’atteint pas caisse : vérifiez l’endpoint de webhook dans le tableau de bord de Stripe (son URL, et qu’il est activé).",
	"No event has arrived yet. Point a Stripe webhook endpoint at caisse's <code>/webhooks/stripe</code>.":                                                                               "Aucun événement n’est encore arrivé. Dirigez un endpoint de webhook Stripe vers <code>/webhooks/stripe</code> de caisse.",
	"events in the last hour":        "événements dans la dernière heure",
	"events in the last day":         "événements dans les dernières 24 heures",
	"failed in the last day (%d)":    "en échec dans les dernières 24 heures (%d)",
	"%s ago":                         "il y a %s",
	"never":                          "jamais",
	"last event received":            "dernier événement reçu",
	"events waiting":                 "événements en attente",
	", the oldest for %s":            ", le plus ancien depuis %s",
	"dead letters (failed events)":   "événements en échec",
	"oversold orders":                "commandes survendues",
	"orders with a payment mismatch": "commandes au paiement non conforme",
	"failed deliveries":              "envois échoués",
	"deliveries waiting":             "envois en attente",
	"Open disputes":                  "Litiges en cours",

	// The events and an event.
	"From (UTC)":  "Du (UTC)",
	"Until (UTC)": "Au (UTC)",
	"Event id":    "Identifiant d’événement",
	"Replay every event matching this filter…": "Rejouer tous les événements de ce filtre…",
	"Received":                             "Reçu",
	"Event":                                "Événement",
	"Older events →":                       "Événements plus anciens →",
	"No event matches.":                    "Aucun événement ne correspond.",
	"Event %s":                             "Événement %s",
	"Created at Stripe":                    "Créé chez Stripe",
	"In Stripe":                            "Chez Stripe",
	"open the event in Stripe's dashboard": "ouvrir l’événement dans le tableau de bord de Stripe",
	"Replay this event":                    "Rejouer cet événement",
	"What it changed":                      "Ce qu’il a changé",
	"At":                                   "Le",
	"No change of its order's status":      "Aucun changement du statut de sa commande",
	": the order was already where this event would put it, or the event only added facts": " : la commande était déjà là où cet événement la mettrait, ou l’événement n’a ajouté que des faits",
	"Deliveries it caused":           "Envois qu’il a causés",
	"The fact caisse keeps about %s": "Ce que caisse retient de %s",
	"What caisse knows of this Stripe object now, after every event about it so far": "Ce que caisse sait de cet objet Stripe maintenant, après tous les événements le concernant",
	", linked to order":             ", lié à la commande",
	"None: ":                        "Aucun : ",
	"an ignored event adds no fact": "un événement ignoré n’ajoute aucun fait",
	"this event's type carries no fact caisse keeps": "ce type d’événement ne porte aucun fait que caisse retient",
	"the event has not been applied yet":             "l’événement n’a pas encore été appliqué",
	"Payload":                                        "Contenu",
	"(pruned: caisse keeps an ignored event's body for CAISSE_RETENTION, then only its id)": "(effacé : caisse garde le contenu d’un événement ignoré pendant CAISSE_RETENTION, puis seulement son identifiant)",
	"to %s": "à %s",

	// The replay.
	"Replay events":    "Rejouer des événements",
	"Events matching:": "Événements correspondant à :",
	"status":           "statut",
	"type":             "type",
	"order":            "commande",
	"from":             "du",
	"until":            "au",
	"every event":      "tous les événements",
	"This puts <b>%s</b> event(s) back into processing. Processing is idempotent: an event already applied changes nothing.": "Cela remet <b>%s</b> événement(s) en traitement. Le traitement est idempotent : un événement déjà appliqué ne change rien.",
	"Replay %d event(s)": "Rejouer %d événement(s)",
	"Back to the events": "Retour aux événements",

	// The orders and an order.
	"flags":                      "signalements",
	"Search":                     "Rechercher",
	"order, cs_…, pi_… or email": "commande, cs_…, pi_… ou e-mail",
	"Flags":                      "Signalements",
	"Items":                      "Articles",
	"Paid":                       "Payé",
	"Older orders →":             "Commandes plus anciennes →",
	"No order matches.":          "Aucune commande ne correspond.",
	"unknown products":           "produits inconnus",
	"%d declined":                "%d refusée(s)",
	"Order %s":                   "Commande %s",
	"Oversold: it was paid when no stock was left for it.":                      "Survendue : elle a été payée alors qu’il ne restait plus de stock.",
	" Refund %s was asked of Stripe.":                                           " Le remboursement %s a été demandé à Stripe.",
	" Refund the buyer or restock.":                                             " Remboursez l’acheteur ou réapprovisionnez.",
	"Payment mismatch:":                                                         "Paiement non conforme :",
	"did not pay this order (short of the amount due, or in another currency).": "n’a pas payé cette commande (moins que le montant dû, ou dans une autre devise).",
	" Refunds asked:":                                                           " Remboursements demandés :",
	"Its items could not be read: %s":                                           "Ses articles n’ont pas pu être lus : %s",
	"Unknown products (no stock moved for them):":                               "Produits inconnus (aucun stock déplacé pour eux) :",
	"Total":                             "Total",
	"Due":                               "Dû",
	"Refunded":                          "Remboursé",
	"Phone":                             "Téléphone",
	"Checkout session":                  "Session de paiement",
	"Payment":                           "Paiement",
	"Declined attempts":                 "Tentatives refusées",
	"Last payment error":                "Dernière erreur de paiement",
	"Quantity":                          "Quantité",
	"Unit price":                        "Prix unitaire",
	"Line total":                        "Total de la ligne",
	"None known.":                       "Aucun connu.",
	"Timeline":                          "Historique",
	"Other deliveries about this order": "Autres envois concernant cette commande",
	"Every event about this order":      "Tous les événements de cette commande",
	"its deliveries":                    "ses envois",

	// The products and the import.
	"Stock is the units on hand: setting it never undoes a sale, and it cannot go below the units reserved by open checkouts. Prices are in the currency's units (15.00 EUR, 5000 JPY).": "Le stock est le nombre d’unités en main : le modifier n’annule jamais une vente, et il ne peut descendre sous les unités réservées par les paiements en cours. Les prix sont dans l’unité de la devise (15,00 EUR, 5000 JPY).",
	"Reserved":                             "Réservé",
	"Available":                            "Disponible",
	"On sale":                              "En vente",
	"Artist":                               "Artiste",
	"Change":                               "Modifier",
	"share %s":                             "part %s",
	"emails in %s":                         "e-mails en %s",
	"stock":                                "stock",
	"price":                                "prix",
	"artist":                               "artiste",
	"artist's emails, separated by commas": "e-mails de l’artiste, séparés par des virgules",
	"artist's share (%)":                   "part de l’artiste (%)",
	"artist's language":                    "langue de l’artiste",
	"More products →":                      "Plus de produits →",
	"No product yet: import a catalogue below.": "Aucun produit pour l’instant : importez un catalogue ci-dessous.",
	"Import a catalogue":                        "Importer un catalogue",
	"A CSV (UTF-8, separated by <code>,</code> or <code>;</code> as spreadsheets save it) whose first line names the columns <code>id,name,price,currency,stock</code> (also <code>unit_amount</code>, <code>sanity_id</code>; or in French <code>id;nom;prix;devise;stock</code>; columns caisse does not use are left aside), with prices in the currency's units (<code>15.00</code> or <code>15,00</code> EUR, <code>5000</code> JPY), or <code>unit_amount</code> instead for the smallest unit (<code>1500</code> cents); or a JSON list of <code>{\"id\", \"name\", \"price\", \"currency\", \"stock\"}</code>, whose number prices are in the smallest unit (<code>\"price\": 1500</code>) and string ones in the currency's units (<code>\"price\": \"15.00\"</code>). A new product needs a name, price, currency and stock; an empty cell keeps the product's value. You see what changes before anything is written. Without \"set stock\", products that exist keep their stock.": "Un CSV (UTF-8, séparé par <code>,</code> ou <code>;</code> comme l’enregistrent les tableurs) dont la première ligne nomme les colonnes <code>id,name,price,currency,stock</code> (aussi <code>unit_amount</code>, <code>sanity_id</code> ; ou en français <code>id;nom;prix;devise;stock</code> ; les colonnes dont caisse ne se sert pas sont laissées de côté), avec les prix dans l’unité de la devise (<code>15.00</code> ou <code>15,00</code> EUR, <code>5000</code> JPY), ou <code>unit_amount</code> à la place pour la plus petite unité (<code>1500</code> centimes) ; ou une liste JSON de <code>{\"id\", \"name\", \"price\", \"currency\", \"stock\"}</code>, dont les prix nombres sont dans la plus petite unité (<code>\"price\": 1500</code>) et les prix textes dans l’unité de la devise (<code>\"price\": \"15.00\"</code>). Un nouveau produit demande un nom, un prix, une devise et un stock ; une cellule vide garde la valeur du produit. Vous voyez ce qui change avant que rien ne soit écrit. Sans « fixer le stock », les produits existants gardent leur stock.",
	"set stock of existing products (a restock)": "fixer le stock des produits existants (un réapprovisionnement)",
	"Preview":                 "Aperçu",
	"Import preview":          "Aperçu de l’import",
	"Nothing is written yet.": "Rien n’est encore écrit.",
	"The file could not be read: choose it again.":                                                                                          "Le fichier n’a pas pu être lu : choisissez-le de nouveau.",
	"The previewed file did not come back intact: choose it again.":                                                                         "Le fichier de l’aperçu n’est pas revenu intact : choisissez-le de nouveau.",
	"Choose a catalogue file (CSV or JSON) to import.":                                                                                      "Choisissez un fichier de catalogue (CSV ou JSON) à importer.",
	"The file was not imported, and nothing was written: fix what follows and choose it again.":                                             "Le fichier n’a pas été importé, et rien n’a été écrit : corrigez ce qui suit et choisissez-le de nouveau.",
	"%s was not saved: its stock must be a whole number of units, such as 0, 1 or 12, not %q.":                                              "%s n’a pas été enregistré : son stock doit être un nombre entier d’unités, comme 0, 1 ou 12, pas %q.",
	"%s was not saved: its stock cannot go below the %d units open checkouts reserve. Set at least %d, or wait for those checkouts to end.": "%s n’a pas été enregistré : son stock ne peut pas descendre sous les %d unités que réservent des paiements en cours. Indiquez au moins %d, ou attendez la fin de ces paiements.",
	"%s was not saved: its price %q is not an amount of %s. Write it in %s, such as %s.":                                                    "%s n’a pas été enregistré : son prix %q n’est pas un montant en %s. Écrivez-le en %s, comme %s.",
	"%s was not saved: %q is not an email address. Write the artist's addresses alone, separated by commas, such as artist@example.com.":    "%s n’a pas été enregistré : %q n’est pas une adresse e-mail. Écrivez les adresses de l’artiste seules, séparées par des virgules, comme artiste@example.com.",
	"%s was not saved: a work tells at most %d addresses of its sales.":                                                                     "%s n’a pas été enregistré : une œuvre annonce ses ventes à %d adresses au plus.",
	"%s was not saved: the artist's share must be a percentage from 0 to 100, such as %s, not %q.":                                          "%s n’a pas été enregistré : la part de l’artiste doit être un pourcentage de 0 à 100, comme %s, pas %q.",
	"%s was not saved: its stock changed while you edited it (sales or returns moved it), and is %d now. Check it and save again.":          "%s n’a pas été enregistré : son stock a changé pendant que vous le modifiiez (des ventes ou des retours l’ont fait bouger), il est de %d maintenant. Vérifiez-le et enregistrez de nouveau.",
	"%s was not saved: %s":                               "%s n’a pas été enregistré : %s",
	"Columns caisse does not use, left aside:":           "Colonnes dont caisse ne se sert pas, laissées de côté :",
	"tick “set stock” to set it":                         "cochez « fixer le stock » pour le fixer",
	"The file's stock will be set on existing products.": "Le stock du fichier sera fixé sur les produits existants.",
	"Existing products keep their stock.":                "Les produits existants gardent leur stock.",
	"Check this price before applying.":                  "Vérifiez ce prix avant d’appliquer.",
	"Apply %d change(s)":                                 "Appliquer %d changement(s)",

	// The deliveries.
	"What caisse tells people and systems: the buyer's emails, the team's alerts, Sanity, the shop's webhooks and requests to Stripe.": "Ce que caisse dit aux personnes et aux systèmes : les e-mails de l’acheteur, les alertes de l’équipe, Sanity, les webhooks de la boutique et les demandes à Stripe.",
	"Channel":                     "Canal",
	"Retry every failed delivery": "Réessayer tous les envois échoués",
	"Topic":                       "Sujet",
	"Recipient":                   "Destinataire",
	"next attempt %s":             "prochain essai le %s",
	"Older deliveries →":          "Envois plus anciens →",
	"No delivery matches.":        "Aucun envoi ne correspond.",

	// An early fraud warning on the order page.
	"Early fraud warning: the card issuer reports this payment as fraud (%s), on %s.": "Alerte précoce de fraude : la banque de la carte signale ce paiement comme frauduleux (%s), le %s.",
	" Refund it before it becomes a dispute, and do not ship it.":                     " Remboursez-le avant qu’il ne devienne un litige, et ne l’expédiez pas.",
}
