package awsfake

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	version "github.com/hashicorp/go-version"
)

// Terraform's S3 backend (developer.hashicorp.com/terraform/language/backend/s3) keeps
// the state in an S3 object and, with dynamodb_table, locks it with a DynamoDB item:
//
//   - lock: PutItem {LockID: "<bucket>/<key>", Info: <lock info JSON>} with
//     ConditionExpression attribute_not_exists(LockID); a held lock answers
//     ConditionalCheckFailedException and Terraform reads the holder's Info with GetItem;
//   - unlock (and force-unlock): GetItem of the lock, then DeleteItem;
//   - after writing the state: PutItem {LockID: "<bucket>/<key>-md5", Digest: <hex MD5>},
//     which every later read of the state checks.
//
// The backend's settings for custom endpoints changed in Terraform 1.6, when it moved
// from aws-sdk-go to aws-sdk-go-v2.

// S3BackendLockHashKey is the hash key (type S) the S3 backend's lock table must have.
const S3BackendLockHashKey = "LockID"

// S3BackendLock is a lock as the S3 backend keeps it in its lock item's Info: the JSON of
// Terraform's and OpenTofu's statemgr.LockInfo, whose fields come in this order.
//
// Its exact bytes matter. OpenTofu (1.12.6, internal/backend/remote-state/s3/client.go
// dynamoDBUnlock) deletes the lock item, on unlock and force-unlock, with the
// ConditionExpression `Info = :info`, :info being the holder's lock info decoded and
// encoded again: an Info written any other way (keys in another order, another time
// format) fails that condition with ConditionalCheckFailedException and the lock stays.
// Terraform deletes the item unconditionally.
type S3BackendLock struct {
	ID        string
	Operation string
	Info      string
	Who       string
	Version   string
	Created   time.Time
	Path      string
}

// Item is the lock table's item for l: LockID (the backend's "<bucket>/<key>", l.Path)
// and Info, as the S3 backend writes them.
func (l S3BackendLock) Item() (Item, error) {
	info, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("s3 backend lock %s: %w", l.ID, err)
	}
	return Item{S3BackendLockHashKey: S(l.Path), "Info": S(string(info))}, nil
}

// CreateS3Backend creates what Terraform's S3 backend expects to exist before `terraform
// init`: the state bucket and, unless lockTable is empty, the DynamoDB lock table with
// hash key LockID of type S. An existing bucket or table is left alone.
func (s *Server) CreateS3Backend(bucket, lockTable string) error {
	if err := s.CreateBucket(bucket); err != nil {
		return err
	}
	if lockTable == "" {
		return nil
	}
	s.mu.Lock()
	_, exists := s.ddb.tables[lockTable]
	s.mu.Unlock()
	if !exists {
		s.PutTable(Table{Name: lockTable, HashKey: S3BackendLockHashKey, HashKeyType: "S"})
	}
	return nil
}

// s3BackendEndpointsVersion is the first Terraform whose S3 backend takes the
// `endpoints` map and `use_path_style` instead of the flat `endpoint`,
// `dynamodb_endpoint`, `sts_endpoint` and `force_path_style` (Terraform v1.6.0
// changelog, "backend/s3").
var s3BackendEndpointsVersion = version.Must(version.NewVersion("1.6.0"))

// S3BackendConfig returns the settings that point Terraform's S3 backend at the
// sandbox server at endpoint (Server.URL()), as key=value strings: pass each as its own
// `terraform init -backend-config=<kv>` argument (tfexec.BackendConfig(kv) with
// terraform-exec) to a configuration declaring `backend "s3" {}`. lockTable may be
// empty for a backend without locking.
//
// tfVersion ("1.5.7", "v1.11.4") selects the form. Before 1.6 the endpoints are the
// flat settings endpoint, dynamodb_endpoint, sts_endpoint and iam_endpoint with
// force_path_style=true. From 1.6 on they are one attribute map; -backend-config parses
// the value of a setting that is not a string, number or bool as an HCL expression
// (configValueFromCLI in Terraform's internal/command/meta_config.go), so the map
// travels as `endpoints={s3="…",dynamodb="…",sts="…",iam="…"}`, with use_path_style=true.
// Verified with Terraform 1.5.7 and 1.11.4 and OpenTofu 1.12.6, whose S3 backend takes
// the same settings from 1.6 on (TestTerraformS3Backend): pass OpenTofu's version.
//
// Both forms set skip_metadata_api_check (Terraform never probes the EC2 instance
// metadata service) and skip_region_validation (any region name works). Credentials
// validation stays on: Terraform calls the sandbox's sts:GetCallerIdentity with the
// credentials it is given, which are not part of the backend settings. Terraform reads
// them from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN in its
// environment, as it does on AWS.
func S3BackendConfig(tfVersion, endpoint, bucket, key, lockTable, region string) ([]string, error) {
	v, err := version.NewVersion(tfVersion)
	if err != nil {
		return nil, fmt.Errorf("s3 backend config: terraform version %q: %w", tfVersion, err)
	}
	if err := checkEndpoint(endpoint); err != nil {
		return nil, fmt.Errorf("s3 backend config: %w", err)
	}
	for name, val := range map[string]string{"bucket": bucket, "key": key, "region": region} {
		if val == "" {
			return nil, fmt.Errorf("s3 backend config: %s is empty", name)
		}
	}
	kv := []string{"bucket=" + bucket, "key=" + key, "region=" + region}
	if lockTable != "" {
		kv = append(kv, "dynamodb_table="+lockTable)
	}
	if v.Core().LessThan(s3BackendEndpointsVersion) {
		kv = append(kv,
			"endpoint="+endpoint,
			"dynamodb_endpoint="+endpoint,
			"sts_endpoint="+endpoint,
			"iam_endpoint="+endpoint,
			"force_path_style=true",
		)
	} else {
		kv = append(kv,
			fmt.Sprintf(`endpoints={s3=%q,dynamodb=%q,sts=%q,iam=%q}`, endpoint, endpoint, endpoint, endpoint),
			"use_path_style=true",
		)
	}
	return append(kv, "skip_metadata_api_check=true", "skip_region_validation=true"), nil
}

// checkEndpoint accepts an http(s) URL that can be written as an HCL string literal
// without escapes: no quotes, backslashes or template sequences.
func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("endpoint %q: want an http:// or https:// URL", endpoint)
	}
	if strings.ContainsAny(endpoint, "\"\\") || strings.Contains(endpoint, "${") || strings.Contains(endpoint, "%{") {
		return fmt.Errorf("endpoint %q: quotes, backslashes, ${ and %%{ are not allowed", endpoint)
	}
	return nil
}
