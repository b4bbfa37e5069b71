package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tenantapi/tenantapi"
	"github.com/tenantapi/tenantapi/postgres"
)

const keysUsage = `tenantapi keys <subcommand> [flags]

Subcommands:
  create TENANT [--name N] [--expires-at RFC3339] [--json]   issue a key (shown once)
  list TENANT [--json]                                       list a tenant's keys (no secrets)
  revoke KEY_ID                                              revoke a key (within 5 s everywhere)
`

// keyOut is a key as the CLI prints it in JSON, the same shape as the admin
// API's; Key is set only when the key was just created.
type keyOut struct {
	ID        string             `json:"id"`
	Key       string             `json:"key,omitempty"`
	TenantID  tenantapi.TenantID `json:"tenant_id"`
	Name      string             `json:"name"`
	CreatedAt time.Time          `json:"created_at"`
	ExpiresAt *time.Time         `json:"expires_at"`
	RevokedAt *time.Time         `json:"revoked_at,omitempty"`
}

func toKeyOut(k tenantapi.APIKey, secret string) keyOut {
	return keyOut{ID: k.ID, Key: secret, TenantID: k.TenantID, Name: k.Name, CreatedAt: k.CreatedAt.UTC(),
		ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt}
}

func cmdKeys(ctx context.Context, env *env, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprint(stderr, "Usage: "+keysUsage)
			return usagef("missing keys subcommand")
		}
		fmt.Fprint(stdout, "Usage: "+keysUsage)
		return nil
	}
	sub := args[0]
	fs := newFlagSet("keys "+sub, "tenantapi "+keysUsage)
	name := fs.String("name", "", "key name (create)")
	expires := fs.String("expires-at", "", "expiry time, RFC 3339 (create)")
	asJSON := fs.Bool("json", false, "print exactly one JSON document")
	pos, done, err := parseFlags(fs, args[1:], stdout, stderr)
	if done || err != nil {
		return err
	}
	switch sub {
	case "create", "list", "revoke":
	default:
		return usagef("unknown keys subcommand %q", sub)
	}
	if len(pos) != 1 {
		return usagef("keys %s takes 1 argument, got %d", sub, len(pos))
	}
	var tenant tenantapi.TenantID
	if sub != "revoke" {
		if tenant, err = tenantapi.ParseTenantID(pos[0]); err != nil {
			return usagef("tenant id %q must match ^[a-z0-9][a-z0-9_]{0,39}$", pos[0])
		}
	} else if !tenantapi.ValidAPIKeyID(pos[0]) {
		return usagef("%q is not a key id (16 characters a-z, 2-7)", pos[0])
	}
	var expiresAt *time.Time
	if *expires != "" {
		t, err := time.Parse(time.RFC3339Nano, *expires)
		if err != nil || !t.After(time.Now()) {
			return usagef("--expires-at must be a future RFC 3339 time such as 2027-01-01T00:00:00Z")
		}
		expiresAt = &t
	}
	if err := env.err(); err != nil {
		return err
	}
	db, err := openDatabase(ctx, env.db(), env.secrets, stderr)
	if err != nil {
		return err
	}
	defer db.close()
	store := postgres.NewKeyStore(db.DB)

	switch sub {
	case "create":
		k, secret, err := store.CreateKey(ctx, tenant, *name, expiresAt)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(toKeyOut(k, secret))
		}
		fmt.Fprintf(stdout, "key id: %s\ntenant: %s\nkey:    %s\n\nThe key is shown only this once; store it now.\n", k.ID, k.TenantID, secret)
		return nil
	case "list":
		keys, err := store.Keys(ctx, tenant)
		if err != nil {
			return err
		}
		if *asJSON {
			out := struct {
				APIKeys []keyOut `json:"api_keys"`
			}{APIKeys: []keyOut{}}
			for _, k := range keys {
				out.APIKeys = append(out.APIKeys, toKeyOut(k, ""))
			}
			return json.NewEncoder(stdout).Encode(out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED\tEXPIRES\tREVOKED")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.CreatedAt.UTC().Format(time.RFC3339), timeOrDash(k.ExpiresAt), timeOrDash(k.RevokedAt))
		}
		return tw.Flush()
	default: // revoke
		if err := store.RevokeKey(ctx, "", pos[0]); err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(map[string]any{"id": pos[0], "revoked": true})
		}
		fmt.Fprintf(stdout, "revoked key %s\n", pos[0])
		return nil
	}
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "tenantapi version")
	if _, done, err := parseFlags(fs, args, stdout, stderr); done || err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tenantapi %s\n", version)
	return nil
}
