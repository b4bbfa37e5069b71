// Package awssecrets reads secrets from AWS Secrets Manager through
// aws-sdk-go-v2 and keeps them while the process is warm. Secret values
// never appear in its errors.
package awssecrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// DefaultTTL bounds how long a secret is kept: short enough that a rotated
// secret is picked up soon even without an authentication failure.
const DefaultTTL = 5 * time.Minute

// Cache fetches secret strings by ARN and keeps each for a bounded TTL.
// Get never returns a value older than the TTL; Refresh forgets one so the
// next Get fetches it again (after a rotation). It is safe for concurrent use.
type Cache struct {
	client  *secretsmanager.Client
	ttl     time.Duration
	fetches atomic.Int64

	mu      sync.Mutex
	entries map[string]entry
}

type entry struct {
	value   string
	fetched time.Time
}

// New returns a Cache using the AWS SDK's default configuration: region,
// credentials and endpoint (AWS_ENDPOINT_URL_SECRETS_MANAGER among them) come
// from the environment as the SDK reads it. ttl <= 0 means DefaultTTL.
func New(ctx context.Context, ttl time.Duration) (*Cache, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	return NewWithConfig(cfg, ttl), nil
}

// NewWithConfig returns a Cache over an explicit AWS configuration.
func NewWithConfig(cfg aws.Config, ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Cache{client: secretsmanager.NewFromConfig(cfg), ttl: ttl, entries: map[string]entry{}}
}

// Fetches returns how many times the cache called Secrets Manager.
func (c *Cache) Fetches() int64 { return c.fetches.Load() }

// String returns the secret string of arn, from the cache when it is fresh.
func (c *Cache) String(ctx context.Context, arn string) (string, error) {
	c.mu.Lock()
	e, ok := c.entries[arn]
	c.mu.Unlock()
	if ok && time.Since(e.fetched) < c.ttl {
		return e.value, nil
	}
	out, err := c.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	c.fetches.Add(1)
	if err != nil {
		return "", fmt.Errorf("reading secret %s: %w", arn, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("secret %s has no string value", arn)
	}
	c.mu.Lock()
	c.entries[arn] = entry{value: *out.SecretString, fetched: time.Now()}
	c.mu.Unlock()
	return *out.SecretString, nil
}

// Refresh forgets the cached value of arn.
func (c *Cache) Refresh(arn string) {
	c.mu.Lock()
	delete(c.entries, arn)
	c.mu.Unlock()
}

// DBCredentials is a database secret as RDS and Secrets Manager's rotation
// templates write it. An RDS-managed master secret holds only username and
// password; the rest comes from the configuration.
type DBCredentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	DBName   string `json:"dbname"`
}

// UnmarshalJSON accepts port as a number or a string, as both occur.
func (d *DBCredentials) UnmarshalJSON(b []byte) error {
	var raw struct {
		Username string          `json:"username"`
		Password string          `json:"password"`
		Host     string          `json:"host"`
		Port     json.RawMessage `json:"port"`
		DBName   string          `json:"dbname"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return errors.New("the secret is not a JSON object with username and password")
	}
	*d = DBCredentials{Username: raw.Username, Password: raw.Password, Host: raw.Host, DBName: raw.DBName}
	if len(raw.Port) > 0 && string(raw.Port) != "null" {
		s := string(raw.Port)
		if uq, err := strconv.Unquote(s); err == nil {
			s = uq
		}
		p, err := strconv.Atoi(s)
		if err != nil || p <= 0 || p > 65535 {
			return errors.New("the secret's port is not a port number")
		}
		d.Port = p
	}
	return nil
}

// DBCredentials returns the parsed database secret of arn. username and
// password are required.
func (c *Cache) DBCredentials(ctx context.Context, arn string) (DBCredentials, error) {
	s, err := c.String(ctx, arn)
	if err != nil {
		return DBCredentials{}, err
	}
	var d DBCredentials
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		// The decoder's own messages quote the input; say only what is wrong.
		var shape *json.SyntaxError
		if errors.As(err, &shape) {
			err = errors.New("the secret is not a JSON object with username and password")
		}
		return DBCredentials{}, fmt.Errorf("secret %s: %w", arn, err)
	}
	if d.Username == "" || d.Password == "" {
		return DBCredentials{}, fmt.Errorf("secret %s: username and password are required", arn)
	}
	return d, nil
}
