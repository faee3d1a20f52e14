package awsfake

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// cloudwatchPathPrefix starts every CloudWatch request: since cloudwatch v1.53.0 the Go
// SDK speaks Smithy RPC v2 CBOR, POST /service/{service}/operation/{Op}.
const cloudwatchPathPrefix = "/service/GraniteServiceVersion20100801/operation/"

// CloudWatch limits (CloudWatch API reference): DescribeAlarms takes up to 100
// AlarmNames and MaxRecords 1-100 (default 50); DescribeAlarmHistory MaxRecords 1-100
// (default 100).
const (
	cwMaxAlarmNames          = 100
	cwMaxRecords             = 100
	cwDefaultAlarmRecords    = 50
	cwDefaultHistoryRecords  = 100
	cwStateOK                = "OK"
	cwStateAlarm             = "ALARM"
	cwStateInsufficientData  = "INSUFFICIENT_DATA"
	cwHistoryStateUpdate     = "StateUpdate"
	cwHistoryConfigureUpdate = "ConfigurationUpdate"
)

// Alarm is a CloudWatch metric alarm of the world.
type Alarm struct {
	// Name is the alarm name.
	Name string
	// State is OK, ALARM or INSUFFICIENT_DATA (the default); Reason explains it.
	State  string
	Reason string
	// UpdatedAt is when the state last changed; it defaults to the server clock.
	UpdatedAt time.Time
	// Metric and Namespace name the watched metric; Threshold is compared against it.
	Metric    string
	Namespace string
	Threshold float64
	// Comparison defaults to GreaterThanOrEqualToThreshold, Statistic to Sum, Period to
	// 60 seconds and EvaluationPeriods to 1.
	Comparison        string
	Statistic         string
	Period            int
	EvaluationPeriods int
}

type alarmHistoryItem struct {
	id        int64
	alarm     string
	typ       string
	summary   string
	data      string
	timestamp time.Time
}

type cloudwatchWorld struct {
	alarms  map[string]*Alarm
	history []alarmHistoryItem
}

func (cw *cloudwatchWorld) init() { cw.alarms = map[string]*Alarm{} }

// SetAlarm adds or replaces an alarm. A new alarm records a ConfigurationUpdate in its
// history; every state change (including a new alarm's move out of
// INSUFFICIENT_DATA) records a StateUpdate.
func (s *Server) SetAlarm(a Alarm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.State == "" {
		a.State = cwStateInsufficientData
	}
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = s.now()
	}
	if a.Comparison == "" {
		a.Comparison = "GreaterThanOrEqualToThreshold"
	}
	if a.Statistic == "" {
		a.Statistic = "Sum"
	}
	if a.Period == 0 {
		a.Period = 60
	}
	if a.EvaluationPeriods == 0 {
		a.EvaluationPeriods = 1
	}
	old, ok := s.cw.alarms[a.Name]
	oldState, oldReason := cwStateInsufficientData, "Unchecked: Initial alarm creation"
	if ok {
		oldState, oldReason = old.State, old.Reason
	} else {
		s.addHistoryLocked(a.Name, cwHistoryConfigureUpdate, fmt.Sprintf("Alarm %q created", a.Name),
			`{"type":"Create","version":"1.0"}`, a.UpdatedAt)
	}
	if oldState != a.State {
		s.addStateHistoryLocked(a.Name, oldState, oldReason, a.State, a.Reason, a.UpdatedAt)
	}
	s.cw.alarms[a.Name] = &a
}

// Alarm returns the alarm called name.
func (s *Server) Alarm(name string) (Alarm, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.cw.alarms[name]
	if !ok {
		return Alarm{}, false
	}
	return *a, true
}

func (s *Server) addHistoryLocked(alarm, typ, summary, data string, at time.Time) {
	s.cw.history = append(s.cw.history, alarmHistoryItem{
		id: s.nextIDLocked(), alarm: alarm, typ: typ, summary: summary, data: data, timestamp: at,
	})
}

func (s *Server) addStateHistoryLocked(alarm, oldState, oldReason, newState, newReason string, at time.Time) {
	data, _ := json.Marshal(map[string]any{
		"version":  "1.0",
		"oldState": map[string]string{"stateValue": oldState, "stateReason": oldReason},
		"newState": map[string]string{"stateValue": newState, "stateReason": newReason},
	})
	s.addHistoryLocked(alarm, cwHistoryStateUpdate,
		fmt.Sprintf("Alarm updated from %s to %s", oldState, newState), string(data), at)
}

// operation is one operation of an RPC-style service: in is the request body as JSON,
// the result is encoded in the service's format (time.Time values become its
// timestamps).
type operation struct {
	mutating bool
	run      func(s *Server, in []byte) (any, error)
}

var cloudwatchOps = map[string]operation{
	"DescribeAlarms":       {run: (*Server).cwDescribeAlarms},
	"SetAlarmState":        {mutating: true, run: (*Server).cwSetAlarmState},
	"DescribeAlarmHistory": {run: (*Server).cwDescribeAlarmHistory},
}

func (s *Server) serveCBOR(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, cloudwatchPathPrefix)
	op := "cloudwatch:" + name
	role := s.begin(r, op)
	body, err := readBody(r)
	if err != nil {
		s.writeCBORError(w, errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "%v", err))
		return
	}
	in, err := cborToJSON(body)
	if err != nil {
		s.writeCBORError(w, errorf(http.StatusBadRequest, "SerializationException", "decoding CBOR request: %v", err))
		return
	}
	o, known := cloudwatchOps[name]
	status := http.StatusOK
	if ferr := s.faults.Hit(r.Context(), op); ferr != nil {
		e := fromFault(ferr)
		s.writeCBORError(w, e)
		status = e.Status
	} else if !known {
		s.writeCBORError(w, errorf(http.StatusNotFound, "UnknownOperationException", "no CloudWatch operation %s", name))
		return
	} else if out, err := o.run(s, in); err != nil {
		e := asAPIError(err, "InternalServiceError")
		s.writeCBORError(w, e)
		status = e.Status
	} else {
		s.writeCBOR(w, http.StatusOK, out)
	}
	if o.mutating {
		s.recordMutation(op, string(in), role, status)
	}
}

func (s *Server) writeCBOR(w http.ResponseWriter, status int, out any) {
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("X-Amzn-Requestid", s.requestID())
	w.WriteHeader(status)
	_, _ = w.Write(cbor.Encode(anyToCBOR(out)))
}

// writeCBORError answers an rpcv2Cbor error: a CBOR {"__type","message"} document, and
// since CloudWatch is awsQueryCompatible, the query error code in X-Amzn-Query-Error.
func (s *Server) writeCBORError(w http.ResponseWriter, e *apiError) {
	fault := "Sender"
	if e.Status >= 500 {
		fault = "Receiver"
	}
	w.Header().Set("X-Amzn-Query-Error", e.Code+";"+fault)
	setRetryAfter(w, e)
	s.writeCBOR(w, e.Status, map[string]any{
		"__type":  "com.amazonaws.cloudwatch#" + e.Code,
		"message": e.Message,
	})
}

func (s *Server) alarmARN(name string) string {
	return fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", s.region, s.account, name)
}

func (s *Server) renderAlarm(a *Alarm) map[string]any {
	return map[string]any{
		"AlarmName":                          a.Name,
		"AlarmArn":                           s.alarmARN(a.Name),
		"StateValue":                         a.State,
		"StateReason":                        a.Reason,
		"StateUpdatedTimestamp":              a.UpdatedAt,
		"StateTransitionedTimestamp":         a.UpdatedAt,
		"AlarmConfigurationUpdatedTimestamp": a.UpdatedAt,
		"MetricName":                         a.Metric,
		"Namespace":                          a.Namespace,
		"Threshold":                          a.Threshold,
		"ComparisonOperator":                 a.Comparison,
		"Statistic":                          a.Statistic,
		"Period":                             a.Period,
		"EvaluationPeriods":                  a.EvaluationPeriods,
		"ActionsEnabled":                     true,
		"AlarmActions":                       []any{},
		"OKActions":                          []any{},
		"InsufficientDataActions":            []any{},
		"Dimensions":                         []any{},
	}
}

func (s *Server) cwDescribeAlarms(in []byte) (any, error) {
	var req struct {
		AlarmNames      []string
		AlarmNamePrefix string
		StateValue      string
		AlarmTypes      []string
		MaxRecords      int
		NextToken       string
	}
	if err := decodeJSON(in, &req); err != nil {
		return nil, err
	}
	if len(req.AlarmNames) > 0 && req.AlarmNamePrefix != "" {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterCombination",
			"AlarmNamePrefix and AlarmNames cannot be used together.")
	}
	if len(req.AlarmNames) > cwMaxAlarmNames {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue",
			"The collection AlarmNames must not have a size greater than %d.", cwMaxAlarmNames)
	}
	max, ok := limit(req.MaxRecords, cwDefaultAlarmRecords, cwMaxRecords)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "MaxRecords must be between 1 and %d.", cwMaxRecords)
	}
	if err := checkState(req.StateValue, true); err != nil {
		return nil, err
	}
	if len(req.AlarmTypes) > 0 && !slices.Contains(req.AlarmTypes, "MetricAlarm") {
		return map[string]any{"MetricAlarms": []any{}, "CompositeAlarms": []any{}}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var matched []*Alarm
	for _, name := range slices.Sorted(maps.Keys(s.cw.alarms)) {
		a := s.cw.alarms[name]
		if len(req.AlarmNames) > 0 && !slices.Contains(req.AlarmNames, name) {
			continue
		}
		if !strings.HasPrefix(name, req.AlarmNamePrefix) {
			continue
		}
		if req.StateValue != "" && a.State != req.StateValue {
			continue
		}
		matched = append(matched, a)
	}
	pg, next, ok := page(matched, func(a *Alarm) string { return a.Name }, req.NextToken, max)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidNextToken", "The service couldn't process your request because the NextToken is invalid.")
	}
	alarms := []any{}
	for _, a := range pg {
		alarms = append(alarms, s.renderAlarm(a))
	}
	out := map[string]any{"MetricAlarms": alarms, "CompositeAlarms": []any{}}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func checkState(v string, optional bool) error {
	switch v {
	case cwStateOK, cwStateAlarm, cwStateInsufficientData:
		return nil
	case "":
		if optional {
			return nil
		}
	}
	return errorf(http.StatusBadRequest, "ValidationError",
		"1 validation error detected: Value '%s' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]", v)
}

func (s *Server) cwSetAlarmState(in []byte) (any, error) {
	var req struct {
		AlarmName       string
		StateValue      string
		StateReason     string
		StateReasonData string
	}
	if err := decodeJSON(in, &req); err != nil {
		return nil, err
	}
	if err := checkState(req.StateValue, false); err != nil {
		return nil, err
	}
	if req.StateReasonData != "" && !json.Valid([]byte(req.StateReasonData)) {
		return nil, errorf(http.StatusBadRequest, "InvalidFormat", "StateReasonData is not valid JSON.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.cw.alarms[req.AlarmName]
	if !ok {
		return nil, errorf(http.StatusNotFound, "ResourceNotFound", "Alarm %s not found", req.AlarmName)
	}
	now := s.now()
	if a.State != req.StateValue {
		s.addStateHistoryLocked(a.Name, a.State, a.Reason, req.StateValue, req.StateReason, now)
	}
	a.State, a.Reason, a.UpdatedAt = req.StateValue, req.StateReason, now
	return map[string]any{}, nil
}

func (s *Server) cwDescribeAlarmHistory(in []byte) (any, error) {
	var req struct {
		AlarmName       string
		HistoryItemType string
		StartDate       *float64
		EndDate         *float64
		MaxRecords      int
		NextToken       string
		ScanBy          string
	}
	if err := decodeJSON(in, &req); err != nil {
		return nil, err
	}
	max, ok := limit(req.MaxRecords, cwDefaultHistoryRecords, cwMaxRecords)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidParameterValue", "MaxRecords must be between 1 and %d.", cwMaxRecords)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var items []alarmHistoryItem
	for _, h := range s.cw.history {
		if req.AlarmName != "" && h.alarm != req.AlarmName {
			continue
		}
		if req.HistoryItemType != "" && h.typ != req.HistoryItemType {
			continue
		}
		if req.StartDate != nil && h.timestamp.Before(secondsToTime(*req.StartDate)) {
			continue
		}
		if req.EndDate != nil && h.timestamp.After(secondsToTime(*req.EndDate)) {
			continue
		}
		items = append(items, h)
	}
	slices.SortStableFunc(items, func(a, b alarmHistoryItem) int {
		if c := a.timestamp.Compare(b.timestamp); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	if req.ScanBy != "TimestampAscending" {
		slices.Reverse(items)
	}
	pg, next, ok := page(items, func(h alarmHistoryItem) string { return fmt.Sprint(h.id) }, req.NextToken, max)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "InvalidNextToken", "The service couldn't process your request because the NextToken is invalid.")
	}
	out := []any{}
	for _, h := range pg {
		out = append(out, map[string]any{
			"AlarmName":       h.alarm,
			"AlarmType":       "MetricAlarm",
			"Timestamp":       h.timestamp,
			"HistoryItemType": h.typ,
			"HistorySummary":  h.summary,
			"HistoryData":     h.data,
		})
	}
	resp := map[string]any{"AlarmHistoryItems": out}
	if next != "" {
		resp["NextToken"] = next
	}
	return resp, nil
}

func secondsToTime(sec float64) time.Time {
	whole, frac := math.Modf(sec)
	return time.Unix(int64(whole), int64(frac*1e9))
}

// cborToJSON converts a CBOR request body to JSON; CBOR timestamps (tag 1) become epoch
// seconds. An empty body is an empty object.
func cborToJSON(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return []byte("{}"), nil
	}
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, err
	}
	return json.Marshal(cborToAny(v))
}

func cborToAny(v cbor.Value) any {
	switch v := v.(type) {
	case cbor.Uint:
		return uint64(v)
	case cbor.NegInt:
		return -1 - int64(v)
	case cbor.Slice:
		return []byte(v)
	case cbor.String:
		return string(v)
	case cbor.List:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cborToAny(e)
		}
		return out
	case cbor.Map:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = cborToAny(e)
		}
		return out
	case *cbor.Tag:
		if v.ID == 1 {
			if t, err := cbor.AsTime(v); err == nil {
				return float64(t.UnixMilli()) / 1000
			}
		}
		return cborToAny(v.Value)
	case cbor.Bool:
		return bool(v)
	case cbor.Float32:
		return float64(v)
	case cbor.Float64:
		return float64(v)
	}
	return nil
}

// anyToCBOR encodes a response built from maps, slices, strings, numbers, booleans and
// time.Time (as tag 1 around epoch seconds, the rpcv2Cbor timestamp format).
func anyToCBOR(v any) cbor.Value {
	switch v := v.(type) {
	case nil:
		return &cbor.Nil{}
	case map[string]any:
		out := cbor.Map{}
		for k, e := range v {
			if e != nil {
				out[k] = anyToCBOR(e)
			}
		}
		return out
	case map[string]string:
		out := cbor.Map{}
		for k, e := range v {
			out[k] = cbor.String(e)
		}
		return out
	case []any:
		out := make(cbor.List, len(v))
		for i, e := range v {
			out[i] = anyToCBOR(e)
		}
		return out
	case []string:
		out := make(cbor.List, len(v))
		for i, e := range v {
			out[i] = cbor.String(e)
		}
		return out
	case string:
		return cbor.String(v)
	case bool:
		return cbor.Bool(v)
	case int:
		return intToCBOR(int64(v))
	case int64:
		return intToCBOR(v)
	case float64:
		return cbor.Float64(v)
	case time.Time:
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(v.UnixMilli()) / 1000)}
	}
	return cbor.String(fmt.Sprint(v))
}

func intToCBOR(n int64) cbor.Value {
	if n < 0 {
		return cbor.NegInt(uint64(-1 - n))
	}
	return cbor.Uint(uint64(n))
}
