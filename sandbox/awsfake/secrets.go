package awsfake

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// secretsMaxResults is ListSecrets' largest page: MaxResults 1-100 (Secrets Manager API
// reference, ListSecrets).
const secretsMaxResults = 100

// secretsDefaultResults is the page size when MaxResults is not set.
const secretsDefaultResults = 100

// secret holds one secret. Its value never leaves the server except in a
// GetSecretValue response: the server logs nothing, and no Mutation carries it.
type secret struct {
	name           string
	arn            string
	value          string
	versionID      string
	previous       string
	previousID     string
	denied         bool
	created        time.Time
	lastChanged    time.Time
	lastAccessedOn time.Time
}

type secretsWorld struct {
	secrets map[string]*secret
}

func (sw *secretsWorld) init() { sw.secrets = map[string]*secret{} }

// PutSecret creates a secret or gives it a new current value (the old one becomes
// AWSPREVIOUS).
func (s *Server) PutSecret(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	sec, ok := s.secrets.secrets[name]
	if !ok {
		sum := sha256.Sum256([]byte(name))
		// Secrets Manager appends a hyphen and six random characters to the name.
		suffix := fmt.Sprintf("%x", sum[:3])
		sec = &secret{
			name:    name,
			arn:     fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.region, s.account, name, suffix),
			created: now,
		}
		s.secrets.secrets[name] = sec
	} else {
		sec.previous, sec.previousID = sec.value, sec.versionID
	}
	n := s.nextIDLocked()
	sec.value = value
	sec.versionID = fmt.Sprintf("%08x-5ec0-4000-8000-%012x", n, n)
	sec.lastChanged = now
}

// DenySecret makes GetSecretValue of the secret answer AccessDeniedException, as when
// the caller's policy lacks secretsmanager:GetSecretValue.
func (s *Server) DenySecret(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.secrets.secrets[name]; ok {
		sec.denied = true
	}
}

// DeleteSecret removes a secret at once (as ForceDeleteWithoutRecovery does).
func (s *Server) DeleteSecret(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets.secrets, name)
}

var secretsOps = map[string]operation{
	"GetSecretValue": {run: (*Server).smGetSecretValue},
	"DescribeSecret": {run: (*Server).smDescribeSecret},
	"ListSecrets":    {run: (*Server).smListSecrets},
}

// secretLocked finds a secret by name, full ARN or partial ARN (without the suffix).
func (s *Server) secretLocked(id string) (*secret, error) {
	if sec, ok := s.secrets.secrets[id]; ok {
		return sec, nil
	}
	for _, sec := range s.secrets.secrets {
		if id == sec.arn || (strings.HasPrefix(id, "arn:") && strings.HasPrefix(sec.arn, id+"-") && len(sec.arn) == len(id)+7) {
			return sec, nil
		}
	}
	return nil, errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

func (s *Server) smGetSecretValue(in []byte) (any, error) {
	var req struct {
		SecretId     string
		VersionId    string
		VersionStage string
	}
	if err := decodeJSON(in, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.secretLocked(req.SecretId)
	if err != nil {
		return nil, err
	}
	if sec.denied {
		return nil, errorf(http.StatusBadRequest, "AccessDeniedException",
			"User: arn:aws:sts::%s:assumed-role/medic/medic is not authorized to perform: secretsmanager:GetSecretValue on resource: %s because no identity-based policy allows the secretsmanager:GetSecretValue action",
			s.account, req.SecretId)
	}
	value, versionID, stage := sec.value, sec.versionID, "AWSCURRENT"
	switch {
	case req.VersionId == sec.versionID || req.VersionStage == "AWSCURRENT" || (req.VersionId == "" && req.VersionStage == ""):
	case sec.previousID != "" && (req.VersionId == sec.previousID || req.VersionStage == "AWSPREVIOUS"):
		value, versionID, stage = sec.previous, sec.previousID, "AWSPREVIOUS"
	case req.VersionId != "":
		return nil, errorf(http.StatusBadRequest, "ResourceNotFoundException",
			"Secrets Manager can't find the specified secret value for VersionId: %s", req.VersionId)
	default:
		return nil, errorf(http.StatusBadRequest, "ResourceNotFoundException",
			"Secrets Manager can't find the specified secret value for staging label: %s", req.VersionStage)
	}
	now := s.now()
	sec.lastAccessedOn = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return map[string]any{
		"ARN":           sec.arn,
		"Name":          sec.name,
		"VersionId":     versionID,
		"SecretString":  value,
		"VersionStages": []string{stage},
		"CreatedDate":   epochSeconds(sec.lastChanged),
	}, nil
}

// describe renders a secret's metadata, never its value.
func (sec *secret) describe() map[string]any {
	out := map[string]any{
		"ARN":             sec.arn,
		"Name":            sec.name,
		"CreatedDate":     epochSeconds(sec.created),
		"LastChangedDate": epochSeconds(sec.lastChanged),
	}
	if !sec.lastAccessedOn.IsZero() {
		out["LastAccessedDate"] = epochSeconds(sec.lastAccessedOn)
	}
	return out
}

// stages maps version IDs to their staging labels.
func (sec *secret) stages() map[string][]string {
	stages := map[string][]string{sec.versionID: {"AWSCURRENT"}}
	if sec.previousID != "" {
		stages[sec.previousID] = []string{"AWSPREVIOUS"}
	}
	return stages
}

func (s *Server) smDescribeSecret(in []byte) (any, error) {
	var req struct{ SecretId string }
	if err := decodeJSON(in, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.secretLocked(req.SecretId)
	if err != nil {
		return nil, err
	}
	out := sec.describe()
	out["VersionIdsToStages"] = sec.stages()
	return out, nil
}

func (s *Server) smListSecrets(in []byte) (any, error) {
	var req struct {
		MaxResults int
		NextToken  string
		Filters    []struct {
			Key    string
			Values []string
		}
	}
	if err := decodeJSON(in, &req); err != nil {
		return nil, err
	}
	max, ok := limit(req.MaxResults, secretsDefaultResults, secretsMaxResults)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterException", "MaxResults must be between 1 and %d", secretsMaxResults)
	}
	var prefixes []string
	for _, f := range req.Filters {
		if f.Key != "name" {
			return nil, errorf(http.StatusBadRequest, "InvalidParameterException",
				"the sandbox supports only the name filter of ListSecrets, not %q", f.Key)
		}
		prefixes = append(prefixes, f.Values...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*secret
	for _, name := range slices.Sorted(maps.Keys(s.secrets.secrets)) {
		if len(prefixes) > 0 && !matchesNameFilter(name, prefixes) {
			continue
		}
		matched = append(matched, s.secrets.secrets[name])
	}
	pg, next, ok := page(matched, func(sec *secret) string { return sec.name }, req.NextToken, max)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidNextTokenException", "The NextToken value is invalid.")
	}
	list := []map[string]any{}
	for _, sec := range pg {
		e := sec.describe()
		e["SecretVersionsToStages"] = sec.stages()
		list = append(list, e)
	}
	out := map[string]any{"SecretList": list}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

// matchesNameFilter applies ListSecrets' name filter: each value is a prefix (a leading
// "!" negates it); a name matches when it matches any value.
func matchesNameFilter(name string, values []string) bool {
	for _, v := range values {
		if neg, ok := strings.CutPrefix(v, "!"); ok {
			if !strings.HasPrefix(name, neg) {
				return true
			}
			continue
		}
		if strings.HasPrefix(name, v) {
			return true
		}
	}
	return false
}
