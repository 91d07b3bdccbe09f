package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// fakeSecretsManager stands in for the Secrets Manager API (JSON 1.1
// protocol: POST /, X-Amz-Target: secretsmanager.GetSecretValue, body
// {"SecretId": ...}), which has no emulator here. It serves the secrets
// it holds and answers ResourceNotFoundException (400) for others.
type fakeSecretsManager struct {
	*httptest.Server
	mu    sync.Mutex
	calls []string // SecretIds asked for
}

func startSecretsManager(t *testing.T, secrets map[string]string) *fakeSecretsManager {
	t.Helper()
	f := &fakeSecretsManager{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if target := r.Header.Get("X-Amz-Target"); r.Method != http.MethodPost || target != "secretsmanager.GetSecretValue" {
			t.Errorf("fake Secrets Manager: %s with X-Amz-Target %q, want POST secretsmanager.GetSecretValue", r.Method, target)
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		if auth := r.Header.Get("Authorization"); !strings.Contains(auth, "/secretsmanager/aws4_request") {
			t.Errorf("fake Secrets Manager: request not signed for secretsmanager: Authorization %q", auth)
		}
		var in struct{ SecretId string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			t.Errorf("fake Secrets Manager: body: %v", err)
		}
		f.mu.Lock()
		f.calls = append(f.calls, in.SecretId)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		s, ok := secrets[in.SecretId]
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": filepath.Base(in.SecretId), "SecretString": s, "VersionId": "v1"})
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSecretsManager) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// sdkEnv points the AWS SDK's default configuration at the fake through
// its standard variables: AWS_ENDPOINT_URL_SECRETS_MANAGER, a region and
// static credentials, and no shared config files.
func sdkEnv(endpoint, dir string) []string {
	return []string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + endpoint,
		"AWS_REGION=eu-west-1", "AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=test", "AWS_SESSION_TOKEN=",
		"AWS_PROFILE=", "AWS_CONFIG_FILE=" + filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

func setenv(t *testing.T, kvs []string) {
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

const (
	arnPrefix   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
	testToken   = "tok-9f8e7d6c5b4a"
	testCABody  = "MIIBcaSECRETbody"
	testCertKey = "NODEKEYmaterial"
)

var testCA = "-----BEGIN CERTIFICATE-----\n" + testCABody + "\n-----END CERTIFICATE-----\n"

// TestSecretFromSecretsManager reads the cluster secret through the AWS
// SDK from a stand-in Secrets Manager: its token and ca_pem reach the
// Config; a missing or empty field, a secret that is not the cluster's
// JSON and an unknown ARN fail with errors naming the ARN and the field;
// CZ_SECRET_ARN next to CZ_TOKEN, CZ_CA_PEM or CZ_CA_FILE is an error;
// and no error carries a secret value.
func TestSecretFromSecretsManager(t *testing.T) {
	full, _ := json.Marshal(map[string]string{"ca_pem": testCA, "cert_pem": "-----BEGIN CERTIFICATE-----\n" + testCertKey, "key_pem": testCertKey, "token": testToken})
	noToken, _ := json.Marshal(map[string]string{"ca_pem": testCA, "cert_pem": testCertKey, "key_pem": testCertKey})
	emptyCA, _ := json.Marshal(map[string]string{"ca_pem": "", "token": testToken})
	sm := startSecretsManager(t, map[string]string{
		arnPrefix + "good":       string(full),
		arnPrefix + "no-token":   string(noToken),
		arnPrefix + "empty-ca":   string(emptyCA),
		arnPrefix + "not-json":   testToken + "{" + testCABody,
		arnPrefix + "number":     `{"token": 97531, "ca_pem": "` + testCABody + `"}`,
		arnPrefix + "plain-text": `"` + testToken + `"`,
	})
	setenv(t, sdkEnv(sm.URL, t.TempDir()))
	base := map[string]string{
		"CZ_TRIGGER": "schedule", "CZ_EXTERNAL_URL": "s3://ext", "CZ_INTERNAL_URL": "s3://int", "CZ_CONTENT_URL": "s3://content",
		"CZ_COORDINATORS": "10.0.1.10:7001",
	}
	load := func(extra ...string) (Config, error) {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for _, kv := range extra {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		noFile := func(name string) ([]byte, error) { return nil, fmt.Errorf("read %s: not expected", name) }
		return Load(context.Background(), func(k string) string { return env[k] }, noFile, SecretsManager)
	}
	leaks := func(err error) {
		t.Helper()
		for _, v := range []string{testToken, testCABody, testCertKey, "97531"} {
			if strings.Contains(err.Error(), v) {
				t.Errorf("error %q carries a secret value (%s)", err, v)
			}
		}
	}

	c, err := load("CZ_SECRET_ARN=" + arnPrefix + "good")
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != testToken || string(c.CAPEM) != testCA || c.SecretARN != arnPrefix+"good" {
		t.Errorf("from the secret: token %q, CA %q; want %q, %q", c.Token, c.CAPEM, testToken, testCA)
	}
	if got := sm.asked(); len(got) != 1 || got[0] != arnPrefix+"good" {
		t.Errorf("Secrets Manager was asked for %v, want the secret once", got)
	}

	for _, tc := range []struct{ secret, want string }{
		{"no-token", `field "token" is missing`},
		{"empty-ca", `field "ca_pem" is empty`},
		{"not-json", "not JSON"},
		{"number", `field "token" is a JSON number`},
		{"plain-text", "a JSON string"},
		{"gone", "ResourceNotFoundException"},
	} {
		arn := arnPrefix + tc.secret
		_, err := load("CZ_SECRET_ARN=" + arn)
		if err == nil || !strings.Contains(err.Error(), arn) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("secret %s: error %v, want one naming the ARN and saying %q", tc.secret, err, tc.want)
			continue
		}
		leaks(err)
		if tc.secret == "gone" {
			var nf *types.ResourceNotFoundException
			if !errors.As(err, &nf) {
				t.Errorf("unknown secret: %v does not wrap the SDK's ResourceNotFoundException", err)
			}
		}
	}

	before := len(sm.asked())
	for _, k := range []string{"CZ_TOKEN", "CZ_CA_PEM", "CZ_CA_FILE"} {
		_, err := load("CZ_SECRET_ARN="+arnPrefix+"good", k+"="+testToken)
		if err == nil || !strings.Contains(err.Error(), "CZ_SECRET_ARN") || !strings.Contains(err.Error(), k) {
			t.Errorf("CZ_SECRET_ARN with %s: error %v, want one naming both", k, err)
			continue
		}
		leaks(err)
	}
	if n := len(sm.asked()) - before; n != 0 {
		t.Errorf("conflicting configurations still asked Secrets Manager %d times", n)
	}

	// Without CZ_SECRET_ARN nothing is read, and the CA must come from
	// the environment.
	calls := 0
	never := func(context.Context, string) (string, error) { calls++; return "", errors.New("not expected") }
	env := map[string]string{"CZ_TOKEN": "t", "CZ_CA_PEM": "PEM"}
	for k, v := range base {
		env[k] = v
	}
	if c, err := Load(context.Background(), func(k string) string { return env[k] }, nil, never); err != nil || c.Token != "t" || calls != 0 {
		t.Errorf("without CZ_SECRET_ARN: %v, token %q, %d secret reads", err, c.Token, calls)
	}
	delete(env, "CZ_CA_PEM")
	if _, err := Load(context.Background(), func(k string) string { return env[k] }, nil, never); err == nil || !strings.Contains(err.Error(), "CZ_SECRET_ARN") {
		t.Errorf("no CA and no secret: %v, want an error pointing at CZ_SECRET_ARN among the sources", err)
	}
}

// TestSecretReadIsBounded checks the cold start's read carries a deadline
// of at most SecretTimeout, and a read that hits it fails the load.
func TestSecretReadIsBounded(t *testing.T) {
	env := map[string]string{
		"CZ_EXTERNAL_URL": "s3://ext", "CZ_INTERNAL_URL": "s3://int", "CZ_CONTENT_URL": "s3://content",
		"CZ_COORDINATORS": "10.0.1.10:7001", "CZ_SECRET_ARN": arnPrefix + "slow",
	}
	var deadline time.Time
	slow := func(ctx context.Context, arn string) (string, error) {
		var ok bool
		if deadline, ok = ctx.Deadline(); !ok {
			return "", errors.New("no deadline")
		}
		return "", context.DeadlineExceeded // as the SDK reports a read that ran out of time
	}
	_, err := Load(context.Background(), func(k string) string { return env[k] }, nil, slow)
	latest := time.Now().Add(SecretTimeout)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), arnPrefix+"slow") {
		t.Errorf("slow secret: %v, want a deadline error naming the ARN", err)
	}
	if deadline.IsZero() || deadline.After(latest) {
		t.Errorf("the read's deadline is %v, want at most %v from the load (%v)", deadline, SecretTimeout, latest)
	}
}
