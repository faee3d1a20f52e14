// Package aws reads and changes the AWS side of medic's environments (Lambda,
// CloudWatch, CloudWatch Logs, DynamoDB, Secrets Manager, S3, IAM) through
// aws-sdk-go-v2. Each environment gets its own clients: its region and, when
// configured, its assumed role.
package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/medic-ops/medic/recovery"
)

// Options configure a Provider. Every field is optional.
type Options struct {
	// Endpoint replaces every service's endpoint. When empty the SDK reads
	// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> from the environment itself.
	Endpoint string
	// Credentials replace AWS's default credential chain (tests and the demo use
	// static ones).
	Credentials sdkaws.CredentialsProvider
	// HTTPClient replaces the SDK's HTTP client.
	HTTPClient *http.Client
	// MaxAttempts bounds the SDK's retries of throttled and failed calls (default 3).
	MaxAttempts int
}

// Provider hands out per-environment AWS clients and implements the AWS reads of
// recovery's interfaces.
type Provider struct {
	base sdkaws.Config
	mu   sync.Mutex
	envs map[string]*clients
}

type clients struct {
	lambda  *lambda.Client
	cw      *cloudwatch.Client
	logs    *cloudwatchlogs.Client
	ddb     *dynamodb.Client
	secrets *secretsmanager.Client
	s3      *s3.Client
	iam     *iam.Client
}

// NewProvider loads AWS's default configuration (environment, shared files, instance
// role) and applies opts.
func NewProvider(ctx context.Context, opts Options) (*Provider, error) {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	loaders := []func(*config.LoadOptions) error{
		config.WithRetryer(func() sdkaws.Retryer {
			// No client-side retry quota: a burst of throttling must not turn into
			// "retry quota exceeded" for the calls that follow.
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = opts.MaxAttempts
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if opts.Endpoint != "" {
		loaders = append(loaders, config.WithBaseEndpoint(opts.Endpoint))
	}
	if opts.Credentials != nil {
		loaders = append(loaders, config.WithCredentialsProvider(opts.Credentials))
	}
	if opts.HTTPClient != nil {
		loaders = append(loaders, config.WithHTTPClient(opts.HTTPClient))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loaders...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	return &Provider{base: cfg, envs: map[string]*clients{}}, nil
}

// clientsFor returns env's clients, creating them on first use.
func (p *Provider) clientsFor(env recovery.Environment) *clients {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.envs[env.Name]; ok {
		return c
	}
	cfg := p.base.Copy()
	cfg.Region = env.Region
	if env.RoleARN != "" {
		stsClient := sts.NewFromConfig(cfg)
		cfg.Credentials = sdkaws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, env.RoleARN,
			func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "medic-" + env.Name }))
	}
	c := &clients{
		lambda:  lambda.NewFromConfig(cfg),
		cw:      cloudwatch.NewFromConfig(cfg),
		logs:    cloudwatchlogs.NewFromConfig(cfg),
		ddb:     dynamodb.NewFromConfig(cfg),
		secrets: secretsmanager.NewFromConfig(cfg),
		s3:      s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		iam:     iam.NewFromConfig(cfg),
	}
	p.envs[env.Name] = c
	return c
}

// APIError is an AWS call that failed, summarized for people: the service, the
// operation, the error code and, when known, the resource.
type APIError struct {
	Service   string
	Operation string
	Code      string
	Resource  string
	Err       error
}

func (e *APIError) Error() string {
	s := e.Summary()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the SDK's error, for errors.Is and errors.As.
func (e *APIError) Unwrap() error { return e.Err }

// Summary says in one line what failed, e.g. "CloudWatch: AccessDenied on DescribeAlarms".
func (e *APIError) Summary() string {
	s := fmt.Sprintf("%s: %s on %s", e.Service, e.Code, e.Operation)
	if e.Resource != "" {
		s += " (" + e.Resource + ")"
	}
	return s
}

// wrap turns an SDK error into an *APIError naming service and operation.
func wrap(service, op, resource string, err error) error {
	if err == nil {
		return nil
	}
	code := "error"
	var apiErr smithy.APIError
	var opErr *smithy.OperationError
	switch {
	case errors.As(err, &apiErr):
		code = apiErr.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded):
		code = "timeout"
	case errors.Is(err, context.Canceled):
		code = "cancelled"
	case errors.As(err, &opErr):
		code = "request failed"
	}
	return &APIError{Service: service, Operation: op, Code: code, Resource: resource, Err: err}
}

// isCode reports whether err is an AWS API error with one of codes.
func isCode(err error, codes ...string) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	for _, c := range codes {
		if apiErr.ErrorCode() == c {
			return true
		}
	}
	return false
}
