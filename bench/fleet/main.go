// Command fleet measures tenantapi's fleet operations and prints each
// result as one JSON document:
//
//	fleet provision --url URL --admin-token T --n 1000 [--concurrency 4]
//	    creates tenants through the admin API (POST /admin/tenants)
//	fleet migrate --db OWNER_URL [--runtime-db RUNTIME_URL] [--concurrency 4]
//	    applies one new tenant migration (a column with a default) to every
//	    tenant, through the product's migrator, then runs it again with
//	    nothing left to do
//	fleet lambda --bootstrap B --emulator E --db-host … --tenant T --key K --item I
//	    cold start and warm invocations under the Runtime Interface Emulator
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fleet provision|migrate|lambda [flags]")
		os.Exit(2)
	}
	var (
		res any
		err error
	)
	switch os.Args[1] {
	case "provision":
		res, err = provision(os.Args[2:])
	case "migrate":
		res, err = migrate(os.Args[2:])
	case "lambda":
		res, err = coldStart(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(res)
}
