package awsfake

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// logsMaxLimit is FilterLogEvents' largest (and default) page: "The maximum number of
// events to return. The default is 10,000 events." (CloudWatch Logs API reference).
const logsMaxLimit = 10000

type logEvent struct {
	id        int64
	stream    string
	timestamp int64 // ms since the epoch
	ingestion int64 // ms since the epoch
	message   string
}

type logsWorld struct {
	groups map[string][]logEvent
}

func (lw *logsWorld) init() { lw.groups = map[string][]logEvent{} }

// CreateLogGroup adds an empty log group (PutLogEvent creates groups as needed).
func (s *Server) CreateLogGroup(group string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.logs.groups[group]; !ok {
		s.logs.groups[group] = nil
	}
}

// PutLogEvent appends one event to a log stream, creating the group as needed; its
// ingestion time is the server clock.
func (s *Server) PutLogEvent(group, stream string, ts time.Time, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs.groups[group] = append(s.logs.groups[group], logEvent{
		id:        s.nextIDLocked(),
		stream:    stream,
		timestamp: ts.UnixMilli(),
		ingestion: s.now().UnixMilli(),
		message:   message,
	})
}

var logsOps = map[string]operation{
	"FilterLogEvents": {run: (*Server).logsFilterLogEvents},
}

func (s *Server) logsFilterLogEvents(in []byte) (any, error) {
	var req struct {
		LogGroupName        string   `json:"logGroupName"`
		LogGroupIdentifier  string   `json:"logGroupIdentifier"`
		LogStreamNames      []string `json:"logStreamNames"`
		LogStreamNamePrefix string   `json:"logStreamNamePrefix"`
		StartTime           *int64   `json:"startTime"`
		EndTime             *int64   `json:"endTime"`
		FilterPattern       string   `json:"filterPattern"`
		NextToken           string   `json:"nextToken"`
		Limit               int      `json:"limit"`
	}
	if err := decodeJSON(in, &req); err != nil {
		return nil, err
	}
	group := req.LogGroupName
	switch {
	case group != "" && req.LogGroupIdentifier != "":
		return nil, errorf(http.StatusBadRequest, "InvalidParameterException",
			"LogGroup name and LogGroup ARN are mutually exclusive parameters.")
	case group == "":
		group = logGroupFromIdentifier(req.LogGroupIdentifier)
	}
	if len(req.LogStreamNames) > 0 && req.LogStreamNamePrefix != "" {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterException",
			"Cannot specify both LogStreamNames and LogStreamNamePrefix.")
	}
	max, ok := limit(req.Limit, logsMaxLimit, logsMaxLimit)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterException", "limit must be between 1 and %d", logsMaxLimit)
	}
	match, err := parseFilterPattern(req.FilterPattern)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	events, ok := s.logs.groups[group]
	if !ok {
		return nil, errorf(http.StatusBadRequest, "ResourceNotFoundException", "The specified log group does not exist.")
	}
	var hits []logEvent
	for _, e := range events {
		switch {
		case len(req.LogStreamNames) > 0 && !slices.Contains(req.LogStreamNames, e.stream),
			!strings.HasPrefix(e.stream, req.LogStreamNamePrefix),
			req.StartTime != nil && e.timestamp < *req.StartTime,
			req.EndTime != nil && e.timestamp > *req.EndTime,
			!match(e.message):
			continue
		}
		hits = append(hits, e)
	}
	slices.SortStableFunc(hits, func(a, b logEvent) int {
		if c := cmp.Compare(a.timestamp, b.timestamp); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	pg, next, ok := page(hits, func(e logEvent) string { return fmt.Sprint(e.id) }, req.NextToken, max)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterException", "The specified nextToken is invalid.")
	}
	out := []map[string]any{}
	for _, e := range pg {
		out = append(out, map[string]any{
			"logStreamName": e.stream,
			"timestamp":     e.timestamp,
			"message":       e.message,
			"ingestionTime": e.ingestion,
			"eventId":       fmt.Sprintf("%056d", e.id),
		})
	}
	resp := map[string]any{"events": out}
	if next != "" {
		resp["nextToken"] = next
	}
	return resp, nil
}

// logGroupFromIdentifier takes a log group name or ARN
// ("arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]") and returns the name.
func logGroupFromIdentifier(id string) string {
	if !strings.HasPrefix(id, "arn:") {
		return id
	}
	_, name, _ := strings.Cut(id, ":log-group:")
	return strings.TrimSuffix(name, ":*")
}

// parseFilterPattern supports the unstructured forms of the CloudWatch Logs filter
// syntax: terms that must all appear ("ERROR Exception"), quoted terms holding spaces
// or punctuation ("\"Internal Server Error\""), optional terms of which one must appear
// ("?ERROR ?WARN") and excluded terms ("ERROR -Throttling"). Matching is
// case-sensitive, as in CloudWatch Logs. JSON ("{ $.x = 1 }"), space-delimited
// ("[ip, ...]") and regular-expression ("%...%") patterns are refused with
// InvalidParameterException naming the sandbox limit.
func parseFilterPattern(p string) (func(string) bool, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return func(string) bool { return true }, nil
	}
	if strings.HasPrefix(p, "{") || strings.HasPrefix(p, "[") || strings.HasPrefix(p, "%") {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterException",
			"the sandbox supports only plain and quoted term filter patterns, not %q", p)
	}
	var all, oneOf, none []string
	for rest := p; rest != ""; rest = strings.TrimLeft(rest, " \t") {
		kind := byte(0)
		if rest[0] == '?' || rest[0] == '-' {
			kind, rest = rest[0], rest[1:]
		}
		var term string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				return nil, errorf(http.StatusBadRequest, "InvalidParameterException", "Invalid filter pattern: unterminated quote in %q", p)
			}
			term, rest = rest[1:end+1], rest[end+2:]
		} else {
			end := strings.IndexAny(rest, " \t")
			if end < 0 {
				end = len(rest)
			}
			term, rest = rest[:end], rest[end:]
		}
		switch kind {
		case '?':
			oneOf = append(oneOf, term)
		case '-':
			none = append(none, term)
		default:
			all = append(all, term)
		}
	}
	return func(msg string) bool {
		for _, t := range all {
			if !strings.Contains(msg, t) {
				return false
			}
		}
		for _, t := range none {
			if strings.Contains(msg, t) {
				return false
			}
		}
		if len(oneOf) == 0 {
			return true
		}
		for _, t := range oneOf {
			if strings.Contains(msg, t) {
				return true
			}
		}
		return false
	}, nil
}
