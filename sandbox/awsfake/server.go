// Package awsfake is the sandbox's stand-in for the AWS services medic calls: Lambda,
// CloudWatch, CloudWatch Logs, DynamoDB, Secrets Manager, S3, IAM and STS.
//
// One HTTP server answers every service. The real aws-sdk-go-v2 clients reach it through
// one base endpoint (config.WithBaseEndpoint(srv.URL()) or AWS_ENDPOINT_URL), and the
// server routes each request by its wire signature:
//
//   - Lambda (restJson1): path prefix /2015-03-31/ (and /2017-03-31/tags/ for ListTags);
//   - CloudWatch (rpcv2Cbor): /service/GraniteServiceVersion20100801/operation/{Op};
//   - CloudWatch Logs, DynamoDB, Secrets Manager (awsJson): the X-Amz-Target prefix;
//   - IAM and STS (awsQuery): a form with Action= posted to /, told apart by Version;
//   - everything else: S3, served by gofakes3 (path-style addressing).
//
// Every request passes the fault injector once as "<service>:<Operation>" before any
// work, and a fault comes back in that service's own error shape.
package awsfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/medic-ops/medic/sandbox/fault"
)

// maxBody caps a request body read into memory. AWS Lambda accepts a zipped deployment
// package of up to 50 MB in a direct upload (Lambda quotas, "Deployment package (.zip
// file archive) size: 50 MB zipped, for direct upload"); base64 in JSON makes that about
// 67 MB. S3 bodies are streamed by gofakes3 and are not subject to this cap.
const maxBody = 70 << 20

// Options configure a Server. The zero value is usable.
type Options struct {
	// Faults injects latency and errors; nil creates an Injector without rules.
	Faults *fault.Injector
	// Now is the server clock; nil means time.Now.
	Now func() time.Time
	// UpdateDelay is how long a Lambda function stays LastUpdateStatus=InProgress after
	// UpdateFunctionCode, measured on Now. Zero makes the update complete at once (the
	// UpdateFunctionCode response itself still says InProgress, as AWS does).
	UpdateDelay time.Duration
	// Region is used in ARNs; default "us-east-1".
	Region string
	// AccountID is used in ARNs; default "123456789012".
	AccountID string
	// AccessKeyID, when set, is the only access key taken besides those this server's
	// STS issued: any other request is answered 403 (signatures are not checked, so
	// the key is what keeps others out: a drill's sandbox draws one).
	AccessKeyID string
}

// Server is a running AWS stand-in. Its methods are safe for concurrent use.
type Server struct {
	// accessKey is Options.AccessKeyID.
	accessKey   string
	onMutation  func(Mutation)
	faults      *fault.Injector
	now         func() time.Time
	updateDelay time.Duration
	region      string
	account     string

	s3be *s3mem.Backend
	s3   http.Handler
	http *httptest.Server

	mu        sync.Mutex
	seq       int64
	calls     []Call
	mutations []Mutation
	lambda    lambdaWorld
	cw        cloudwatchWorld
	logs      logsWorld
	ddb       dynamoWorld
	secrets   secretsWorld
	iam       iamWorld
	sts       stsWorld
}

// Call is one request the server received, in arrival order.
type Call struct {
	// Op is "<service>:<Operation>", as passed to the fault injector.
	Op string
	// AccessKeyID is the key that signed the request (from the SigV4 Authorization
	// header); empty when unsigned.
	AccessKeyID string
	// Role is the role ARN whose temporary credentials (issued by this server's STS
	// AssumeRole) signed the request; empty for any other credentials.
	Role string
}

// Mutation is one request that changes the world (or would have, had it succeeded).
type Mutation struct {
	// Op is "<service>:<Operation>".
	Op string
	// Input is the request's parameters as a JSON object (for S3, Bucket and Key; large
	// blobs such as a Lambda ZipFile are replaced by their size).
	Input string
	// Role is the assumed role ARN that signed the request, if any.
	Role string
	// Status is the HTTP status the server answered.
	Status int
}

// New starts a Server on a random 127.0.0.1 port. Call Close when done.
func New(opts Options) *Server {
	s := newServer(opts)
	s.http = httptest.NewServer(s)
	return s
}

func newServer(opts Options) *Server {
	s := &Server{
		faults:      opts.Faults,
		now:         opts.Now,
		updateDelay: opts.UpdateDelay,
		region:      opts.Region,
		account:     opts.AccountID,
		accessKey:   opts.AccessKeyID,
	}
	if s.faults == nil {
		s.faults = fault.New()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.region == "" {
		s.region = "us-east-1"
	}
	if s.account == "" {
		s.account = "123456789012"
	}
	clock := clockSource{now: s.now}
	s.s3be = s3mem.New(s3mem.WithTimeSource(clock))
	// The time-skew check is off: the server clock may be a fixed test time while the
	// SDK signs with the wall clock.
	s.s3 = gofakes3.New(s.s3be,
		gofakes3.WithTimeSource(clock),
		gofakes3.WithTimeSkewLimit(0),
		gofakes3.WithAutoBucket(false),
	).Server()
	s.lambda.init()
	s.cw.init()
	s.logs.init()
	s.ddb.init()
	s.secrets.init()
	s.iam.init()
	s.sts.init()
	return s
}

// URL is the base endpoint for every service, "http://127.0.0.1:PORT" (no trailing
// slash), for config.WithBaseEndpoint or AWS_ENDPOINT_URL.
func (s *Server) URL() string { return s.http.URL }

// Close shuts the server down, closing open connections.
func (s *Server) Close() {
	s.http.CloseClientConnections()
	s.http.Close()
}

// Faults returns the server's fault injector.
func (s *Server) Faults() *fault.Injector { return s.faults }

// Calls returns every request received so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Mutations returns every mutating request received so far, in order.
func (s *Server) Mutations() []Mutation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mutation(nil), s.mutations...)
}

// ServeHTTP routes a request to the service its wire signature names.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.keyTaken(accessKeyID(r.Header.Get("Authorization"))) {
		http.Error(w, "UnrecognizedClientException: The security token included in the request is invalid.", http.StatusForbidden)
		return
	}
	path := r.URL.Path
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		s.serveJSON(w, r)
	case strings.HasPrefix(path, cloudwatchPathPrefix):
		s.serveCBOR(w, r)
	case strings.HasPrefix(path, "/2015-03-31/"), strings.HasPrefix(path, "/2017-03-31/tags/"):
		s.serveLambda(w, r)
	case r.Method == http.MethodPost && path == "/" &&
		strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		s.serveQuery(w, r)
	default:
		s.serveS3(w, r)
	}
}

// keyTaken reports whether a request signed with key is served: any key without
// Options.AccessKeyID, else that key or one this server's STS issued.
func (s *Server) keyTaken(key string) bool {
	if s.accessKey == "" || key == s.accessKey {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, issued := s.sts.keys[key]
	return issued
}

// apiError is an error answered in a service's wire format.
type apiError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func fromFault(f *fault.Error) *apiError {
	return &apiError{Status: f.Status, Code: f.Code, Message: f.Message, RetryAfter: f.RetryAfter}
}

// asAPIError turns any handler error into an apiError; an unexpected error is a 500.
func asAPIError(err error, internalCode string) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return &apiError{Status: http.StatusInternalServerError, Code: internalCode, Message: err.Error()}
}

func setRetryAfter(w http.ResponseWriter, e *apiError) {
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
	}
}

// begin records a call and returns the role that signed it.
func (s *Server) begin(r *http.Request, op string) string {
	key := accessKeyID(r.Header.Get("Authorization"))
	s.mu.Lock()
	defer s.mu.Unlock()
	role := s.sts.roleOf(key)
	s.calls = append(s.calls, Call{Op: op, AccessKeyID: key, Role: role})
	return role
}

func (s *Server) recordMutation(op, input, role string, status int) {
	s.mu.Lock()
	m := Mutation{Op: op, Input: input, Role: role, Status: status}
	s.mutations = append(s.mutations, m)
	hook := s.onMutation
	s.mu.Unlock()
	if hook != nil {
		hook(m)
	}
}

// OnMutation registers f to be told of every mutating call after it is recorded: the
// sandbox world reacts to changes (a Lambda code update) as the real service would.
func (s *Server) OnMutation(f func(Mutation)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onMutation = f
}

// nextID returns a fresh number for request IDs, version IDs and event IDs.
func (s *Server) nextID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextIDLocked()
}

func (s *Server) nextIDLocked() int64 {
	s.seq++
	return s.seq
}

func (s *Server) requestID() string {
	n := s.nextID()
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n)
}

// accessKeyID extracts the key ID from a SigV4 Authorization header:
// "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/lambda/aws4_request, ...".
func accessKeyID(auth string) string {
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, "/")
	return key
}

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("reading request body: %w", err)
	}
	return b, nil
}

// decodeJSON decodes an operation's input; a malformed body is the protocol's
// SerializationException.
func decodeJSON(in []byte, v any) error {
	if len(in) == 0 {
		return nil
	}
	if err := json.Unmarshal(in, v); err != nil {
		return errorf(http.StatusBadRequest, "SerializationException", "decoding request: %v", err)
	}
	return nil
}

// clockSource adapts the server clock to gofakes3.TimeSource.
type clockSource struct{ now func() time.Time }

func (c clockSource) Now() time.Time                  { return c.now().UTC() }
func (c clockSource) Since(t time.Time) time.Duration { return c.now().Sub(t) }
