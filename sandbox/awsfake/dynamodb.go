package awsfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// DynamoDB limits (DynamoDB developer guide): a Scan page holds at most 1 MB of data;
// ListTables returns at most 100 names per page.
const (
	dynamoMaxPageBytes = 1 << 20
	dynamoMaxTables    = 100
)

// dynamoReserved holds some of DynamoDB's reserved words (developer guide, "Reserved
// words in DynamoDB"; the full list has 573), those likely to be attribute names. A
// projection naming one directly fails as on AWS; words not listed are accepted.
var dynamoReserved = map[string]bool{
	"ACTION": true, "COMMENT": true, "COUNT": true, "CURRENT": true, "DATA": true, "DATE": true,
	"DAY": true, "DEFAULT": true, "DELETE": true, "GROUP": true, "HASH": true, "HOUR": true,
	"INDEX": true, "ITEM": true, "ITEMS": true, "KEY": true, "LANGUAGE": true, "LOCATION": true,
	"MINUTE": true, "MONTH": true, "NAME": true, "ORDER": true, "OWNER": true, "PATH": true,
	"RANGE": true, "ROLE": true, "SECOND": true, "SESSION": true, "SIZE": true, "SOURCE": true,
	"STATE": true, "STATUS": true, "TABLE": true, "TIME": true, "TIMESTAMP": true, "TTL": true,
	"TYPE": true, "USER": true, "VALUE": true, "YEAR": true,
}

// Item is a DynamoDB item: attribute name → AttributeValue in its JSON wire form, for
// example {"id": S("run-1"), "attempts": N("3")}.
type Item map[string]any

// S is a string AttributeValue, {"S": v}.
func S(v string) map[string]any { return map[string]any{"S": v} }

// N is a number AttributeValue, {"N": v}; DynamoDB carries numbers as strings.
func N(v string) map[string]any { return map[string]any{"N": v} }

// Bool is a boolean AttributeValue, {"BOOL": v}.
func Bool(v bool) map[string]any { return map[string]any{"BOOL": v} }

// Table is a DynamoDB table of the world.
type Table struct {
	// Name is the table name.
	Name string
	// Status is ACTIVE (default), CREATING, UPDATING, DELETING, … Item operations on a
	// table that is neither ACTIVE nor UPDATING answer ResourceNotFoundException.
	Status string
	// HashKey and RangeKey name the key attributes; RangeKey may be empty.
	HashKey  string
	RangeKey string
	// HashKeyType and RangeKeyType are S, N or B; unset, they come from the first item,
	// and are S for a table seeded without items.
	HashKeyType  string
	RangeKeyType string
	// Items are the table's items, in the order Scan returns them when seeded; Table()
	// returns them in Scan order.
	Items []Item
}

type dynamoTable struct {
	name, status, hash, rng string
	created                 time.Time
	keyTypes                map[string]string
	items                   map[string]Item // canonical key → item
}

type dynamoWorld struct {
	tables map[string]*dynamoTable
}

func (dw *dynamoWorld) init() { dw.tables = map[string]*dynamoTable{} }

// PutTable adds or replaces a table and its items. It panics on an item without its key
// attributes, a seeding mistake.
func (s *Server) PutTable(t Table) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dt := &dynamoTable{
		name: t.Name, status: t.Status, hash: t.HashKey, rng: t.RangeKey,
		created: s.now(), keyTypes: map[string]string{}, items: map[string]Item{},
	}
	if dt.status == "" {
		dt.status = "ACTIVE"
	}
	explicit := map[string]string{t.HashKey: t.HashKeyType, t.RangeKey: t.RangeKeyType}
	for _, k := range dt.keyNames() {
		dt.keyTypes[k] = "S"
		if len(t.Items) > 0 {
			if typ := attrType(t.Items[0][k]); typ != "" {
				dt.keyTypes[k] = typ
			}
		}
		if typ := explicit[k]; typ != "" {
			dt.keyTypes[k] = typ
		}
	}
	for _, it := range t.Items {
		it = cloneItem(it)
		key, err := dt.itemKey(it)
		if err != nil {
			panic(fmt.Sprintf("awsfake: PutTable %s: %v", t.Name, err))
		}
		dt.items[key] = it
	}
	s.ddb.tables[t.Name] = dt
}

// Table returns the table called name with its items in Scan order.
func (s *Server) Table(name string) (Table, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dt, ok := s.ddb.tables[name]
	if !ok {
		return Table{}, false
	}
	t := Table{
		Name: dt.name, Status: dt.status, HashKey: dt.hash, RangeKey: dt.rng,
		HashKeyType: dt.keyTypes[dt.hash], RangeKeyType: dt.keyTypes[dt.rng],
	}
	for _, k := range slices.Sorted(maps.Keys(dt.items)) {
		t.Items = append(t.Items, cloneItem(dt.items[k]))
	}
	return t, true
}

func cloneItem(it Item) Item {
	b, err := json.Marshal(it)
	if err != nil {
		panic(fmt.Sprintf("awsfake: item is not JSON: %v", err))
	}
	var out Item
	_ = json.Unmarshal(b, &out)
	return out
}

func attrType(v any) string {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return ""
	}
	for k := range m {
		return k
	}
	return ""
}

func (dt *dynamoTable) keyNames() []string {
	if dt.rng == "" {
		return []string{dt.hash}
	}
	return []string{dt.hash, dt.rng}
}

// itemKey returns the canonical key of a whole item (PutItem, seeding).
func (dt *dynamoTable) itemKey(it Item) (string, error) {
	var parts []string
	for _, k := range dt.keyNames() {
		v, ok := it[k]
		if !ok {
			return "", validation("One or more parameter values were invalid: Missing the key %s in the item", k)
		}
		if attrType(v) != dt.keyTypes[k] {
			return "", validation("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", k, dt.keyTypes[k], attrType(v))
		}
		b, _ := json.Marshal(v)
		parts = append(parts, string(b))
	}
	return strings.Join(parts, "\x00"), nil
}

// keyOf returns the canonical key of a Key parameter, which must hold exactly the key
// attributes.
func (dt *dynamoTable) keyOf(key Item) (string, error) {
	if len(key) != len(dt.keyNames()) {
		return "", validation("The provided key element does not match the schema")
	}
	k, err := dt.itemKey(key)
	if err != nil {
		return "", validation("The provided key element does not match the schema")
	}
	return k, nil
}

func (dt *dynamoTable) keyAttrs(it Item) Item {
	out := Item{}
	for _, k := range dt.keyNames() {
		out[k] = it[k]
	}
	return out
}

func validation(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "ValidationException", format, args...)
}

// tableLocked finds a table for an item operation.
func (s *Server) tableLocked(name string) (*dynamoTable, error) {
	dt, ok := s.ddb.tables[name]
	if !ok || (dt.status != "ACTIVE" && dt.status != "UPDATING") {
		return nil, errorf(http.StatusBadRequest, "ResourceNotFoundException", "Requested resource not found")
	}
	return dt, nil
}

var dynamoOps = map[string]operation{
	"DescribeTable": {run: (*Server).ddbDescribeTable},
	"ListTables":    {run: (*Server).ddbListTables},
	"Scan":          {run: (*Server).ddbScan},
	"GetItem":       {run: (*Server).ddbGetItem},
	"PutItem":       {mutating: true, run: (*Server).ddbPutItem},
	"DeleteItem":    {mutating: true, run: (*Server).ddbDeleteItem},
}

func (s *Server) ddbDescribeTable(in []byte) (any, error) {
	var req struct{ TableName string }
	if err := decodeJSON(in, &req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dt, ok := s.ddb.tables[req.TableName]
	if !ok {
		return nil, errorf(http.StatusBadRequest, "ResourceNotFoundException",
			"Requested resource not found: Table: %s not found", req.TableName)
	}
	var schema, defs []map[string]string
	for i, k := range dt.keyNames() {
		typ := "HASH"
		if i == 1 {
			typ = "RANGE"
		}
		schema = append(schema, map[string]string{"AttributeName": k, "KeyType": typ})
		defs = append(defs, map[string]string{"AttributeName": k, "AttributeType": dt.keyTypes[k]})
	}
	size := 0
	for _, it := range dt.items {
		b, _ := json.Marshal(it)
		size += len(b)
	}
	return map[string]any{"Table": map[string]any{
		"TableName":            dt.name,
		"TableStatus":          dt.status,
		"TableArn":             fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", s.region, s.account, dt.name),
		"KeySchema":            schema,
		"AttributeDefinitions": defs,
		"ItemCount":            len(dt.items),
		"TableSizeBytes":       size,
		"CreationDateTime":     epochSeconds(dt.created),
		"BillingModeSummary":   map[string]string{"BillingMode": "PAY_PER_REQUEST"},
		"ProvisionedThroughput": map[string]int{
			"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0,
		},
	}}, nil
}

// epochSeconds is the awsJson timestamp form: seconds since the epoch, with millis.
func epochSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (s *Server) ddbListTables(in []byte) (any, error) {
	var req struct {
		ExclusiveStartTableName string
		Limit                   int
	}
	if err := decodeJSON(in, &req); err != nil {
		return nil, err
	}
	max, ok := limit(req.Limit, dynamoMaxTables, dynamoMaxTables)
	if !ok {
		return nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", req.Limit, dynamoMaxTables)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	names := []string{}
	for _, n := range slices.Sorted(maps.Keys(s.ddb.tables)) {
		if n > req.ExclusiveStartTableName {
			names = append(names, n)
		}
	}
	out := map[string]any{}
	if len(names) > max {
		names = names[:max]
		out["LastEvaluatedTableName"] = names[max-1]
	}
	out["TableNames"] = names
	return out, nil
}

// projection resolves a ProjectionExpression of top-level attributes, plain or #alias,
// marking the aliases it uses. Nested paths (a.b, a[0]) are refused as a sandbox limit.
func projection(expr string, names map[string]string, used map[string]bool) ([]string, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	var attrs []string
	for _, p := range strings.Split(expr, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
			return nil, validation("Invalid ProjectionExpression: Syntax error; token: \",\"")
		case strings.ContainsAny(p, ".[] "):
			return nil, validation("the sandbox supports only top-level attributes in ProjectionExpression, not %q", p)
		case strings.HasPrefix(p, "#"):
			n, ok := names[p]
			if !ok {
				return nil, validation("Invalid ProjectionExpression: An expression attribute name used in the document path is not defined; attribute name: %s", p)
			}
			used[p] = true
			attrs = append(attrs, n)
		case dynamoReserved[strings.ToUpper(p)]:
			return nil, validation("Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: %s", p)
		default:
			attrs = append(attrs, p)
		}
	}
	return attrs, nil
}

func checkNamesUsed(names map[string]string, used map[string]bool) error {
	var unused []string
	for k := range names {
		if !used[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		slices.Sort(unused)
		return validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", strings.Join(unused, ", "))
	}
	return nil
}

func checkValuesUsed(values map[string]any, used map[string]bool) error {
	var unused []string
	for k := range values {
		if !used[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		slices.Sort(unused)
		return validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", strings.Join(unused, ", "))
	}
	return nil
}

func project(it Item, attrs []string) Item {
	if attrs == nil {
		return it
	}
	out := Item{}
	for _, a := range attrs {
		if v, ok := it[a]; ok {
			out[a] = v
		}
	}
	return out
}

// readRequest is the part of Scan and GetItem that selects attributes. ConsistentRead
// is accepted and changes nothing: every read of the sandbox sees every earlier write.
type readRequest struct {
	TableName                string
	ProjectionExpression     string
	ExpressionAttributeNames map[string]string
	ConsistentRead           bool
}

// attrs resolves the projection and checks every alias is used.
func (r readRequest) attrs() ([]string, error) {
	used := map[string]bool{}
	attrs, err := projection(r.ProjectionExpression, r.ExpressionAttributeNames, used)
	if err != nil {
		return nil, err
	}
	return attrs, checkNamesUsed(r.ExpressionAttributeNames, used)
}

func (s *Server) ddbScan(in []byte) (any, error) {
	var req struct {
		readRequest
		Limit             *int
		ExclusiveStartKey Item
		Select            string
		FilterExpression  string
		ScanFilter        map[string]any
		Segment           *int
	}
	if err := decodeJSON(in, &req); err != nil {
		return nil, err
	}
	if req.FilterExpression != "" || req.ScanFilter != nil || req.Segment != nil {
		return nil, validation("the sandbox does not support FilterExpression, ScanFilter or parallel Scan")
	}
	lim := 0
	if req.Limit != nil {
		if lim = *req.Limit; lim < 1 {
			return nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", lim)
		}
	}
	attrs, err := req.attrs()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dt, err := s.tableLocked(req.TableName)
	if err != nil {
		return nil, err
	}
	keys := slices.Sorted(maps.Keys(dt.items))
	if req.ExclusiveStartKey != nil {
		start, err := dt.keyOf(req.ExclusiveStartKey)
		if err != nil {
			return nil, validation("The provided starting key is invalid: The provided key element does not match the schema")
		}
		i, _ := slices.BinarySearch(keys, start+"\x00")
		keys = keys[i:]
	}
	items := []Item{}
	var last Item
	size := 0
	for i, k := range keys {
		it := dt.items[k]
		b, _ := json.Marshal(it)
		size += len(b)
		items = append(items, project(it, attrs))
		if (lim > 0 && len(items) == lim) || (size >= dynamoMaxPageBytes && i < len(keys)-1) {
			last = dt.keyAttrs(it)
			break
		}
	}
	out := map[string]any{"Count": len(items), "ScannedCount": len(items)}
	if req.Select != "COUNT" {
		out["Items"] = items
	}
	if last != nil {
		out["LastEvaluatedKey"] = last
	}
	return out, nil
}

func (s *Server) ddbGetItem(in []byte) (any, error) {
	var req struct {
		readRequest
		Key Item
	}
	if err := decodeJSON(in, &req); err != nil {
		return nil, err
	}
	attrs, err := req.attrs()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dt, err := s.tableLocked(req.TableName)
	if err != nil {
		return nil, err
	}
	k, err := dt.keyOf(req.Key)
	if err != nil {
		return nil, err
	}
	it, ok := dt.items[k]
	if !ok {
		return map[string]any{}, nil
	}
	return map[string]any{"Item": project(it, attrs)}, nil
}

// writeRequest is the part of PutItem and DeleteItem the sandbox understands. A
// ConditionExpression is evaluated (see condition.go); the legacy Expected and
// ConditionalOperator parameters are refused as a sandbox limit.
type writeRequest struct {
	TableName                           string
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
	ConditionExpression                 string
	ExpressionAttributeNames            map[string]string
	ExpressionAttributeValues           map[string]any
	Expected                            map[string]any
	ConditionalOperator                 string
}

// check validates the request and parses its condition; the condition is nil when
// the write is unconditional.
func (w writeRequest) check() (conditionNode, error) {
	if w.Expected != nil || w.ConditionalOperator != "" {
		if w.ConditionExpression != "" {
			return nil, validation("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}")
		}
		return nil, validation("the sandbox does not support the legacy Expected and ConditionalOperator parameters; use ConditionExpression")
	}
	switch w.ReturnValues {
	case "", "NONE", "ALL_OLD":
	default:
		return nil, validation("Return values set to invalid value")
	}
	switch w.ReturnValuesOnConditionCheckFailure {
	case "", "NONE":
	case "ALL_OLD":
		return nil, validation("the sandbox does not support ReturnValuesOnConditionCheckFailure ALL_OLD")
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]", w.ReturnValuesOnConditionCheckFailure)
	}
	if w.ConditionExpression == "" {
		if w.ExpressionAttributeNames != nil {
			return nil, validation("ExpressionAttributeNames can only be specified when using expressions")
		}
		if w.ExpressionAttributeValues != nil {
			return nil, validation("ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null")
		}
		return nil, nil
	}
	if err := checkValues(w.ExpressionAttributeValues); err != nil {
		return nil, err
	}
	in := &expressionInput{
		names: w.ExpressionAttributeNames, values: w.ExpressionAttributeValues,
		usedNames: map[string]bool{}, usedValues: map[string]bool{},
	}
	cond, err := parseCondition(w.ConditionExpression, in)
	if err != nil {
		return nil, err
	}
	if err := checkNamesUsed(w.ExpressionAttributeNames, in.usedNames); err != nil {
		return nil, err
	}
	if err := checkValuesUsed(w.ExpressionAttributeValues, in.usedValues); err != nil {
		return nil, err
	}
	return cond, nil
}

// allows answers ConditionalCheckFailedException when cond is false for the item the
// write would replace or delete (nil when there is none), and nil otherwise.
func allows(cond conditionNode, old Item) error {
	if cond != nil && !cond.eval(old) {
		return conditionFailed()
	}
	return nil
}

func (s *Server) ddbPutItem(in []byte) (any, error) {
	var req struct {
		writeRequest
		Item Item
	}
	if err := decodeJSON(in, &req); err != nil {
		return nil, err
	}
	cond, err := req.check()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dt, err := s.tableLocked(req.TableName)
	if err != nil {
		return nil, err
	}
	k, err := dt.itemKey(req.Item)
	if err != nil {
		return nil, err
	}
	old, had := dt.items[k]
	if err := allows(cond, old); err != nil {
		return nil, err
	}
	dt.items[k] = cloneItem(req.Item)
	if had && req.ReturnValues == "ALL_OLD" {
		return map[string]any{"Attributes": old}, nil
	}
	return map[string]any{}, nil
}

func (s *Server) ddbDeleteItem(in []byte) (any, error) {
	var req struct {
		writeRequest
		Key Item
	}
	if err := decodeJSON(in, &req); err != nil {
		return nil, err
	}
	cond, err := req.check()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dt, err := s.tableLocked(req.TableName)
	if err != nil {
		return nil, err
	}
	k, err := dt.keyOf(req.Key)
	if err != nil {
		return nil, err
	}
	old, had := dt.items[k]
	if err := allows(cond, old); err != nil {
		return nil, err
	}
	delete(dt.items, k)
	if had && req.ReturnValues == "ALL_OLD" {
		return map[string]any{"Attributes": old}, nil
	}
	return map[string]any{}, nil
}
