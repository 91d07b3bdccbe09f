package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretTimeout bounds the cold start's read of the cluster secret, well
// inside Lambda's 10-second init phase.
const SecretTimeout = 5 * time.Second

// SecretGetter returns the SecretString of the Secrets Manager secret arn.
type SecretGetter func(ctx context.Context, arn string) (string, error)

// SecretsManager is the production SecretGetter: GetSecretValue with the
// AWS SDK's default configuration, so the region, the credentials (in
// Lambda, the function role's) and the endpoint come from the process's
// environment; AWS_ENDPOINT_URL_SECRETS_MANAGER points it elsewhere.
func SecretsManager(ctx context.Context, arn string) (string, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return "", err
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", err
	}
	if out.SecretString == nil {
		return "", errors.New("the secret has no SecretString (a binary secret?)")
	}
	return *out.SecretString, nil
}

// clusterSecret holds the fields of the cluster secret the functions use.
// The secret is the one the coordinators and executors read at boot
// (terraform/modules/cluster): JSON with ca_pem, cert_pem, key_pem and
// token; cert_pem and key_pem are the nodes' and stay unread here.
type clusterSecret struct {
	CAPEM *string `json:"ca_pem"`
	Token *string `json:"token"`
}

// Load is the bootstrap's configuration: FromEnv, and when CZ_SECRET_ARN
// names the cluster secret, its token and ca_pem read through get
// (SecretsManager in the bootstrap) within SecretTimeout. It runs once per
// container, at cold start. Errors name the ARN and the field but never
// carry the secret's contents.
func Load(ctx context.Context, getenv func(string) string, readFile func(string) ([]byte, error), get SecretGetter) (Config, error) {
	c, err := FromEnv(getenv, readFile)
	if err != nil || c.SecretARN == "" {
		return c, err
	}
	ctx, cancel := context.WithTimeout(ctx, SecretTimeout)
	defer cancel()
	s, err := get(ctx, c.SecretARN)
	if err != nil {
		return c, fmt.Errorf("CZ_SECRET_ARN: reading secret %s: %w", c.SecretARN, err)
	}
	token, ca, err := parseClusterSecret(s)
	if err != nil {
		return c, fmt.Errorf("CZ_SECRET_ARN: secret %s: %w", c.SecretARN, err)
	}
	c.Token, c.CAPEM = token, []byte(ca)
	return c, nil
}

// parseClusterSecret takes token and ca_pem from the secret's JSON. Its
// errors describe the shape, not the contents: a syntax error reports an
// offset, never the offending text.
func parseClusterSecret(s string) (token, ca string, err error) {
	var sec clusterSecret
	if err := json.Unmarshal([]byte(s), &sec); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax):
			return "", "", fmt.Errorf("SecretString is not JSON (syntax error at byte %d); want an object with ca_pem and token", syntax.Offset)
		case errors.As(err, &typ) && typ.Field != "":
			return "", "", fmt.Errorf("field %q is a JSON %s, want a string", typ.Field, typ.Value)
		default:
			return "", "", fmt.Errorf("SecretString is not a JSON object with ca_pem and token (a JSON %s)", jsonKind(s))
		}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"token", sec.Token}, {"ca_pem", sec.CAPEM}} {
		if f.v == nil {
			return "", "", fmt.Errorf("field %q is missing", f.name)
		}
		if *f.v == "" {
			return "", "", fmt.Errorf("field %q is empty", f.name)
		}
	}
	return *sec.Token, *sec.CAPEM, nil
}

// jsonKind names the type of a valid JSON value without showing it.
func jsonKind(s string) string {
	var v any
	json.Unmarshal([]byte(s), &v)
	switch v.(type) {
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return "value"
}
