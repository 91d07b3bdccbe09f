// Package terraform holds the infrastructure of a cz deployment on AWS as
// OpenTofu/Terraform modules (modules/: buckets, iam, cluster, triggers)
// and one example environment (envs/example). The Go code here is only
// its offline test: every module loads, every reference resolves, files
// are formatted, and the IAM policies grant exactly the calls the Go code
// makes. docs/aws.md says how to deploy.
package terraform
