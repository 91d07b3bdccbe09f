// Command czlambda is the cz Lambda function: the `bootstrap` binary of
// the provided.al2023 runtime. One binary serves both triggers (package
// trigger): the EventBridge schedule (Daily Runner) and zone-list uploads
// (New Zone Batch Runner); CZ_TRIGGER restricts a deployment to one.
// Its configuration comes from the environment (trigger.FromEnv) and,
// when CZ_SECRET_ARN is set, the token and CA from that Secrets Manager
// secret, read once at cold start (trigger.Load).
//
//	CGO_ENABLED=1 GOOS=linux GOARCH=amd64 go build -tags lambda.norpc -o bootstrap ./cmd/czlambda
package main

import (
	"context"
	"log/slog"
	"os"
	_ "time/tzdata" // CZ_TIMEZONE without the OS's zoneinfo

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/celebrity-zones/cz/trigger"
)

func main() {
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	cfg, err := trigger.Load(context.Background(), os.Getenv, os.ReadFile, trigger.SecretsManager)
	if err != nil {
		slog.Error("configuration", "err", err)
		os.Exit(1)
	}
	if cfg.SecretARN != "" {
		slog.Info("token and CA read from the cluster secret", "secret", cfg.SecretARN)
	}
	sub, err := trigger.DialCoordinators(cfg)
	if err != nil {
		slog.Error("coordinators", "err", err)
		os.Exit(1)
	}
	defer sub.Close()
	lambda.Start(trigger.New(cfg, sub).Invoke)
}
