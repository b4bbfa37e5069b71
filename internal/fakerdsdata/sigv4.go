package fakerdsdata

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/httpbinding"
)

// signingService is the SigV4 signing name of the Data API.
const signingService = "rds-data"

// incompleteAuthorization is the AWS front end's complaint about an
// Authorization header that is not a whole SigV4 one.
const incompleteAuthorization = "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."

// maxSkew is how far a request's X-Amz-Date may be from the server's
// clock, as with every AWS service.
const maxSkew = 15 * time.Minute

// checkSignature refuses a request that is not SigV4-signed for rds-data.
// The Authorization header must name the algorithm, a credential scoped to
// <key id>/<date>/<region>/rds-data/aws4_request, the signed headers
// (host and x-amz-date among them) and a signature; X-Amz-Date must match
// the scope's date and be within 15 minutes. When the key id is one of
// accessKeys, the signature itself is recomputed from the request and must
// match; an unknown key id is refused then. It reports whether the request
// carried any signature at all.
func checkSignature(r *http.Request, body []byte, accessKeys map[string]string, region string, now time.Time) (signed bool, err *apiError) {
	auth := r.Header.Get("Authorization")
	const algorithm = "AWS4-HMAC-SHA256"
	if auth == "" {
		return false, newError("MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	rest, ok := strings.CutPrefix(auth, algorithm+" ")
	if !ok {
		return true, newError("IncompleteSignatureException", "%s Authorization=%s", incompleteAuthorization, firstWord(auth))
	}
	parts := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		parts[k] = v
	}
	credential, signedList, signature := parts["Credential"], parts["SignedHeaders"], parts["Signature"]
	if credential == "" || signedList == "" || signature == "" {
		return true, newError("IncompleteSignatureException", "%s Authorization=%s", incompleteAuthorization, algorithm)
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return true, newError("IncompleteSignatureException", "Credential should be scoped to a valid region, not ''. ")
	}
	keyID, date, scopeRegion, service := scope[0], scope[1], scope[2], scope[3]
	if service != signingService {
		return true, newError("InvalidSignatureException", "Credential should be scoped to correct service: '%s'. ", signingService)
	}
	if region != "" && scopeRegion != region {
		return true, newError("InvalidSignatureException", "Credential should be scoped to a valid region, not '%s'. ", scopeRegion)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	when, perr := time.Parse("20060102T150405Z", amzDate)
	if perr != nil {
		return true, newError("IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if !strings.HasPrefix(amzDate, date) {
		return true, newError("InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", date, amzDate[:8], amzDate)
	}
	if d := now.Sub(when); d > maxSkew || d < -maxSkew {
		return true, newError("InvalidSignatureException", "Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-maxSkew).UTC().Format("20060102T150405Z"), now.UTC().Format("20060102T150405Z"))
	}
	signedHeaders := strings.Split(signedList, ";")
	if !slices.Contains(signedHeaders, "host") || !slices.Contains(signedHeaders, "x-amz-date") {
		return true, newError("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	if len(accessKeys) == 0 {
		return true, nil
	}
	secret, known := accessKeys[keyID]
	if !known {
		return true, newError("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	want := computeSignature(r, body, signedHeaders, secret, amzDate, date, scopeRegion)
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return true, newError("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return true, nil
}

// computeSignature is the SigV4 signature of r over signedHeaders, as the
// service recomputes it from what it received.
func computeSignature(r *http.Request, body []byte, signedHeaders []string, secret, amzDate, date, region string) string {
	var canon strings.Builder
	canon.WriteString(r.Method + "\n")
	canon.WriteString(httpbinding.EscapePath(r.URL.EscapedPath(), false) + "\n")
	canon.WriteString(canonicalQuery(r) + "\n")
	for _, name := range signedHeaders {
		canon.WriteString(name + ":" + headerValue(r, name) + "\n")
	}
	canon.WriteString("\n" + strings.Join(signedHeaders, ";") + "\n")
	// The signer hashes the body, or signs the hash it sent in
	// X-Amz-Content-Sha256 when it sends one.
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	canon.WriteString(payload)

	scope := date + "/" + region + "/" + signingService + "/aws4_request"
	canonSum := sha256.Sum256([]byte(canon.String()))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(canonSum[:])

	key := hmacSHA256([]byte("AWS4"+secret), date)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, signingService)
	key = hmacSHA256(key, "aws4_request")
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

// headerValue is a signed header's canonical value: its values trimmed,
// inner runs of spaces collapsed, joined by commas. Go's server keeps Host
// and Content-Length out of r.Header.
func headerValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		if len(r.Header.Values("Content-Length")) == 0 {
			return strconv.FormatInt(r.ContentLength, 10)
		}
	}
	values := r.Header.Values(name)
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

func canonicalQuery(r *http.Request) string {
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			pairs = append(pairs, httpbinding.EscapePath(k, true)+"="+httpbinding.EscapePath(v, true))
		}
	}
	return strings.Join(pairs, "&")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}
