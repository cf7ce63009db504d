package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks' headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a message's timestamp may be from the
// receiver's clock, either way, before Verify refuses it as a replay.
const DefaultTolerance = 5 * time.Minute

// secretPrefix marks a Standard Webhooks symmetric secret.
const secretPrefix = "whsec_"

// Errors of Verify.
var (
	// ErrMissingHeaders means a webhook header is missing or empty.
	ErrMissingHeaders = errors.New("webhook-id, webhook-timestamp or webhook-signature missing")
	// ErrTimestamp means the timestamp is unreadable or outside the tolerance.
	ErrTimestamp = errors.New("webhook-timestamp too old, in the future, or unreadable")
	// ErrSignature means no signature matches the message with the key.
	ErrSignature = errors.New("no webhook-signature matches")
)

// DecodeSecret returns the key of a Standard Webhooks secret: whsec_
// followed by 24 to 64 bytes in base64. Its errors never quote the secret.
func DecodeSecret(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(secret), secretPrefix)
	if !ok {
		return nil, errors.New("a signing secret must start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(rest)
	}
	if err != nil {
		return nil, errors.New("the part of a signing secret after whsec_ must be base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("a signing secret's key must be 24 to 64 bytes, not %d", len(key))
	}
	return key, nil
}

// Sign returns the webhook-signature of a message: "v1," and the base64 of
// HMAC-SHA256(key, id + "." + timestamp + "." + body), timestamp in Unix
// seconds.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, strconv.FormatInt(timestamp, 10), body))
}

func mac(key []byte, id, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a received message as Standard Webhooks asks a receiver to:
// the three headers present, the timestamp within tolerance of now (0 for
// DefaultTolerance), and one of the space-separated v1 signatures matching
// the body exactly as received. It compares in constant time.
func Verify(key []byte, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(secs, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	want := mac(key, id, ts, body)
	for _, sig := range strings.Fields(sigs) {
		version, encoded, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue // another scheme (v1a) or a malformed entry
		}
		got, err := base64.StdEncoding.DecodeString(encoded)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignature
}
