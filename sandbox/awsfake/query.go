package awsfake

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// queryService is one awsQuery service: a form posted to / naming Action and Version,
// answered with <{Action}Response><{Action}Result>…</{Action}Result>…</{Action}Response>.
type queryService struct {
	name    string
	version string
	xmlns   string
	ops     map[string]queryOperation
}

// queryOperation returns the inner XML of <{Action}Result>, built with xmlElem.
type queryOperation struct {
	mutating bool
	run      func(s *Server, in queryInput) (string, error)
}

// queryInput is what an awsQuery operation receives.
type queryInput struct {
	form        url.Values
	accessKeyID string
}

var queryServices = []*queryService{
	{name: "iam", version: "2010-05-08", xmlns: "https://iam.amazonaws.com/doc/2010-05-08/", ops: iamOps},
	{name: "sts", version: "2011-06-15", xmlns: "https://sts.amazonaws.com/doc/2011-06-15/", ops: stsOps},
}

func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		s.begin(r, "query:Unknown")
		s.writeQueryError(w, "", errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "%v", err))
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.begin(r, "query:Unknown")
		s.writeQueryError(w, "", errorf(http.StatusBadRequest, "MalformedQueryString", "%v", err))
		return
	}
	action, version := form.Get("Action"), form.Get("Version")
	var svc *queryService
	for _, qs := range queryServices {
		if qs.version == version {
			svc = qs
		}
	}
	if svc == nil {
		s.begin(r, "query:"+action)
		s.writeQueryError(w, "", errorf(http.StatusBadRequest, "InvalidAction", "no service with Version %q", version))
		return
	}
	op := svc.name + ":" + action
	role := s.begin(r, op)
	o, known := svc.ops[action]
	status := http.StatusOK
	if ferr := s.faults.Hit(r.Context(), op); ferr != nil {
		e := fromFault(ferr)
		s.writeQueryError(w, svc.xmlns, e)
		status = e.Status
	} else if !known {
		s.writeQueryError(w, svc.xmlns, errorf(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version %s", action, version))
		return
	} else if result, err := o.run(s, queryInput{form: form, accessKeyID: accessKeyID(r.Header.Get("Authorization"))}); err != nil {
		e := asAPIError(err, "ServiceFailure")
		s.writeQueryError(w, svc.xmlns, e)
		status = e.Status
	} else {
		id := s.requestID()
		s.writeXML(w, http.StatusOK, id, fmt.Sprintf(
			`<%sResponse xmlns="%s"><%sResult>%s</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`,
			action, svc.xmlns, action, result, action, id, action))
	}
	if o.mutating {
		m := map[string]string{}
		for k := range form {
			m[k] = form.Get(k)
		}
		b, _ := json.Marshal(m)
		s.recordMutation(op, string(b), role, status)
	}
}

func (s *Server) writeXML(w http.ResponseWriter, status int, requestID, body string) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + body))
}

// writeQueryError answers an awsQuery error:
// <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>.
func (s *Server) writeQueryError(w http.ResponseWriter, xmlns string, e *apiError) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	setRetryAfter(w, e)
	id := s.requestID()
	s.writeXML(w, e.Status, id, fmt.Sprintf(
		`<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		xmlns, typ, xmlText(e.Code), xmlText(e.Message), id))
}

func xmlText(v string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(v))
	return b.String()
}

// xmlElem renders <name>escaped value</name>.
func xmlElem(name, value string) string {
	return "<" + name + ">" + xmlText(value) + "</" + name + ">"
}

// --- IAM ---

// IAM limits (IAM API reference): MaxItems 1-1000, default 100.
const (
	iamMaxItems     = 1000
	iamDefaultItems = 100
)

type iamWorld struct {
	users map[string]map[string]string // user → policy name → document
}

func (iw *iamWorld) init() { iw.users = map[string]map[string]string{} }

// PutUser creates an IAM user without policies (PutUserPolicy creates users as
// needed).
func (s *Server) PutUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.iam.users[user]; !ok {
		s.iam.users[user] = map[string]string{}
	}
}

// PutUserPolicy sets an inline policy of a user, creating the user as needed. document
// is the plain JSON policy; GetUserPolicy returns it URL-encoded, as IAM does.
func (s *Server) PutUserPolicy(user, policyName, document string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.iam.users[user]; !ok {
		s.iam.users[user] = map[string]string{}
	}
	s.iam.users[user][policyName] = document
}

var iamOps = map[string]queryOperation{
	"GetUserPolicy":    {run: (*Server).iamGetUserPolicy},
	"ListUserPolicies": {run: (*Server).iamListUserPolicies},
}

func (s *Server) iamUserLocked(name string) (map[string]string, error) {
	policies, ok := s.iam.users[name]
	if !ok {
		return nil, errorf(http.StatusNotFound, "NoSuchEntity", "The user with name %s cannot be found.", name)
	}
	return policies, nil
}

func (s *Server) iamGetUserPolicy(in queryInput) (string, error) {
	user, name := in.form.Get("UserName"), in.form.Get("PolicyName")
	s.mu.Lock()
	defer s.mu.Unlock()
	policies, err := s.iamUserLocked(user)
	if err != nil {
		return "", err
	}
	doc, ok := policies[name]
	if !ok {
		return "", errorf(http.StatusNotFound, "NoSuchEntity", "The user policy with name %s cannot be found.", name)
	}
	return xmlElem("UserName", user) + xmlElem("PolicyName", name) + xmlElem("PolicyDocument", percentEncode(doc)), nil
}

// percentEncode encodes every byte but RFC 3986's unreserved characters, as IAM encodes
// policy documents ("%7B%22Version%22%3A…"); url.QueryUnescape reverses it.
func percentEncode(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func (s *Server) iamListUserPolicies(in queryInput) (string, error) {
	user := in.form.Get("UserName")
	n := 0
	if raw := in.form.Get("MaxItems"); raw != "" {
		v, err := strconv.Atoi(raw)
		if err != nil {
			return "", errorf(http.StatusBadRequest, "ValidationError", "MaxItems must be a number, got %q", raw)
		}
		n = v
	}
	max, ok := limit(n, iamDefaultItems, iamMaxItems)
	if !ok {
		return "", errorf(http.StatusBadRequest, "ValidationError",
			"1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and %d", n, iamMaxItems)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	policies, err := s.iamUserLocked(user)
	if err != nil {
		return "", err
	}
	names := slices.Sorted(maps.Keys(policies))
	pg, next, ok := page(names, func(n string) string { return n }, in.form.Get("Marker"), max)
	if !ok {
		return "", errorf(http.StatusBadRequest, "ValidationError", "Invalid Marker.")
	}
	var b strings.Builder
	b.WriteString("<PolicyNames>")
	for _, n := range pg {
		b.WriteString(xmlElem("member", n))
	}
	b.WriteString("</PolicyNames>")
	b.WriteString(xmlElem("IsTruncated", strconv.FormatBool(next != "")))
	if next != "" {
		b.WriteString(xmlElem("Marker", next))
	}
	return b.String(), nil
}

// --- STS ---

// STS AssumeRole limits (STS API reference): DurationSeconds 900-43200 (default 3600),
// RoleSessionName 2-64 characters of [\w+=,.@-].
const (
	stsMinDuration     = 900
	stsMaxDuration     = 43200
	stsDefaultDuration = 3600
)

var (
	roleARNPattern     = regexp.MustCompile(`^arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

type stsWorld struct {
	assumed []string
	keys    map[string]stsSession // access key ID → session
	denied  map[string]bool
}

type stsSession struct {
	role string
	arn  string
}

func (sw *stsWorld) init() {
	sw.keys = map[string]stsSession{}
	sw.denied = map[string]bool{}
}

func (sw *stsWorld) roleOf(accessKeyID string) string { return sw.keys[accessKeyID].role }

// AssumedRoles returns the RoleArn of every successful AssumeRole call, in order.
func (s *Server) AssumedRoles() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sts.assumed)
}

// DenyRole makes AssumeRole of roleARN answer AccessDenied, as when the role's trust
// policy does not name the caller.
func (s *Server) DenyRole(roleARN string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sts.denied[roleARN] = true
}

var stsOps = map[string]queryOperation{
	"AssumeRole":        {run: (*Server).stsAssumeRole},
	"GetCallerIdentity": {run: (*Server).stsGetCallerIdentity},
}

func stsValidation(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "ValidationError", format, args...)
}

// stsAssumeRole issues temporary credentials that expire DurationSeconds after the
// server clock's now (a fixed clock in the past makes the SDK refresh them on every
// call, which is harmless).
func (s *Server) stsAssumeRole(in queryInput) (string, error) {
	roleARN, session := in.form.Get("RoleArn"), in.form.Get("RoleSessionName")
	if !roleARNPattern.MatchString(roleARN) {
		return "", stsValidation("%s is invalid", roleARN)
	}
	if !sessionNamePattern.MatchString(session) {
		return "", stsValidation("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", session)
	}
	duration := stsDefaultDuration
	if raw := in.form.Get("DurationSeconds"); raw != "" {
		d, err := strconv.Atoi(raw)
		if err != nil || d < stsMinDuration || d > stsMaxDuration {
			return "", stsValidation("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between %d and %d", raw, stsMinDuration, stsMaxDuration)
		}
		duration = d
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sts.denied[roleARN] {
		return "", errorf(http.StatusForbidden, "AccessDenied",
			"User: %s is not authorized to perform: sts:AssumeRole on resource: %s", s.callerARNLocked(in.accessKeyID), roleARN)
	}
	n := s.nextIDLocked()
	keyID := fmt.Sprintf("ASIA%016X", n)
	roleName := roleARN[strings.LastIndex(roleARN, "/")+1:]
	sessionARN := fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", s.account, roleName, session)
	s.sts.keys[keyID] = stsSession{role: roleARN, arn: sessionARN}
	s.sts.assumed = append(s.sts.assumed, roleARN)
	expires := s.now().Add(time.Duration(duration) * time.Second).UTC().Format(time.RFC3339)
	return "<Credentials>" +
			xmlElem("AccessKeyId", keyID) +
			xmlElem("SecretAccessKey", fmt.Sprintf("sandbox-secret-%016x", n)) +
			xmlElem("SessionToken", fmt.Sprintf("sandbox-session-token-%016x", n)) +
			xmlElem("Expiration", expires) +
			"</Credentials><AssumedRoleUser>" +
			xmlElem("AssumedRoleId", fmt.Sprintf("AROA%016X:%s", n, session)) +
			xmlElem("Arn", sessionARN) +
			"</AssumedRoleUser>" +
			xmlElem("PackedPolicySize", "0"),
		nil
}

func (s *Server) callerARNLocked(accessKeyID string) string {
	if sess, ok := s.sts.keys[accessKeyID]; ok {
		return sess.arn
	}
	return fmt.Sprintf("arn:aws:iam::%s:user/medic", s.account)
}

func (s *Server) stsGetCallerIdentity(in queryInput) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return xmlElem("UserId", "AIDASANDBOXMEDIC") +
		xmlElem("Account", s.account) +
		xmlElem("Arn", s.callerARNLocked(in.accessKeyID)), nil
}
