package smtp

import "strings"

// declineWords says, in the customer's words and in lang, why their
// payment was declined and what to do, for a Stripe decline code or error
// code (such as insufficient_funds or expired_card); "" for a code caisse
// has no words for, whose email then quotes Stripe's message.
func declineWords(code, lang string) string {
	w, ok := declines[strings.ToLower(strings.TrimSpace(code))]
	if !ok {
		return ""
	}
	if lang == "fr" {
		return w[1]
	}
	return w[0]
}

// Explanations shared by several codes, {English, French}.
var (
	// bankDeclined is said for every refusal the bank does not explain,
	// and for those it explains to the shop only (a card reported lost or
	// stolen, a payment it suspects): the customer is never told the bank
	// suspects them, as the bank may be wrong and the shop cannot know.
	bankDeclined = [2]string{
		"Your bank declined the payment. Please pay with another card, or contact your bank to find out why.",
		"Votre banque a refusé le paiement. Payez avec une autre carte, ou contactez votre banque pour en connaître la raison.",
	}
	tryLater = [2]string{
		"Your bank could not approve the payment just now. Please try again in a few minutes.",
		"Votre banque n’a pas pu valider le paiement pour l’instant. Réessayez dans quelques minutes.",
	}
	wrongCode = [2]string{
		"The security code you entered (the 3 or 4 digits on your card) is not correct. Please check it and try again.",
		"Le cryptogramme saisi (les 3 ou 4 chiffres sur votre carte) n’est pas correct. Vérifiez-le et réessayez.",
	}
	wrongNumber = [2]string{
		"The card number you entered is not correct. Please check it and try again.",
		"Le numéro de carte saisi n’est pas correct. Vérifiez-le et réessayez.",
	}
	wrongExpiry = [2]string{
		"The expiry date you entered is not correct. Please check it and try again.",
		"La date d’expiration saisie n’est pas correcte. Vérifiez-la et réessayez.",
	}
	wrongPIN = [2]string{
		"The PIN you entered is not correct. Please try again.",
		"Le code PIN saisi n’est pas correct. Réessayez.",
	}
	limitReached = [2]string{
		"This payment goes over the spending limit of your card for now. Please pay with another card, or ask your bank to raise the limit.",
		"Ce paiement dépasse le plafond de dépenses de votre carte pour le moment. Payez avec une autre carte, ou demandez à votre banque de relever ce plafond.",
	}
	notConfirmed = [2]string{
		"Your bank asked you to confirm this payment (in its app, or with a code it sent you), and it was not confirmed. Please try again, and confirm the payment when your bank asks.",
		"Votre banque a demandé de confirmer ce paiement (dans son application, ou avec un code envoyé), et il n’a pas été confirmé. Réessayez, et confirmez le paiement quand votre banque le demande.",
	}
)

// declines are the explanations of Stripe's decline codes (a charge's
// decline_code) and of the card error codes that say why a payment was
// declined, {English, French}. See
// https://docs.stripe.com/declines/codes and
// https://docs.stripe.com/error-codes.
var declines = map[string][2]string{
	"insufficient_funds": {
		"Your card does not have enough funds for this payment. Please pay with another card or another payment method.",
		"Les fonds disponibles sur votre carte ne suffisent pas pour ce paiement. Payez avec une autre carte ou un autre moyen de paiement.",
	},
	"expired_card": {
		"Your card has expired. Please pay with another card.",
		"Votre carte est expirée. Payez avec une autre carte.",
	},
	"incorrect_cvc":        wrongCode,
	"invalid_cvc":          wrongCode,
	"incorrect_number":     wrongNumber,
	"invalid_number":       wrongNumber,
	"invalid_expiry_month": wrongExpiry,
	"invalid_expiry_year":  wrongExpiry,
	"incorrect_zip": {
		"The postal code you entered does not match your card’s. Please check it and try again.",
		"Le code postal saisi ne correspond pas à celui de votre carte. Vérifiez-le et réessayez.",
	},
	"incorrect_pin": wrongPIN,
	"invalid_pin":   wrongPIN,
	"pin_try_exceeded": {
		"The PIN was entered wrongly too many times. Please pay with another card, or contact your bank.",
		"Le code PIN a été mal saisi trop de fois. Payez avec une autre carte, ou contactez votre banque.",
	},

	"card_velocity_exceeded":          limitReached,
	"withdrawal_count_limit_exceeded": limitReached,
	"card_decline_rate_limit_exceeded": {
		"This card was declined too many times in a short while. Please wait 24 hours before trying it again, or pay with another card.",
		"Cette carte a été refusée trop de fois en peu de temps. Attendez 24 heures avant de la réessayer, ou payez avec une autre carte.",
	},

	"processing_error": {
		"An error occurred while your card was being processed. Please try again in a few minutes; if it happens again, pay with another card.",
		"Une erreur est survenue pendant le traitement de votre carte. Réessayez dans quelques minutes ; si elle se reproduit, payez avec une autre carte.",
	},
	"try_again_later":      tryLater,
	"issuer_not_available": tryLater,
	"reenter_transaction":  tryLater,
	"approve_with_id": {
		"The payment could not be approved. Please try again; if it is declined again, contact your bank.",
		"Le paiement n’a pas pu être autorisé. Réessayez ; s’il est de nouveau refusé, contactez votre banque.",
	},

	"authentication_required":               notConfirmed,
	"payment_intent_authentication_failure": notConfirmed,

	"currency_not_supported": {
		"Your card cannot pay in this currency. Please pay with another card.",
		"Votre carte ne permet pas de payer dans cette devise. Payez avec une autre carte.",
	},
	"card_not_supported": {
		"Your card does not allow this kind of purchase. Please pay with another card, or contact your bank.",
		"Votre carte ne permet pas ce type d’achat. Payez avec une autre carte, ou contactez votre banque.",
	},
	"duplicate_transaction": {
		"A payment of the same amount with the same card was made just before, so your bank declined this one as a possible duplicate. Please check whether the first one went through before trying again.",
		"Un paiement du même montant avec la même carte venait d’être fait : votre banque a refusé celui-ci comme un doublon possible. Vérifiez si le premier est passé avant de réessayer.",
	},
	"invalid_amount": {
		"Your bank declined the amount of this payment. Please contact your bank, or pay with another card.",
		"Votre banque a refusé le montant de ce paiement. Contactez votre banque, ou payez avec une autre carte.",
	},
	"testmode_decline": {
		"The card used is a test card, which cannot pay for real. Please pay with a real card.",
		"La carte utilisée est une carte de test, qui ne permet pas de vrais paiements. Payez avec une vraie carte.",
	},

	"card_declined":                     bankDeclined,
	"generic_decline":                   bankDeclined,
	"do_not_honor":                      bankDeclined,
	"do_not_try_again":                  bankDeclined,
	"call_issuer":                       bankDeclined,
	"no_action_taken":                   bankDeclined,
	"transaction_not_allowed":           bankDeclined,
	"not_permitted":                     bankDeclined,
	"service_not_allowed":               bankDeclined,
	"restricted_card":                   bankDeclined,
	"invalid_account":                   bankDeclined,
	"new_account_information_available": bankDeclined,
	"revocation_of_authorization":       bankDeclined,
	"revocation_of_all_authorizations":  bankDeclined,
	"stop_payment_order":                bankDeclined,
	"lost_card":                         bankDeclined,
	"stolen_card":                       bankDeclined,
	"pickup_card":                       bankDeclined,
	"fraudulent":                        bankDeclined,
	"merchant_blacklist":                bankDeclined,
	"security_violation":                bankDeclined,
}
