package main

import (
	"strings"
	"testing"
)

// TestBannerCurlsFitTheAuthMode checks that the dev banner's curl commands
// carry what the auth mode accepts: the demo key, nothing, or a JWT.
func TestBannerCurlsFitTheAuthMode(t *testing.T) {
	t.Parallel()
	for mode, want := range map[string]string{
		"apikey": "-H 'Authorization: Bearer tak_demo'",
		"none":   "/items -H 'X-Tenant-ID: demo'\n",
		"jwt":    "-H 'Authorization: Bearer <a JWT from JWT_ISSUER for tenant demo>'",
	} {
		var b strings.Builder
		printBanner(&b, "127.0.0.1:8080", mode, "tak_demo", "admintoken", true, nil)
		curls := b.String()[strings.Index(b.String(), "Try it:"):]
		if !strings.Contains(curls, want) {
			t.Errorf("%s: banner lacks %q:\n%s", mode, want, curls)
		}
		if mode != "apikey" && strings.Contains(curls, "Bearer tak_demo") {
			t.Errorf("%s: a curl carries the demo API key:\n%s", mode, curls)
		}
	}
}
