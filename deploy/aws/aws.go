// Package aws reads and changes the AWS side of medic's environments (Lambda,
// CloudWatch, CloudWatch Logs, DynamoDB, Secrets Manager, S3, IAM) through
// aws-sdk-go-v2. Each environment gets its own clients: its region and, when
// configured, its assumed role.
package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

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
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

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
	// sums are the SHA-256s medic computed of artifacts S3 keeps none for.
	sums shaCache
}

type clients struct {
	// creds are the environment's credentials (its assumed role's when it has one).
	creds   sdkaws.CredentialsProvider
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
		config.WithAPIOptions([]func(*middleware.Stack) error{addRequestBodyWithoutWriteTo}),
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

// addRequestBodyWithoutWriteTo works around a race between smithy-go v1.28.9 and
// net/http that closes a connection while its response is being read, failing the call
// with "deserialization failed, … use of closed network connection".
//
// smithy-go wraps a request body that has a WriteTo method (every bytes.Reader the
// protocol serializers make) in a safeWriteToReadCloser, whose WriteTo returns io.EOF
// once the body is closed (transport/http/internal/io/safe.go:33-35); and it closes the
// body as soon as client.Do returns, that is when the response headers arrive
// (transport/http/client.go:115-117). After writing a body of known length, net/http's
// writeLoop copies the rest of it to io.Discard to check its length (net/http
// transfer.go, transferWriter.writeBody), and io.Copy calls WriteTo. When the server
// answers before that copy runs (a fast endpoint, a busy CPU), the copy returns io.EOF,
// which net/http takes for a write error: it closes the connection (transport.go,
// persistConn.writeLoop), under the response body the SDK is reading.
//
// Hiding WriteTo makes net/http read the body with Read, which reports a closed body as
// a plain end of data. smithy-go's main branch returns (0, nil) there instead; drop this
// once go.mod has a release with that fix.
func addRequestBodyWithoutWriteTo(stack *middleware.Stack) error {
	// Innermost in the Deserialize step: after the retryer has rewound the stream and
	// the signer has hashed it, just before the request is sent.
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("RequestBodyWithoutWriteTo",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			req, ok := in.Request.(*smithyhttp.Request)
			if !ok {
				return next.HandleDeserialize(ctx, in)
			}
			stream, ok := req.GetStream().(interface {
				io.ReadSeeker
				io.WriterTo
			})
			if !ok {
				return next.HandleDeserialize(ctx, in)
			}
			r, err := req.SetStream(readSeeker{stream})
			if err != nil {
				return middleware.DeserializeOutput{}, middleware.Metadata{}, fmt.Errorf("wrapping request body: %w", err)
			}
			r.ContentLength = req.ContentLength
			in.Request = r
			return next.HandleDeserialize(ctx, in)
		}), middleware.After)
}

// readSeeker is an io.ReadSeeker and nothing else.
type readSeeker struct{ io.ReadSeeker }

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
		cfg.Credentials = sdkaws.NewCredentialsCache(assumedRole{env: env, provider: stscreds.NewAssumeRoleProvider(stsClient, env.RoleARN,
			func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = "medic-" + env.Name
				// An hour, every role's default maximum: a Terraform apply (45 minutes at
				// most) gets credentials that outlive it.
				o.Duration = assumeRoleDuration
			})})
	}
	c := &clients{
		creds:   cfg.Credentials,
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

// assumedRole is an environment's role credentials: when assuming the role fails, the
// error is a *recovery.CredentialsError naming the role and STS's answer, which every
// call that needed the credentials then returns (wrap), instead of an error of its own
// that would blame the call.
type assumedRole struct {
	env      recovery.Environment
	provider sdkaws.CredentialsProvider
}

func (a assumedRole) Retrieve(ctx context.Context) (sdkaws.Credentials, error) {
	creds, err := a.provider.Retrieve(ctx)
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return creds, err
	}
	cause := "no answer (the request failed before STS replied)"
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		cause = apiErr.ErrorCode() + ": " + apiErr.ErrorMessage()
	}
	return creds, &recovery.CredentialsError{Env: a.env.Name, Role: a.env.RoleARN, Cause: "STS " + cause, Err: err}
}

// assumeRoleDuration is how long an environment's assumed-role credentials last.
const assumeRoleDuration = time.Hour

// TerraformCredentials returns env's AWS identity for a Terraform command, as the
// variables Terraform reads: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN (temporary credentials), AWS_REGION and AWS_DEFAULT_REGION. They
// are medic's own default credentials or, when the environment has a role, that role's,
// assumed by medic. Credentials that would expire within minValid are renewed first; it
// fails when even fresh ones would not last that long.
func (p *Provider) TerraformCredentials(ctx context.Context, env recovery.Environment, minValid time.Duration) ([]string, error) {
	c := p.clientsFor(env)
	if c.creds == nil {
		return nil, fmt.Errorf("no AWS credentials for %s: configure AWS's default credentials for medic", env.Name)
	}
	creds, err := c.creds.Retrieve(ctx)
	if err == nil && creds.CanExpire && time.Until(creds.Expires) < minValid {
		if cache, ok := c.creds.(*sdkaws.CredentialsCache); ok {
			cache.Invalidate()
			creds, err = cache.Retrieve(ctx)
		}
	}
	if err != nil {
		who := "medic's default credentials"
		if env.RoleARN != "" {
			who = "role " + env.RoleARN
		}
		return nil, fmt.Errorf("getting %s's AWS credentials (%s): %w", env.Name, who, err)
	}
	if creds.CanExpire && time.Until(creds.Expires) < minValid {
		return nil, fmt.Errorf("%s's AWS credentials expire at %s, before the Terraform command's time limit: allow longer sessions", env.Name, creds.Expires.UTC().Format(time.RFC3339))
	}
	out := []string{"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey}
	if creds.SessionToken != "" {
		out = append(out, "AWS_SESSION_TOKEN="+creds.SessionToken)
	}
	if env.Region != "" {
		out = append(out, "AWS_REGION="+env.Region, "AWS_DEFAULT_REGION="+env.Region)
	}
	return out, nil
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
	var cred *recovery.CredentialsError
	if errors.As(err, &cred) {
		return cred // the role, not this call, is what failed
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
