package awsfake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// lambdaMaxItems is the most functions ListFunctions returns per page: "ListFunctions
// returns a maximum of 50 items in each response, even if you set the number higher"
// (Lambda API reference, ListFunctions, MaxItems).
const lambdaMaxItems = 50

// lambdaTimeLayout is Lambda's LastModified format, e.g. "2024-05-01T12:00:00.000+0000".
const lambdaTimeLayout = "2006-01-02T15:04:05.000-0700"

// Function is a Lambda function of the world, as PutFunction seeds it and Function
// reports it.
type Function struct {
	// Name is the function name (not an ARN).
	Name string
	// Runtime, Handler and Role describe the function; Role defaults to an ARN derived
	// from the name.
	Runtime string
	Handler string
	Role    string
	// State is Active (default), Pending, Inactive or Failed; StateReason explains it.
	State       string
	StateReason string
	// LastUpdateStatus is Successful (default), InProgress or Failed;
	// LastUpdateStatusReason explains it.
	LastUpdateStatus       string
	LastUpdateStatusReason string
	// Version is always "$LATEST": the unpublished version.
	Version string
	// Published holds the published versions, oldest first.
	Published []FunctionVersion
	// CodeSha256 is the base64 SHA-256 of the deployment package; CodeSize its length.
	CodeSha256 string
	CodeSize   int64
	// LastModified defaults to the server clock at PutFunction.
	LastModified time.Time
	// Env holds the environment variables; Tags the function's tags.
	Env  map[string]string
	Tags map[string]string
	// S3Bucket and S3Key locate the deployment package, if it came from S3.
	S3Bucket string
	S3Key    string
}

// FunctionVersion is a published, immutable version of a Function.
type FunctionVersion struct {
	// Version is the number, "1", "2", …
	Version      string
	Description  string
	CodeSha256   string
	CodeSize     int64
	LastModified time.Time
	Env          map[string]string
}

type lambdaFunction struct {
	Function
	// updateDone is when an InProgress update started by UpdateFunctionCode completes;
	// zero when no such update is running.
	updateDone time.Time
	revision   int64
}

type lambdaWorld struct {
	functions map[string]*lambdaFunction
}

func (lw *lambdaWorld) init() { lw.functions = map[string]*lambdaFunction{} }

// PutFunction adds or replaces a Lambda function.
func (s *Server) PutFunction(f Function) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f = cloneFunction(f)
	f.Version = "$LATEST"
	if f.State == "" {
		f.State = "Active"
	}
	if f.LastUpdateStatus == "" {
		f.LastUpdateStatus = "Successful"
	}
	if f.Role == "" {
		f.Role = fmt.Sprintf("arn:aws:iam::%s:role/%s-role", s.account, f.Name)
	}
	if f.LastModified.IsZero() {
		f.LastModified = s.now()
	}
	s.lambda.functions[f.Name] = &lambdaFunction{Function: f, revision: s.nextIDLocked()}
}

// Function returns the function called name as it is now (an update whose delay has
// passed reads Successful).
func (s *Server) Function(name string) (Function, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.lambda.functions[name]
	if !ok {
		return Function{}, false
	}
	s.settleLocked(f)
	return cloneFunction(f.Function), true
}

func cloneFunction(f Function) Function {
	f.Env = maps.Clone(f.Env)
	f.Tags = maps.Clone(f.Tags)
	f.Published = slices.Clone(f.Published)
	for i := range f.Published {
		f.Published[i].Env = maps.Clone(f.Published[i].Env)
	}
	return f
}

// settleLocked completes an update whose delay has passed.
func (s *Server) settleLocked(f *lambdaFunction) {
	if !f.updateDone.IsZero() && !s.now().Before(f.updateDone) {
		f.LastUpdateStatus = "Successful"
		f.LastUpdateStatusReason = ""
		f.updateDone = time.Time{}
	}
}

func (s *Server) functionARN(name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", s.region, s.account, name)
}

// lambdaInput is what a Lambda operation receives: path labels and query parameters
// in Params, the JSON body in Body.
type lambdaInput struct {
	Params map[string]string
	Body   []byte
	// Base is "http://host" of the request, for code download locations.
	Base string
}

type lambdaRoute struct {
	method, pattern, op string
	status              int
	mutating            bool
	run                 func(s *Server, in lambdaInput) (any, error)
}

// lambdaRoutes lists the Lambda operations; the URIs are those of the service model
// (lambda schemas.go, smithytraits.HTTP).
var lambdaRoutes = []lambdaRoute{
	{method: "GET", pattern: "/2015-03-31/functions", op: "ListFunctions", status: 200, run: (*Server).lambdaListFunctions},
	{method: "GET", pattern: "/2015-03-31/functions/{FunctionName}", op: "GetFunction", status: 200, run: (*Server).lambdaGetFunction},
	{method: "GET", pattern: "/2015-03-31/functions/{FunctionName}/configuration", op: "GetFunctionConfiguration", status: 200, run: (*Server).lambdaGetFunctionConfiguration},
	{method: "PUT", pattern: "/2015-03-31/functions/{FunctionName}/code", op: "UpdateFunctionCode", status: 200, mutating: true, run: (*Server).lambdaUpdateFunctionCode},
	{method: "POST", pattern: "/2015-03-31/functions/{FunctionName}/versions", op: "PublishVersion", status: 201, mutating: true, run: (*Server).lambdaPublishVersion},
	{method: "GET", pattern: "/2015-03-31/functions/{FunctionName}/versions", op: "ListVersionsByFunction", status: 200, run: (*Server).lambdaListVersionsByFunction},
	{method: "GET", pattern: "/2017-03-31/tags/{Resource}", op: "ListTags", status: 200, run: (*Server).lambdaListTags},
}

// matchPath matches an escaped request path against a pattern with {Label} segments.
// A trailing slash is ignored (older SDKs listed functions at /functions/).
func matchPath(pattern, escapedPath string) (map[string]string, bool) {
	ps := strings.Split(strings.Trim(pattern, "/"), "/")
	rs := strings.Split(strings.Trim(escapedPath, "/"), "/")
	if len(ps) != len(rs) {
		return nil, false
	}
	labels := map[string]string{}
	for i, p := range ps {
		seg, err := url.PathUnescape(rs[i])
		if err != nil {
			return nil, false
		}
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if seg == "" {
				return nil, false
			}
			labels[p[1:len(p)-1]] = seg
			continue
		}
		if p != seg {
			return nil, false
		}
	}
	return labels, true
}

func (s *Server) serveLambda(w http.ResponseWriter, r *http.Request) {
	var route *lambdaRoute
	var params map[string]string
	for i := range lambdaRoutes {
		rt := &lambdaRoutes[i]
		if p, ok := matchPath(rt.pattern, r.URL.EscapedPath()); ok && rt.method == r.Method {
			route, params = rt, p
			break
		}
	}
	op := "lambda:Unknown"
	if route != nil {
		op = "lambda:" + route.op
	}
	role := s.begin(r, op)
	body, err := readBody(r)
	if err != nil {
		s.writeLambdaError(w, errorf(http.StatusRequestEntityTooLarge, "RequestTooLargeException", "%v", err))
		return
	}
	status := http.StatusNotFound
	if route != nil {
		status = route.status
		for k, v := range r.URL.Query() {
			params[k] = v[0]
		}
	}
	if ferr := s.faults.Hit(r.Context(), op); ferr != nil {
		e := fromFault(ferr)
		s.writeLambdaError(w, e)
		status = e.Status
	} else if route == nil {
		s.writeLambdaError(w, errorf(status, "UnknownOperationException", "no Lambda operation for %s %s", r.Method, r.URL.Path))
		return
	} else {
		in := lambdaInput{Params: params, Body: body, Base: "http://" + r.Host}
		out, err := route.run(s, in)
		if err != nil {
			e := asAPIError(err, "ServiceException")
			s.writeLambdaError(w, e)
			status = e.Status
		} else {
			if route.mutating {
				// Recorded (and its hooks run) before the answer, so a caller that reads
				// after it sees the world's reaction.
				s.recordMutation(op, lambdaMutationInput(params, body), role, status)
				s.writeJSON(w, status, "application/json", out)
				return
			}
			s.writeJSON(w, status, "application/json", out)
		}
	}
	if route != nil && route.mutating {
		s.recordMutation(op, lambdaMutationInput(params, body), role, status)
	}
}

// lambdaMutationInput merges path labels and the JSON body, replacing ZipFile by its
// size.
func lambdaMutationInput(params map[string]string, body []byte) string {
	m := map[string]any{}
	_ = json.Unmarshal(body, &m)
	if z, ok := m["ZipFile"].(string); ok {
		m["ZipFile"] = fmt.Sprintf("<%d bytes base64>", len(z))
	}
	for k, v := range params {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, contentType string, out any) {
	b, err := json.Marshal(out)
	if err != nil {
		b = []byte(`{}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-Requestid", s.requestID())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeLambdaError answers a restJson1 error: the code in X-Amzn-ErrorType (without it
// the SDK reports UnknownError) and {"Type","Message"} in the body.
func (s *Server) writeLambdaError(w http.ResponseWriter, e *apiError) {
	typ := "User"
	if e.Status >= 500 {
		typ = "Service"
	}
	w.Header().Set("X-Amzn-Errortype", e.Code)
	setRetryAfter(w, e)
	s.writeJSON(w, e.Status, "application/json", map[string]string{"Type": typ, "Message": e.Message})
}

// parseFunctionName splits a function name, partial ARN or ARN, with an optional
// qualifier suffix, into name and qualifier.
func parseFunctionName(id string) (name, qualifier string) {
	parts := strings.Split(id, ":")
	switch {
	case strings.HasPrefix(id, "arn:") && len(parts) >= 7:
		// arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
		name = parts[6]
		if len(parts) >= 8 {
			qualifier = parts[7]
		}
	case len(parts) >= 3 && parts[1] == "function":
		// ACCOUNT:function:NAME[:QUALIFIER]
		name = parts[2]
		if len(parts) >= 4 {
			qualifier = parts[3]
		}
	default:
		name = parts[0]
		if len(parts) >= 2 {
			qualifier = parts[1]
		}
	}
	return name, qualifier
}

// lookupFunctionLocked resolves FunctionName and Qualifier to a function and, for a
// numbered qualifier, one of its published versions.
func (s *Server) lookupFunctionLocked(in lambdaInput) (*lambdaFunction, *FunctionVersion, error) {
	name, qual := parseFunctionName(in.Params["FunctionName"])
	if q := in.Params["Qualifier"]; q != "" {
		if qual != "" && qual != q {
			return nil, nil, errorf(http.StatusBadRequest, "InvalidParameterValueException",
				"The derived qualifier from the function name does not match the specified qualifier.")
		}
		qual = q
	}
	f, ok := s.lambda.functions[name]
	if !ok {
		return nil, nil, s.functionNotFound(name, qual)
	}
	s.settleLocked(f)
	if qual == "" || qual == "$LATEST" {
		return f, nil, nil
	}
	for i := range f.Published {
		if f.Published[i].Version == qual {
			return f, &f.Published[i], nil
		}
	}
	return nil, nil, s.functionNotFound(name, qual)
}

func (s *Server) functionNotFound(name, qual string) error {
	arn := s.functionARN(name)
	if qual != "" {
		arn += ":" + qual
	}
	return errorf(http.StatusNotFound, "ResourceNotFoundException", "Function not found: %s", arn)
}

// functionConfig renders a FunctionConfiguration of $LATEST (v nil) or of version v.
func (s *Server) functionConfig(f *lambdaFunction, v *FunctionVersion) map[string]any {
	c := map[string]any{
		"FunctionName":     f.Name,
		"FunctionArn":      s.functionARN(f.Name),
		"Role":             f.Role,
		"CodeSize":         f.CodeSize,
		"CodeSha256":       f.CodeSha256,
		"Version":          "$LATEST",
		"LastModified":     f.LastModified.UTC().Format(lambdaTimeLayout),
		"Timeout":          3,
		"MemorySize":       128,
		"PackageType":      "Zip",
		"Architectures":    []string{"x86_64"},
		"State":            f.State,
		"LastUpdateStatus": f.LastUpdateStatus,
		"RevisionId":       fmt.Sprintf("00000000-0000-4000-8000-%012x", f.revision),
	}
	env := f.Env
	if v != nil {
		c["FunctionArn"] = s.functionARN(f.Name) + ":" + v.Version
		c["Version"] = v.Version
		c["CodeSize"] = v.CodeSize
		c["CodeSha256"] = v.CodeSha256
		c["LastModified"] = v.LastModified.UTC().Format(lambdaTimeLayout)
		c["State"] = "Active"
		c["LastUpdateStatus"] = "Successful"
		if v.Description != "" {
			c["Description"] = v.Description
		}
		env = v.Env
	} else {
		if f.StateReason != "" {
			c["StateReason"] = f.StateReason
		}
		if f.LastUpdateStatusReason != "" {
			c["LastUpdateStatusReason"] = f.LastUpdateStatusReason
		}
	}
	if f.Runtime != "" {
		c["Runtime"] = f.Runtime
	}
	if f.Handler != "" {
		c["Handler"] = f.Handler
	}
	if len(env) > 0 {
		c["Environment"] = map[string]any{"Variables": env}
	}
	return c
}

func (s *Server) lambdaGetFunction(in lambdaInput) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, v, err := s.lookupFunctionLocked(in)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"Configuration": s.functionConfig(f, v)}
	code := map[string]any{"RepositoryType": "S3"}
	if f.S3Bucket != "" && f.S3Key != "" {
		code["Location"] = in.Base + "/" + url.PathEscape(f.S3Bucket) + "/" + escapeKey(f.S3Key)
	}
	out["Code"] = code
	if len(f.Tags) > 0 {
		out["Tags"] = f.Tags
	}
	return out, nil
}

func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func (s *Server) lambdaGetFunctionConfiguration(in lambdaInput) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, v, err := s.lookupFunctionLocked(in)
	if err != nil {
		return nil, err
	}
	return s.functionConfig(f, v), nil
}

func (s *Server) lambdaListFunctions(in lambdaInput) (any, error) {
	max, err := lambdaPageSize(in.Params["MaxItems"])
	if err != nil {
		return nil, err
	}
	all := in.Params["FunctionVersion"] == "ALL"
	s.mu.Lock()
	defer s.mu.Unlock()
	var configs []map[string]any
	for _, name := range slices.Sorted(maps.Keys(s.lambda.functions)) {
		f := s.lambda.functions[name]
		s.settleLocked(f)
		configs = append(configs, s.functionConfig(f, nil))
		if all {
			for i := range f.Published {
				configs = append(configs, s.functionConfig(f, &f.Published[i]))
			}
		}
	}
	key := func(c map[string]any) string { return c["FunctionArn"].(string) }
	out, next, ok := page(configs, key, in.Params["Marker"], max)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValueException", "Invalid marker: %s", in.Params["Marker"])
	}
	resp := map[string]any{"Functions": nonNil(out)}
	if next != "" {
		resp["NextMarker"] = next
	}
	return resp, nil
}

func (s *Server) lambdaListVersionsByFunction(in lambdaInput) (any, error) {
	max, err := lambdaPageSize(in.Params["MaxItems"])
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name, _ := parseFunctionName(in.Params["FunctionName"])
	f, ok := s.lambda.functions[name]
	if !ok {
		return nil, s.functionNotFound(name, "")
	}
	s.settleLocked(f)
	configs := []map[string]any{s.functionConfig(f, nil)}
	for i := range f.Published {
		configs = append(configs, s.functionConfig(f, &f.Published[i]))
	}
	key := func(c map[string]any) string { return c["Version"].(string) }
	out, next, ok := page(configs, key, in.Params["Marker"], max)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValueException", "Invalid marker: %s", in.Params["Marker"])
	}
	resp := map[string]any{"Versions": out}
	if next != "" {
		resp["NextMarker"] = next
	}
	return resp, nil
}

func lambdaPageSize(raw string) (int, error) {
	n := 0
	if raw != "" {
		if _, err := fmt.Sscan(raw, &n); err != nil || n < 1 || n > 10000 {
			return 0, errorf(http.StatusBadRequest, "InvalidParameterValueException", "MaxItems must be between 1 and 10000, got %q", raw)
		}
	}
	if n == 0 || n > lambdaMaxItems {
		n = lambdaMaxItems
	}
	return n, nil
}

func (s *Server) lambdaListTags(in lambdaInput) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	arn := in.Params["Resource"]
	name, _ := parseFunctionName(arn)
	f, ok := s.lambda.functions[name]
	if !ok || !strings.HasPrefix(arn, "arn:") {
		return nil, errorf(http.StatusNotFound, "ResourceNotFoundException", "Function not found: %s", arn)
	}
	return map[string]any{"Tags": nonNilMap(f.Tags)}, nil
}

// conflictLocked reports the ResourceConflictException Lambda answers while the
// function cannot be changed.
func (s *Server) conflictLocked(f *lambdaFunction) error {
	if f.State == "Pending" {
		return errorf(http.StatusConflict, "ResourceConflictException",
			"The operation cannot be performed at this time. The function is currently in the following state: Pending")
	}
	if f.LastUpdateStatus == "InProgress" {
		return errorf(http.StatusConflict, "ResourceConflictException",
			"The operation cannot be performed at this time. An update is in progress for resource: %s", s.functionARN(f.Name))
	}
	return nil
}

func (s *Server) lambdaUpdateFunctionCode(in lambdaInput) (any, error) {
	var req struct {
		ZipFile  []byte
		S3Bucket string
		S3Key    string
		Publish  bool
		DryRun   bool
	}
	if err := decodeJSON(in.Body, &req); err != nil {
		return nil, err
	}
	var code []byte
	switch {
	case req.ZipFile != nil && req.S3Bucket == "" && req.S3Key == "":
		code = req.ZipFile
	case req.ZipFile == nil && req.S3Bucket != "" && req.S3Key != "":
		obj, err := s.s3be.GetObject(req.S3Bucket, req.S3Key, nil)
		if err != nil {
			code := "NoSuchKey"
			if ok, _ := s.s3be.BucketExists(req.S3Bucket); !ok {
				code = "NoSuchBucket"
			}
			return nil, errorf(http.StatusBadRequest, "InvalidParameterValueException",
				"Error occurred while GetObject. S3 Error Code: %s. S3 Error Message: %v", code, err)
		}
		defer obj.Contents.Close()
		b, err := io.ReadAll(obj.Contents)
		if err != nil {
			return nil, fmt.Errorf("reading s3://%s/%s: %w", req.S3Bucket, req.S3Key, err)
		}
		code = b
	default:
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValueException",
			"Please provide either ZipFile, or both S3Bucket and S3Key.")
	}
	sum := sha256.Sum256(code)

	s.mu.Lock()
	defer s.mu.Unlock()
	name, _ := parseFunctionName(in.Params["FunctionName"])
	f, ok := s.lambda.functions[name]
	if !ok {
		return nil, s.functionNotFound(name, "")
	}
	s.settleLocked(f)
	if err := s.conflictLocked(f); err != nil {
		return nil, err
	}
	if req.DryRun {
		return s.functionConfig(f, nil), nil
	}
	now := s.now()
	f.CodeSha256 = base64.StdEncoding.EncodeToString(sum[:])
	f.CodeSize = int64(len(code))
	f.LastModified = now
	f.S3Bucket, f.S3Key = req.S3Bucket, req.S3Key
	f.LastUpdateStatus = "InProgress"
	f.LastUpdateStatusReason = ""
	f.updateDone = now.Add(s.updateDelay)
	f.revision = s.nextIDLocked()
	out := s.functionConfig(f, nil)
	if req.Publish {
		v := s.publishLocked(f, "")
		out = s.functionConfig(f, v)
		out["LastUpdateStatus"] = "InProgress"
	}
	return out, nil
}

// publishLocked publishes $LATEST as a new version, or returns the newest version when
// it already holds the same code (as Lambda does).
func (s *Server) publishLocked(f *lambdaFunction, description string) *FunctionVersion {
	if n := len(f.Published); n > 0 && f.Published[n-1].CodeSha256 == f.CodeSha256 {
		return &f.Published[n-1]
	}
	f.Published = append(f.Published, FunctionVersion{
		Version:      fmt.Sprint(len(f.Published) + 1),
		Description:  description,
		CodeSha256:   f.CodeSha256,
		CodeSize:     f.CodeSize,
		LastModified: s.now(),
		Env:          maps.Clone(f.Env),
	})
	return &f.Published[len(f.Published)-1]
}

func (s *Server) lambdaPublishVersion(in lambdaInput) (any, error) {
	var req struct {
		CodeSha256  string
		Description string
	}
	if err := decodeJSON(in.Body, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name, _ := parseFunctionName(in.Params["FunctionName"])
	f, ok := s.lambda.functions[name]
	if !ok {
		return nil, s.functionNotFound(name, "")
	}
	s.settleLocked(f)
	if err := s.conflictLocked(f); err != nil {
		return nil, err
	}
	if req.CodeSha256 != "" && req.CodeSha256 != f.CodeSha256 {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValueException",
			"CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.",
			req.CodeSha256, f.CodeSha256)
	}
	return s.functionConfig(f, s.publishLocked(f, req.Description)), nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
