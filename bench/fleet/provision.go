package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// provisionResult is the time to create tenants through the admin API.
type provisionResult struct {
	Method      string  `json:"method"`
	Tenants     int     `json:"tenants"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
}

func provision(args []string) (any, error) {
	fs := flag.NewFlagSet("provision", flag.ExitOnError)
	url := fs.String("url", "", "tenantapi's base URL")
	token := fs.String("admin-token", "", "admin token")
	n := fs.Int("n", 1000, "tenants to create")
	concurrency := fs.Int("concurrency", 4, "creates in flight")
	prefix := fs.String("prefix", "prov", "tenant ids are <prefix><number>")
	fs.Parse(args)
	if *url == "" || *token == "" {
		return nil, fmt.Errorf("provision needs --url and --admin-token")
	}
	client := &http.Client{Timeout: 60 * time.Second}
	var (
		next     atomic.Int64
		errs     atomic.Int64
		firstErr sync.Once
		first    string
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range *concurrency {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(*n) {
					return
				}
				body := fmt.Sprintf(`{"id":"%s%05d","name":"Provisioned %d"}`, *prefix, i, i)
				req, _ := http.NewRequest("POST", *url+"/admin/tenants", bytes.NewBufferString(body))
				req.Header.Set("Authorization", "Bearer "+*token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				msg := ""
				if err != nil {
					msg = err.Error()
				} else {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						msg = fmt.Sprintf("%d %s", resp.StatusCode, b)
					}
				}
				if msg != "" {
					errs.Add(1)
					firstErr.Do(func() { first = msg })
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	return provisionResult{Method: "admin API (POST /admin/tenants)", Tenants: *n, Concurrency: *concurrency,
		Seconds: secs, PerSecond: float64(*n) / secs, Errors: int(errs.Load()), FirstError: first}, nil
}
