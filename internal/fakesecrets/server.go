// Package fakesecrets is a local AWS Secrets Manager endpoint for tests. It
// speaks the service's real wire protocol (AWS JSON 1.1 over HTTP POST, the
// operation in X-Amz-Target) so that code under test reaches it through the
// AWS SDK's own endpoint setting (AWS_ENDPOINT_URL_SECRETS_MANAGER). It
// serves GetSecretValue, which is all tenantapi calls.
package fakesecrets

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Server is a running fake endpoint. Create it with Start; Close stops it.
type Server struct {
	*httptest.Server

	mu      sync.Mutex
	secrets map[string]secret
	calls   map[string]int
	// unsigned counts requests without a SigV4 Authorization header: the
	// SDK always signs, so a non-zero count means something bypassed it.
	unsigned int
}

type secret struct {
	value   string
	version int
}

// Start starts a Server on 127.0.0.1.
func Start() *Server {
	s := &Server{secrets: map[string]secret{}, calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Put creates or replaces the secret string of arn (a new version).
func (s *Server) Put(arn, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[arn]
	s.secrets[arn] = secret{value: value, version: sec.version + 1}
}

// Calls returns how many GetSecretValue calls asked for arn.
func (s *Server) Calls(arn string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[arn]
}

// Unsigned returns how many requests carried no SigV4 signature.
func (s *Server) Unsigned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unsigned
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		s.mu.Lock()
		s.unsigned++
		s.mu.Unlock()
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
		awsError(w, http.StatusBadRequest, "InvalidRequestException", "expected an AWS JSON 1.1 POST")
		return
	}
	if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
		awsError(w, http.StatusBadRequest, "UnknownOperationException", "unsupported operation "+r.Header.Get("X-Amz-Target"))
		return
	}
	var in struct {
		SecretID string `json:"SecretId"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.SecretID == "" {
		awsError(w, http.StatusBadRequest, "InvalidParameterException", "SecretId is required")
		return
	}
	s.mu.Lock()
	s.calls[in.SecretID]++
	sec, ok := s.secrets[in.SecretID]
	s.mu.Unlock()
	if !ok {
		awsError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{
		"ARN":           in.SecretID,
		"Name":          in.SecretID[strings.LastIndex(in.SecretID, ":")+1:],
		"SecretString":  sec.value,
		"VersionId":     fmt.Sprintf("00000000-0000-0000-0000-%012d", sec.version),
		"VersionStages": []string{"AWSCURRENT"},
		"CreatedDate":   float64(time.Now().Unix()),
	})
}

func awsError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", typ)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}
