package aws

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"golang.org/x/sync/errgroup"

	"github.com/medic-ops/medic/recovery"
)

// lambdaTimeLayout is how Lambda writes LastModified ("2024-05-01T10:00:00.000+0000").
const lambdaTimeLayout = "2006-01-02T15:04:05.000-0700"

// Functions reads state, last update status and deployed version of each of env's
// Lambda functions, a few at a time. A function that does not exist is reported with
// State "NotFound"; any other failure fails the whole read.
func (p *Provider) Functions(ctx context.Context, env recovery.Environment) ([]recovery.FunctionStatus, error) {
	c := p.clientsFor(env)
	out := make([]recovery.FunctionStatus, len(env.Functions))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, name := range env.Functions {
		g.Go(func() error {
			st, err := p.function(ctx, c, env, name)
			out[i] = st
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func (p *Provider) function(ctx context.Context, c *clients, env recovery.Environment, name string) (recovery.FunctionStatus, error) {
	st := recovery.FunctionStatus{Name: name}
	fn, err := c.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: sdkaws.String(name)})
	if isCode(err, "ResourceNotFoundException") {
		st.State = "NotFound"
		st.StateReason = "no such function"
		return st, nil
	}
	if err != nil {
		return st, wrap("Lambda", "GetFunction", name, err)
	}
	cfg := fn.Configuration
	if cfg == nil {
		return st, &APIError{Service: "Lambda", Operation: "GetFunction", Code: "empty answer", Resource: name}
	}
	st.State = string(cfg.State)
	st.StateReason = sdkaws.ToString(cfg.StateReason)
	st.LastUpdateStatus = string(cfg.LastUpdateStatus)
	if t, err := time.Parse(lambdaTimeLayout, sdkaws.ToString(cfg.LastModified)); err == nil {
		st.LastModified = t.UTC()
	}
	switch env.Version.Kind {
	case recovery.VersionFromTag:
		st.Version = fn.Tags[env.Version.Key]
		if st.Version == "" {
			st.VersionNote = "no tag " + env.Version.Key
		}
	case recovery.VersionFromEnv:
		if cfg.Environment != nil {
			st.Version = cfg.Environment.Variables[env.Version.Key]
		}
		if st.Version == "" {
			st.VersionNote = "no variable " + env.Version.Key
		}
	case recovery.VersionFromS3Key:
		v, note, err := p.versionFromArtifacts(ctx, c, env, name, sdkaws.ToString(cfg.CodeSha256), cfg.CodeSize)
		if err != nil {
			return st, err
		}
		st.Version, st.VersionNote = v, note
	}
	return st, nil
}

// versionFromArtifacts finds the artifact in env's bucket whose SHA-256 equals the
// function's code and reads the version out of its key. Only artifacts of the code's
// size (Lambda's CodeSize is the zip's) can match: their SHA-256 is the one S3 keeps,
// or computed by reading them when S3 keeps none (objectSHA256).
func (p *Provider) versionFromArtifacts(ctx context.Context, c *clients, env recovery.Environment, fn, codeSHA string, codeSize int64) (string, string, error) {
	short := strings.TrimPrefix(fn, env.Version.ShortPrefix)
	pattern := strings.NewReplacer("{function}", fn, "{short}", short).Replace(env.Version.Key)
	i := strings.Index(pattern, "{sha}")
	prefix, suffix := pattern[:i], pattern[i+len("{sha}"):]
	pages := s3.NewListObjectsV2Paginator(c.s3, &s3.ListObjectsV2Input{Bucket: sdkaws.String(env.ArtifactsBucket), Prefix: sdkaws.String(prefix)})
	checked := 0
	for pages.HasMorePages() && checked < 200 {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return "", "", wrap("S3", "ListObjectsV2", env.ArtifactsBucket, err)
		}
		for _, obj := range page.Contents {
			key := sdkaws.ToString(obj.Key)
			if !strings.HasSuffix(key, suffix) || (codeSize > 0 && sdkaws.ToInt64(obj.Size) != codeSize) {
				continue
			}
			if checked >= 200 {
				break
			}
			checked++
			head, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: sdkaws.String(env.ArtifactsBucket), Key: obj.Key, ChecksumMode: s3types.ChecksumModeEnabled})
			if err != nil {
				return "", "", wrap("S3", "HeadObject", key, err)
			}
			sum, _, err := p.objectSHA256(ctx, c, env.ArtifactsBucket, key, head)
			if errors.Is(err, errTooLarge) {
				continue
			}
			if err != nil {
				return "", "", err
			}
			if sameSHA256(sum, codeSHA) {
				return strings.TrimSuffix(strings.TrimPrefix(key, prefix), suffix), "", nil
			}
		}
	}
	return "", fmt.Sprintf("no artifact under s3://%s/%s matches the code", env.ArtifactsBucket, prefix), nil
}

// sameSHA256 compares two base64 SHA-256 digests, accepting hex on either side.
func sameSHA256(a, b string) bool {
	norm := func(s string) string {
		if raw, err := base64.StdEncoding.DecodeString(s); err == nil && len(raw) == 32 {
			return fmt.Sprintf("%x", raw)
		}
		return strings.ToLower(s)
	}
	return norm(a) == norm(b)
}

// AlarmsFiring lists env's metric and composite alarms in ALARM whose names start with
// its alarm prefix.
func (p *Provider) AlarmsFiring(ctx context.Context, env recovery.Environment) ([]recovery.Alarm, error) {
	c := p.clientsFor(env)
	pages := cloudwatch.NewDescribeAlarmsPaginator(c.cw, &cloudwatch.DescribeAlarmsInput{
		AlarmNamePrefix: sdkaws.String(env.AlarmPrefix),
		StateValue:      cwtypes.StateValueAlarm,
		AlarmTypes:      []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm},
	})
	var out []recovery.Alarm
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, wrap("CloudWatch", "DescribeAlarms", "", err)
		}
		for _, a := range page.MetricAlarms {
			out = append(out, recovery.Alarm{Name: sdkaws.ToString(a.AlarmName), State: string(a.StateValue),
				Reason: sdkaws.ToString(a.StateReason), Since: sdkaws.ToTime(a.StateUpdatedTimestamp).UTC()})
		}
		for _, a := range page.CompositeAlarms {
			out = append(out, recovery.Alarm{Name: sdkaws.ToString(a.AlarmName), State: string(a.StateValue),
				Reason: sdkaws.ToString(a.StateReason), Since: sdkaws.ToTime(a.StateUpdatedTimestamp).UTC()})
		}
	}
	return out, nil
}

// SecretString reads a secret's value. Callers must never log or post it.
func (p *Provider) SecretString(ctx context.Context, env recovery.Environment, id string) (string, error) {
	c := p.clientsFor(env)
	out, err := c.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: sdkaws.String(id)})
	if err != nil {
		return "", wrap("Secrets Manager", "GetSecretValue", id, err)
	}
	return sdkaws.ToString(out.SecretString), nil
}
