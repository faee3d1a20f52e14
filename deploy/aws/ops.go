package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/medic-ops/medic/recovery"
)

// The recovery actions medic runs on AWS: Lambda code updates from S3 (the runbook's
// nuclear option), resetting an alarm, cleaning test data where the environment allows it.

var (
	_ recovery.LambdaUpdater = (*Provider)(nil)
	_ recovery.AlarmSetter   = (*Provider)(nil)
	_ recovery.TableCleaner  = (*Provider)(nil)
)

const (
	// defaultUpdatePoll is WaitUpdated's interval when the caller gives none. Lambda
	// updates take seconds to a few minutes; the SDK's FunctionUpdatedV2 waiter starts
	// at 1 second.
	defaultUpdatePoll = 2 * time.Second
	// maxStateReason is SetAlarmState's StateReason limit, "Length Constraints: Minimum
	// length of 0. Maximum length of 1023." (CloudWatch API reference, SetAlarmState).
	maxStateReason = 1023
	// deleteConcurrency bounds the DeleteItem calls in flight while cleaning a table:
	// enough to clean test data quickly, few enough to leave the table's write capacity
	// (and an on-demand table's throttling) to the tests using it.
	deleteConcurrency = 4
)

// RefusedError is an action medic declined before calling AWS: a table of an
// environment without allow_destructive, an alarm reset without a reason.
type RefusedError struct {
	Service   string
	Operation string
	Resource  string
	Reason    string
}

func (e *RefusedError) Error() string { return e.Summary() }

// Summary says what was refused and why, e.g. "DynamoDB: DeleteAllItems refused
// (prod-sentiment-items): …".
func (e *RefusedError) Summary() string {
	s := e.Service + ": " + e.Operation + " refused"
	if e.Resource != "" {
		s += " (" + e.Resource + ")"
	}
	return s + ": " + e.Reason
}

// UpdateFailedError is a Lambda code update that ended with LastUpdateStatus Failed.
type UpdateFailedError struct {
	Function string
	// Reason and ReasonCode are Lambda's LastUpdateStatusReason and
	// LastUpdateStatusReasonCode.
	Reason     string
	ReasonCode string
}

func (e *UpdateFailedError) Error() string { return e.Summary() }

// Summary says which function's update failed and Lambda's reason.
func (e *UpdateFailedError) Summary() string {
	s := "Lambda: update of " + e.Function + " failed"
	if e.ReasonCode != "" {
		s += " (" + e.ReasonCode + ")"
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// PartialDeleteError is a table cleaning that stopped part-way.
type PartialDeleteError struct {
	Table string
	// Deleted is how many items were deleted before the failure.
	Deleted int
	Err     error
}

func (e *PartialDeleteError) Error() string { return e.Summary() + ": " + e.Err.Error() }

// Unwrap returns the failure.
func (e *PartialDeleteError) Unwrap() error { return e.Err }

// Summary says how far the cleaning got and what stopped it.
func (e *PartialDeleteError) Summary() string {
	cause := e.Err.Error()
	var sum recovery.Summarizer
	if errors.As(e.Err, &sum) {
		cause = sum.Summary()
	}
	return fmt.Sprintf("DynamoDB: %d items of %s deleted, then %s", e.Deleted, e.Table, cause)
}

// FunctionCode reads function name's code: its SHA-256, version (GetFunction of an
// unqualified name reads "$LATEST"), state and last update status.
func (p *Provider) FunctionCode(ctx context.Context, env recovery.Environment, name string) (recovery.FunctionCode, error) {
	if name == "" {
		return recovery.FunctionCode{}, &RefusedError{Service: "Lambda", Operation: "GetFunction", Reason: "no function name"}
	}
	out, err := p.clientsFor(env).lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: sdkaws.String(name)})
	if err != nil {
		return recovery.FunctionCode{}, wrap("Lambda", "GetFunction", name, err)
	}
	cfg := out.Configuration
	if cfg == nil {
		return recovery.FunctionCode{}, &APIError{Service: "Lambda", Operation: "GetFunction", Code: "empty answer", Resource: name}
	}
	return functionCode(name, cfg.CodeSha256, cfg.Version, cfg.LastUpdateStatus, cfg.State), nil
}

func functionCode(name string, sha, version *string, update lambdatypes.LastUpdateStatus, state lambdatypes.State) recovery.FunctionCode {
	return recovery.FunctionCode{
		Name:             name,
		CodeSha256:       sdkaws.ToString(sha),
		Version:          sdkaws.ToString(version),
		LastUpdateStatus: string(update),
		State:            string(state),
	}
}

// Artifact looks at s3://bucket/key. A missing object (or bucket: S3 answers a HEAD
// with a bare 404 either way) is Exists=false. SHA256 is the object's base64 SHA-256,
// comparable with Lambda's CodeSha256: the one S3 keeps when it was uploaded with one
// (x-amz-checksum-sha256, or x-amz-meta-sha256; a multipart upload's composite
// checksum is not the object's SHA-256), otherwise computed by reading the object
// (up to MaxHashedArtifact; cached by ETag). Over that size it is left out.
func (p *Provider) Artifact(ctx context.Context, env recovery.Environment, bucket, key string) (recovery.ArtifactInfo, error) {
	info := recovery.ArtifactInfo{Bucket: bucket, Key: key}
	if bucket == "" || key == "" {
		return info, &RefusedError{Service: "S3", Operation: "HeadObject", Resource: bucket + "/" + key, Reason: "bucket and key are required"}
	}
	c := p.clientsFor(env)
	out, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: sdkaws.String(bucket), Key: sdkaws.String(key), ChecksumMode: s3types.ChecksumModeEnabled,
	})
	switch {
	case isCode(err, "NotFound", "NoSuchKey", "NoSuchBucket"):
		return info, nil
	case err != nil:
		return info, wrap("S3", "HeadObject", "s3://"+bucket+"/"+key, err)
	}
	info.Exists = true
	info.Size = sdkaws.ToInt64(out.ContentLength)
	sum, _, err := p.objectSHA256(ctx, c, bucket, key, out)
	switch {
	case errors.Is(err, errTooLarge):
	case err != nil:
		return info, err
	default:
		info.SHA256 = sum
	}
	return info, nil
}

// UpdateCode points function name at s3://bucket/key and publishes a version in the
// same call (Publish), returning the new version number. The function's update then
// runs for a while (LastUpdateStatus InProgress): WaitUpdated waits for it. Lambda
// answers ResourceConflictException while an earlier update is still in progress.
func (p *Provider) UpdateCode(ctx context.Context, env recovery.Environment, name, bucket, key string) (string, error) {
	if name == "" || bucket == "" || key == "" {
		return "", &RefusedError{Service: "Lambda", Operation: "UpdateFunctionCode", Resource: name, Reason: "function, bucket and key are required"}
	}
	out, err := p.clientsFor(env).lambda.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
		FunctionName: sdkaws.String(name),
		S3Bucket:     sdkaws.String(bucket),
		S3Key:        sdkaws.String(key),
		Publish:      true,
	})
	if err != nil {
		return "", wrap("Lambda", "UpdateFunctionCode", name, err)
	}
	v := sdkaws.ToString(out.Version)
	if v == "" || v == "$LATEST" {
		return "", &APIError{Service: "Lambda", Operation: "UpdateFunctionCode", Code: "no version published", Resource: name,
			Err: fmt.Errorf("updating %s: the answer names version %q", name, v)}
	}
	return v, nil
}

// WaitUpdated reads function name's configuration every poll (default 2 seconds) until
// its last update is no longer InProgress, and returns its code then. A Failed update
// returns the code with an *UpdateFailedError carrying Lambda's reason; ctx ending
// returns an *APIError whose error wraps ctx's.
//
// It does not use the SDK's FunctionUpdatedV2 waiter: that one sleeps on its own
// jittered schedule (1 to 300 seconds) rather than poll, and reports a failed update
// as "waiter state transitioned to Failure", without LastUpdateStatusReason.
func (p *Provider) WaitUpdated(ctx context.Context, env recovery.Environment, name string, poll time.Duration) (recovery.FunctionCode, error) {
	if name == "" {
		return recovery.FunctionCode{}, &RefusedError{Service: "Lambda", Operation: "GetFunctionConfiguration", Reason: "no function name"}
	}
	if poll <= 0 {
		poll = defaultUpdatePoll
	}
	c := p.clientsFor(env)
	for {
		cfg, err := c.lambda.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: sdkaws.String(name)})
		if err != nil {
			return recovery.FunctionCode{Name: name}, wrap("Lambda", "GetFunctionConfiguration", name, err)
		}
		fc := functionCode(name, cfg.CodeSha256, cfg.Version, cfg.LastUpdateStatus, cfg.State)
		switch cfg.LastUpdateStatus {
		case lambdatypes.LastUpdateStatusInProgress:
		case lambdatypes.LastUpdateStatusFailed:
			return fc, &UpdateFailedError{Function: name, Reason: sdkaws.ToString(cfg.LastUpdateStatusReason),
				ReasonCode: string(cfg.LastUpdateStatusReasonCode)}
		default:
			return fc, nil
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fc, wrap("Lambda", "WaitUpdated", name, fmt.Errorf("waiting for the update of %s, still InProgress: %w", name, ctx.Err()))
		case <-t.C:
		}
	}
}

// SetAlarmOK sets alarm's state to OK with reason (required; cut to CloudWatch's 1,023
// characters). CloudWatch evaluates the alarm again at its next period, so an alarm
// whose metric still breaches goes back to ALARM.
func (p *Provider) SetAlarmOK(ctx context.Context, env recovery.Environment, alarm, reason string) error {
	const op = "SetAlarmState"
	if alarm == "" {
		return &RefusedError{Service: "CloudWatch", Operation: op, Reason: "no alarm name"}
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return &RefusedError{Service: "CloudWatch", Operation: op, Resource: alarm, Reason: "a reason is required: it shows in the alarm's history"}
	}
	if r := []rune(reason); len(r) > maxStateReason {
		reason = string(r[:maxStateReason-1]) + "…"
	}
	_, err := p.clientsFor(env).cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{
		AlarmName:   sdkaws.String(alarm),
		StateValue:  cwtypes.StateValueOk,
		StateReason: sdkaws.String(reason),
	})
	return wrap("CloudWatch", op, alarm, err)
}

// CountItems counts table's items with a scan of their keys only. Like
// DeleteAllItems it serves only the tables checkCleanable allows.
func (p *Provider) CountItems(ctx context.Context, env recovery.Environment, table string) (int, error) {
	if err := checkCleanable("CountItems", env, table); err != nil {
		return 0, err
	}
	c := p.clientsFor(env)
	keys, err := keySchema(ctx, c, table)
	if err != nil {
		return 0, err
	}
	n := 0
	err = scanKeys(ctx, c, table, keys, func(items []map[string]ddbtypes.AttributeValue) error {
		n += len(items)
		return nil
	})
	return n, err
}

// DeleteAllItems deletes every item of table by its key and returns how many it
// deleted: DescribeTable for the key schema, a Scan of the keys only (every page), and
// DeleteItem per key, 4 at a time. The first failed delete stops it (deletes already
// sent finish) with a *PartialDeleteError saying how many were deleted. It refuses,
// before any call, what checkCleanable refuses: a recovery action never deletes
// production data.
func (p *Provider) DeleteAllItems(ctx context.Context, env recovery.Environment, table string) (int, error) {
	if err := checkCleanable("DeleteAllItems", env, table); err != nil {
		return 0, err
	}
	c := p.clientsFor(env)
	keys, err := keySchema(ctx, c, table)
	if err != nil {
		return 0, err
	}
	var deleted atomic.Int64
	err = scanKeys(ctx, c, table, keys, func(items []map[string]ddbtypes.AttributeValue) error {
		// The deletes use ctx, not the group's: a delete already sent finishes and is
		// counted, so the count stays exact; the group's context only stops new ones.
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(deleteConcurrency)
		for _, key := range items {
			g.Go(func() error {
				if gctx.Err() != nil {
					return nil
				}
				_, err := c.ddb.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: sdkaws.String(table), Key: key})
				if err != nil {
					return wrap("DynamoDB", "DeleteItem", table, err)
				}
				deleted.Add(1)
				return nil
			})
		}
		return g.Wait()
	})
	n := int(deleted.Load())
	if err != nil {
		return n, &PartialDeleteError{Table: table, Deleted: n, Err: err}
	}
	return n, nil
}

// checkCleanable follows the environment's policy, as recovery does before it
// requests Clean test data: items are deleted only in an environment with
// allow_destructive (config: environments.<name>.allow_destructive, never true on a
// protected one), and only from its own tables, named after it ("<name>-…"). The
// adapter checks again so that no caller of it deletes production data.
func checkCleanable(op string, env recovery.Environment, table string) error {
	var reason string
	switch prefix := env.Name + "-"; {
	case env.Name == "":
		reason = "no environment given"
	case !env.AllowDestructive:
		reason = fmt.Sprintf("environment %q does not allow destructive actions (config: environments.%s.allow_destructive is not true)", env.Name, env.Name)
	case env.Protected: // config never allows both; the adapter does not rely on it
		reason = fmt.Sprintf("environment %q is protected, and a protected environment is never cleaned, whatever its allow_destructive", env.Name)
	case !strings.HasPrefix(table, prefix):
		reason = fmt.Sprintf("only tables named %s* are cleaned in environment %q (allow_destructive), and %q is not one", prefix, env.Name, table)
	default:
		return nil
	}
	return &RefusedError{Service: "DynamoDB", Operation: op, Resource: table, Reason: reason}
}

// keySchema returns table's key attribute names, the partition key first.
func keySchema(ctx context.Context, c *clients, table string) ([]string, error) {
	out, err := c.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: sdkaws.String(table)})
	if err != nil {
		return nil, wrap("DynamoDB", "DescribeTable", table, err)
	}
	var hash, rng string
	if out.Table != nil {
		for _, k := range out.Table.KeySchema {
			switch k.KeyType {
			case ddbtypes.KeyTypeHash:
				hash = sdkaws.ToString(k.AttributeName)
			case ddbtypes.KeyTypeRange:
				rng = sdkaws.ToString(k.AttributeName)
			}
		}
	}
	if hash == "" {
		return nil, &APIError{Service: "DynamoDB", Operation: "DescribeTable", Code: "no key schema", Resource: table,
			Err: fmt.Errorf("describing %s: no partition key", table)}
	}
	if rng == "" {
		return []string{hash}, nil
	}
	return []string{hash, rng}, nil
}

// scanKeys scans table for the key attributes only, every page, and hands each page's
// keys to fn. The attributes are named through aliases (#k0, #k1): a key attribute
// may well be a reserved word ("id" is not, but "timestamp", "name" and "data" are).
func scanKeys(ctx context.Context, c *clients, table string, keys []string, fn func([]map[string]ddbtypes.AttributeValue) error) error {
	names := map[string]string{}
	aliases := make([]string, len(keys))
	for i, k := range keys {
		aliases[i] = fmt.Sprintf("#k%d", i)
		names[aliases[i]] = k
	}
	pages := dynamodb.NewScanPaginator(c.ddb, &dynamodb.ScanInput{
		TableName:                sdkaws.String(table),
		ProjectionExpression:     sdkaws.String(strings.Join(aliases, ", ")),
		ExpressionAttributeNames: names,
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return wrap("DynamoDB", "Scan", table, err)
		}
		if err := fn(page.Items); err != nil {
			return err
		}
	}
	return nil
}
