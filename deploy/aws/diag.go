package aws

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"golang.org/x/sync/errgroup"

	"github.com/medic-ops/medic/recovery"
)

var _ recovery.EnvReader = (*Provider)(nil)

// Service limits, from each API reference.
const (
	// describeSecretsConcurrency bounds the DescribeSecret calls in flight for one
	// Secrets call; Secrets Manager throttles DescribeSecret at 50 requests per second
	// per account (Secrets Manager quotas), shared with everything else reading secrets.
	describeSecretsConcurrency = 4
	// logsMaxLimit is FilterLogEvents' largest page ("The maximum number of events to
	// return. The default is 10,000 events.").
	logsMaxLimit = 10000
	// logsMaxPages bounds FilterLogEvents paging: it may answer empty pages with a
	// nextToken while it searches the streams, and a diagnostic must end.
	logsMaxPages = 50
	// alarmHistoryMaxRecords is DescribeAlarmHistory's MaxRecords range 1-100.
	alarmHistoryMaxRecords = 100
)

// Table describes DynamoDB table name; a missing table is Exists=false, not an error.
func (p *Provider) Table(ctx context.Context, env recovery.Environment, name string) (recovery.TableStatus, error) {
	c := p.clientsFor(env)
	out, err := c.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: sdkaws.String(name)})
	if isCode(err, "ResourceNotFoundException") {
		return recovery.TableStatus{Name: name}, nil
	}
	if err != nil {
		return recovery.TableStatus{}, wrap("DynamoDB", "DescribeTable", name, err)
	}
	st := recovery.TableStatus{Name: name, Exists: true}
	if t := out.Table; t != nil {
		st.Status = string(t.TableStatus)
		st.ItemCount = sdkaws.ToInt64(t.ItemCount)
	}
	return st, nil
}

// BucketExists reports whether S3 bucket name exists. A 404 (NotFound, NoSuchBucket) is
// false; a 403 is an error, not false: the bucket may well exist, medic just may not
// look at it.
func (p *Provider) BucketExists(ctx context.Context, env recovery.Environment, name string) (bool, error) {
	c := p.clientsFor(env)
	_, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: sdkaws.String(name)})
	switch {
	case err == nil:
		return true, nil
	case isCode(err, "NotFound", "NoSuchBucket"):
		return false, nil
	}
	return false, wrap("S3", "HeadBucket", name, err)
}

// Secrets lists the secrets whose names start with prefix (ListSecrets' name filter,
// a case-sensitive prefix match), then describes each, a few at a time, for when it
// last changed and was last read. A secret medic may not describe is listed with
// Readable=false and the reason in Problem. It never reads a secret's value.
func (p *Provider) Secrets(ctx context.Context, env recovery.Environment, prefix string) ([]recovery.SecretMeta, error) {
	c := p.clientsFor(env)
	in := &secretsmanager.ListSecretsInput{}
	if prefix != "" {
		in.Filters = []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{prefix}}}
	}
	var entries []smtypes.SecretListEntry
	pages := secretsmanager.NewListSecretsPaginator(c.secrets, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, wrap("Secrets Manager", "ListSecrets", prefix, err)
		}
		for _, e := range page.SecretList {
			// The filter is the service's; keep only true prefixes whatever it matched.
			if strings.HasPrefix(sdkaws.ToString(e.Name), prefix) {
				entries = append(entries, e)
			}
		}
	}
	out := make([]recovery.SecretMeta, len(entries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(describeSecretsConcurrency)
	for i, e := range entries {
		out[i] = recovery.SecretMeta{
			Name:         sdkaws.ToString(e.Name),
			LastChanged:  utcTime(e.LastChangedDate),
			LastAccessed: utcTime(e.LastAccessedDate),
			Readable:     true,
		}
		id := cmp.Or(sdkaws.ToString(e.ARN), sdkaws.ToString(e.Name))
		g.Go(func() error {
			d, err := c.secrets.DescribeSecret(gctx, &secretsmanager.DescribeSecretInput{SecretId: sdkaws.String(id)})
			if isCode(err, "AccessDeniedException", "AccessDenied") {
				out[i].Readable = false
				out[i].Problem = wrap("Secrets Manager", "DescribeSecret", out[i].Name, err).(*APIError).Summary()
				return nil
			}
			if err != nil {
				return wrap("Secrets Manager", "DescribeSecret", out[i].Name, err)
			}
			out[i].LastChanged = utcTime(d.LastChangedDate)
			out[i].LastAccessed = utcTime(d.LastAccessedDate)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// UserPolicy returns the statements of IAM user user's inline policy policy. IAM
// returns the document URL-encoded (RFC 3986), which is decoded before parsing.
func (p *Provider) UserPolicy(ctx context.Context, env recovery.Environment, user, policy string) ([]recovery.PolicyStatement, error) {
	c := p.clientsFor(env)
	resource := user + "/" + policy
	out, err := c.iam.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: sdkaws.String(user), PolicyName: sdkaws.String(policy)})
	if err != nil {
		return nil, wrap("IAM", "GetUserPolicy", resource, err)
	}
	stmts, err := ParsePolicyDocument(sdkaws.ToString(out.PolicyDocument))
	if err != nil {
		return nil, &APIError{Service: "IAM", Operation: "GetUserPolicy", Code: "unreadable policy document", Resource: resource, Err: err}
	}
	return stmts, nil
}

// ParsePolicyDocument reads an IAM policy document, URL-encoded as IAM's API returns
// it or plain JSON. Statement may be one object or a list; Action and Resource a
// string or a list. NotAction, NotResource and Condition are not kept.
func ParsePolicyDocument(doc string) ([]recovery.PolicyStatement, error) {
	raw := strings.TrimSpace(doc)
	if !strings.HasPrefix(raw, "{") {
		dec, err := url.QueryUnescape(raw)
		if err != nil {
			return nil, fmt.Errorf("decoding policy document: %w", err)
		}
		raw = dec
	}
	var d struct {
		Statement oneOrMany[policyStatement]
	}
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return nil, fmt.Errorf("parsing policy document: %w", err)
	}
	out := make([]recovery.PolicyStatement, 0, len(d.Statement))
	for _, s := range d.Statement {
		out = append(out, recovery.PolicyStatement{Sid: s.Sid, Effect: s.Effect, Actions: s.Action, Resources: s.Resource})
	}
	return out, nil
}

type policyStatement struct {
	Sid      string
	Effect   string
	Action   oneOrMany[string]
	Resource oneOrMany[string]
}

// oneOrMany is a JSON value that is either one T or a list of them, as IAM allows for
// Statement, Action and Resource.
type oneOrMany[T any] []T

func (o *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	if t := strings.TrimSpace(string(b)); strings.HasPrefix(t, "[") {
		var many []T
		if err := json.Unmarshal(b, &many); err != nil {
			return err
		}
		*o = many
		return nil
	} else if t == "null" {
		*o = nil
		return nil
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*o = []T{one}
	return nil
}

// LogEvents returns up to limit events of log group group matching the CloudWatch Logs
// filter pattern since a time, oldest first (newest last).
func (p *Provider) LogEvents(ctx context.Context, env recovery.Environment, group, pattern string, since time.Time, limit int) ([]recovery.LogEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	c := p.clientsFor(env)
	in := &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName: sdkaws.String(group),
		StartTime:    sdkaws.Int64(since.UnixMilli()),
	}
	if pattern != "" {
		in.FilterPattern = sdkaws.String(pattern)
	}
	var out []recovery.LogEvent
	for range logsMaxPages {
		// Ask each page for no more than is still wanted.
		in.Limit = sdkaws.Int32(int32(min(limit-len(out), logsMaxLimit)))
		page, err := c.logs.FilterLogEvents(ctx, in)
		if err != nil {
			return nil, wrap("CloudWatch Logs", "FilterLogEvents", group, err)
		}
		for _, e := range page.Events {
			out = append(out, recovery.LogEvent{
				At:      time.UnixMilli(sdkaws.ToInt64(e.Timestamp)).UTC(),
				Stream:  sdkaws.ToString(e.LogStreamName),
				Message: sdkaws.ToString(e.Message),
			})
		}
		next := sdkaws.ToString(page.NextToken)
		if next == "" || next == sdkaws.ToString(in.NextToken) || len(out) >= limit {
			break
		}
		in.NextToken = sdkaws.String(next)
	}
	slices.SortStableFunc(out, func(a, b recovery.LogEvent) int { return a.At.Compare(b.At) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// AlarmHistory returns the newest limit history items of CloudWatch alarm alarm, newest
// first.
func (p *Provider) AlarmHistory(ctx context.Context, env recovery.Environment, alarm string, limit int) ([]recovery.AlarmHistoryItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	c := p.clientsFor(env)
	in := &cloudwatch.DescribeAlarmHistoryInput{
		AlarmName:  sdkaws.String(alarm),
		ScanBy:     cwtypes.ScanByTimestampDescending,
		MaxRecords: sdkaws.Int32(int32(min(limit, alarmHistoryMaxRecords))),
	}
	var out []recovery.AlarmHistoryItem
	pages := cloudwatch.NewDescribeAlarmHistoryPaginator(c.cw, in)
	for pages.HasMorePages() && len(out) < limit {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, wrap("CloudWatch", "DescribeAlarmHistory", alarm, err)
		}
		for _, h := range page.AlarmHistoryItems {
			out = append(out, recovery.AlarmHistoryItem{
				At:      utcTime(h.Timestamp),
				Type:    string(h.HistoryItemType),
				Summary: sdkaws.ToString(h.HistorySummary),
			})
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// StateLocks lists the locks held in Terraform's DynamoDB lock table (the S3 backend's
// dynamodb_table). Terraform keeps two kinds of items there: a held lock, whose LockID
// is the state path ("bucket/key") and whose Info is the lock's JSON; and the state's
// digest, whose LockID ends in "-md5" and which has no Info. Only locks are returned;
// a lock whose Info cannot be read is still returned, with what its LockID says.
func (p *Provider) StateLocks(ctx context.Context, env recovery.Environment, table string) ([]recovery.StateLock, error) {
	c := p.clientsFor(env)
	pages := dynamodb.NewScanPaginator(c.ddb, &dynamodb.ScanInput{
		TableName:                sdkaws.String(table),
		ProjectionExpression:     sdkaws.String("#id, #info"),
		ExpressionAttributeNames: map[string]string{"#id": "LockID", "#info": "Info"},
	})
	var out []recovery.StateLock
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, wrap("DynamoDB", "Scan", table, err)
		}
		for _, it := range page.Items {
			if l, ok := stateLock(it); ok {
				out = append(out, l)
			}
		}
	}
	slices.SortFunc(out, func(a, b recovery.StateLock) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// stateLock reads one item of a Terraform lock table; ok is false for digests.
func stateLock(it map[string]ddbtypes.AttributeValue) (recovery.StateLock, bool) {
	id, _ := it["LockID"].(*ddbtypes.AttributeValueMemberS)
	info, _ := it["Info"].(*ddbtypes.AttributeValueMemberS)
	if id == nil || info == nil || strings.HasSuffix(id.Value, "-md5") {
		return recovery.StateLock{}, false
	}
	// Terraform's statemgr.LockInfo, as the S3 backend stores it.
	var li struct {
		ID        string
		Operation string
		Info      string
		Who       string
		Version   string
		Created   time.Time
		Path      string
	}
	l := recovery.StateLock{Path: id.Value}
	if err := json.Unmarshal([]byte(info.Value), &li); err != nil {
		return l, true
	}
	l.ID, l.Operation, l.Who, l.Version = li.ID, li.Operation, li.Who, li.Version
	l.Created = li.Created.UTC()
	if li.Path != "" {
		l.Path = li.Path
	}
	return l, true
}

// utcTime returns *t in UTC, the zero time for nil.
func utcTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
