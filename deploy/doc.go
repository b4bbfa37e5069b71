// Package deploy holds the AWS deployment of tenantapi and the tests that
// keep it honest. It has no Go API.
//
//   - aurora.yaml (CloudFormation): the Aurora PostgreSQL Serverless v2
//     database with the RDS Data API on, its secrets, security groups and
//     the Secrets Manager endpoint.
//   - ../template.yaml (AWS SAM): ApiFunction behind an API Gateway REST API
//     and OpsFunction for direct invocations, both from one bootstrap binary
//     built by the Makefile targets that sam build calls, which also package
//     the application set of TENANT_MIGRATIONS_DIR next to it. Its
//     DatabaseAccess parameter puts the functions in the VPC on PostgreSQL
//     connections (direct) or outside it on the Data API (data-api), each
//     with its own least-privilege role.
//
// The tests validate every resource of both templates, under every
// combination of the parameters their conditions read (both DatabaseAccess
// variants among them), against the published CloudFormation and SAM
// resource schemas (bundled with github.com/awslabs/goformation/v7),
// cross-check the two templates with each other and with what the code
// reads, check that DatabaseAccess changes nothing but the functions'
// network, role and connection settings, and run the Makefile targets that
// sam build runs, checking that they package the same migration files that
// tenantapi reads from a folder.
package deploy
