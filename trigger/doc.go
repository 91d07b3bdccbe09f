// Package trigger owns the AWS Lambda side of the pipeline: the handlers
// that turn an EventBridge schedule into a Daily Runner job and a zone-list
// upload (S3 ObjectCreated) into a validated New Celebrity Zone Batch
// Runner job. They replace the seed's Lambdas that started transient EMR
// clusters with boto3.
//
// Events arrive at least once, so every submission carries an idempotency
// key derived from the event (the EventBridge event id; the S3 bucket, key
// and sequencer): a repeated delivery returns the first job instead of
// starting a second one.
//
// The handlers reach the coordinator through the Submitter interface. In
// production that is the cluster's client, coordinator.Client (gRPC, with
// TLS and a bearer token; DialCoordinators); tests also use
// EngineSubmitter over an engine running in the test's process. cmd/czlambda is the bootstrap binary for
// the provided.al2023 runtime; docs/aws.md says how it is deployed. Its
// configuration is the environment (FromEnv) plus, with CZ_SECRET_ARN, the
// token and CA of the cluster's Secrets Manager secret, read once at cold
// start (Load).
package trigger
