package awsfake

import (
	"strings"
	"testing"
)

func TestConditionEval(t *testing.T) {
	lock := Item{
		"LockID": S("b/k"), "Info": S(`{"ID":"1"}`), "n": N("10"), "ok": Bool(true),
		"tags": map[string]any{"SS": []any{"a", "b"}}, "ns": map[string]any{"NS": []any{"1", "2"}},
		"l": map[string]any{"L": []any{S("x"), N("1")}}, "m": map[string]any{"M": map[string]any{"k": N("1")}},
	}
	tests := []struct {
		name   string
		expr   string
		names  map[string]string
		values map[string]any
		item   Item // nil: the item does not exist
		want   bool
	}{
		// Terraform's lock: PutItem with attribute_not_exists(LockID).
		{"not exists, no item", "attribute_not_exists(LockID)", nil, nil, nil, true},
		{"not exists, item held", "attribute_not_exists(LockID)", nil, nil, lock, false},
		{"exists, no item", "attribute_exists(LockID)", nil, nil, nil, false},
		{"exists, item held", "attribute_exists(LockID)", nil, nil, lock, true},
		{"exists, other attribute missing", "attribute_exists(Digest)", nil, nil, lock, false},
		{"alias", "attribute_not_exists(#k)", map[string]string{"#k": "LockID"}, nil, lock, false},
		{"spaces around the path", "attribute_exists ( LockID )", nil, nil, lock, true},

		{"equal string", "Info = :v", nil, map[string]any{":v": S(`{"ID":"1"}`)}, lock, true},
		{"equal string, other value", "Info = :v", nil, map[string]any{":v": S(`{"ID":"2"}`)}, lock, false},
		{"value on the left", ":v = Info", nil, map[string]any{":v": S(`{"ID":"1"}`)}, lock, true},
		{"not equal", "Info <> :v", nil, map[string]any{":v": S(`{"ID":"2"}`)}, lock, true},
		{"not equal, same value", "Info <> :v", nil, map[string]any{":v": S(`{"ID":"1"}`)}, lock, false},
		{"equal, attribute missing", "Digest = :v", nil, map[string]any{":v": S("x")}, lock, false},
		{"not equal, attribute missing", "Digest <> :v", nil, map[string]any{":v": S("x")}, lock, true},
		{"equal, no item", "Info = :v", nil, map[string]any{":v": S("x")}, nil, false},
		{"equal, type differs", "n = :v", nil, map[string]any{":v": S("10")}, lock, false},
		{"not equal, type differs", "n <> :v", nil, map[string]any{":v": S("10")}, lock, true},
		{"numbers compare as numbers", "n = :v", nil, map[string]any{":v": N("10.0")}, lock, true},
		{"numbers, exponent", "n = :v", nil, map[string]any{":v": N("1e1")}, lock, true},
		{"numbers differ", "n = :v", nil, map[string]any{":v": N("11")}, lock, false},
		{"bool", "ok = :t", nil, map[string]any{":t": Bool(true)}, lock, true},
		{"string set, any order", "tags = :v", nil, map[string]any{":v": map[string]any{"SS": []any{"b", "a"}}}, lock, true},
		{"string set, other members", "tags = :v", nil, map[string]any{":v": map[string]any{"SS": []any{"a", "c"}}}, lock, false},
		{"number set compares numbers", "ns = :v", nil, map[string]any{":v": map[string]any{"NS": []any{"2.0", "1"}}}, lock, true},
		{"list, element by element", "l = :v", nil, map[string]any{":v": map[string]any{"L": []any{S("x"), N("1.0")}}}, lock, true},
		{"list, other order", "l = :v", nil, map[string]any{":v": map[string]any{"L": []any{N("1"), S("x")}}}, lock, false},
		{"map", "m = :v", nil, map[string]any{":v": map[string]any{"M": map[string]any{"k": N("01")}}}, lock, true},
		{"map, other value", "m = :v", nil, map[string]any{":v": map[string]any{"M": map[string]any{"k": S("1")}}}, lock, false},
		{"malformed set member", "tags = :v", nil, map[string]any{":v": map[string]any{"SS": []any{map[string]any{}, "a"}}}, lock, false},
		{"two attributes", "LockID = LockID", nil, nil, lock, true},
		{"alias and value", "#i = :v", map[string]string{"#i": "Info"}, map[string]any{":v": S(`{"ID":"1"}`)}, lock, true},

		{"and, both true", "attribute_exists(LockID) AND Info = :v", nil, map[string]any{":v": S(`{"ID":"1"}`)}, lock, true},
		{"and, one false", "attribute_exists(LockID) AND Info = :v", nil, map[string]any{":v": S("x")}, lock, false},
		{"or, one true", "attribute_not_exists(LockID) OR Info = :v", nil, map[string]any{":v": S(`{"ID":"1"}`)}, lock, true},
		{"or, both false", "attribute_not_exists(LockID) OR Info = :v", nil, map[string]any{":v": S("x")}, lock, false},
		{"keywords are case-insensitive", "attribute_not_exists(LockID) or Info = :v and n = :n", nil,
			map[string]any{":v": S(`{"ID":"1"}`), ":n": N("10")}, lock, true},
		// AND binds tighter than OR: true OR (false AND false).
		{"and before or", "attribute_exists(LockID) OR attribute_exists(a) AND attribute_exists(b)", nil, nil, lock, true},
		{"parentheses", "(attribute_exists(LockID) OR attribute_exists(a)) AND attribute_exists(b)", nil, nil, lock, false},
		{"not", "NOT attribute_exists(LockID)", nil, nil, lock, false},
		{"not binds tighter than and", "NOT attribute_exists(a) AND attribute_exists(LockID)", nil, nil, lock, true},
		{"double not", "NOT NOT attribute_exists(LockID)", nil, nil, lock, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &expressionInput{names: tt.names, values: tt.values, usedNames: map[string]bool{}, usedValues: map[string]bool{}}
			cond, err := parseCondition(tt.expr, in)
			if err != nil {
				t.Fatalf("parsing %q: %v", tt.expr, err)
			}
			item := tt.item
			if item == nil {
				item = Item{}
			}
			if got := cond.eval(item); got != tt.want {
				t.Errorf("%q on %v: got %v, want %v", tt.expr, tt.item, got, tt.want)
			}
			for k := range tt.names {
				if !in.usedNames[k] {
					t.Errorf("name %s not marked used", k)
				}
			}
			for k := range tt.values {
				if !in.usedValues[k] {
					t.Errorf("value %s not marked used", k)
				}
			}
		})
	}
}

func TestConditionRefused(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		names   map[string]string
		values  map[string]any
		wantMsg string
	}{
		{"undefined alias", "attribute_exists(#x)", nil, nil, "An expression attribute name used in the document path is not defined; attribute name: #x"},
		{"undefined value", "a = :x", nil, nil, "An expression attribute value used in expression is not defined; attribute value: :x"},
		{"reserved word", "attribute_exists(status)", nil, nil, "Attribute name is a reserved keyword; reserved keyword: status"},
		{"unknown function", "attribute_missing(a)", nil, nil, "Invalid function name; function: attribute_missing"},
		{"function names are case-sensitive", "ATTRIBUTE_EXISTS(a)", nil, nil, "Invalid function name"},
		{"missing parenthesis", "attribute_exists(a", nil, nil, "Syntax error; token: \"<EOF>\""},
		{"dangling and", "attribute_exists(a) AND", nil, nil, "Syntax error; token: \"<EOF>\""},
		{"trailing tokens", "attribute_exists(a) b", nil, nil, "Syntax error; token: \"b\""},
		{"bare attribute", "a", nil, nil, "Syntax error"},
		{"keyword as a path", "attribute_exists(AND)", nil, nil, "Syntax error; token: \"AND\""},
		{"empty", "", nil, nil, "Syntax error; token: \"<EOF>\""},
		{"bad character", "a = :v!", nil, map[string]any{":v": S("x")}, "Invalid character encountered"},
		{"lone colon", "a = :", nil, nil, "Syntax error"},
		// Valid DynamoDB the sandbox does not evaluate: refused, never ignored.
		{"less than", "n < :v", nil, map[string]any{":v": N("1")}, "the sandbox does not evaluate <"},
		{"greater or equal", "n >= :v", nil, map[string]any{":v": N("1")}, "the sandbox does not evaluate >="},
		{"between", "n BETWEEN :a AND :b", nil, map[string]any{":a": N("1"), ":b": N("2")}, "the sandbox does not evaluate BETWEEN"},
		{"in", "n IN (:a, :b)", nil, map[string]any{":a": N("1"), ":b": N("2")}, "the sandbox does not evaluate IN"},
		{"begins_with", "begins_with(a, :p)", nil, map[string]any{":p": S("x")}, "the sandbox does not evaluate begins_with"},
		{"size", "size(a) = :n", nil, map[string]any{":n": N("1")}, "the sandbox does not evaluate size"},
		{"nested map path", "attribute_exists(a.b)", nil, nil, "only top-level attributes"},
		{"nested list path", "a[0] = :v", nil, map[string]any{":v": S("x")}, "only top-level attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &expressionInput{names: tt.names, values: tt.values, usedNames: map[string]bool{}, usedValues: map[string]bool{}}
			_, err := parseCondition(tt.expr, in)
			ae, ok := err.(*apiError)
			if !ok || ae.Code != "ValidationException" || ae.Status != 400 || !strings.Contains(ae.Message, tt.wantMsg) {
				t.Fatalf("%q: got %v, want a 400 ValidationException containing %q", tt.expr, err, tt.wantMsg)
			}
		})
	}
}

func TestWriteRequestCheck(t *testing.T) {
	tests := []struct {
		name    string
		req     writeRequest
		wantMsg string // "" when the request is valid
	}{
		{"unconditional", writeRequest{}, ""},
		{"condition", writeRequest{ConditionExpression: "attribute_not_exists(LockID)"}, ""},
		{"names and values used", writeRequest{
			ConditionExpression:       "#i = :v",
			ExpressionAttributeNames:  map[string]string{"#i": "Info"},
			ExpressionAttributeValues: map[string]any{":v": S("x")},
		}, ""},
		{"unused name", writeRequest{
			ConditionExpression:      "attribute_exists(a)",
			ExpressionAttributeNames: map[string]string{"#i": "Info"},
		}, "Value provided in ExpressionAttributeNames unused in expressions: keys: {#i}"},
		{"unused value", writeRequest{
			ConditionExpression:       "attribute_exists(a)",
			ExpressionAttributeValues: map[string]any{":v": S("x"), ":w": S("y")},
		}, "Value provided in ExpressionAttributeValues unused in expressions: keys: {:v, :w}"},
		{"names without an expression", writeRequest{ExpressionAttributeNames: map[string]string{"#i": "Info"}},
			"ExpressionAttributeNames can only be specified when using expressions"},
		{"values without an expression", writeRequest{ExpressionAttributeValues: map[string]any{":v": S("x")}},
			"ExpressionAttributeValues can only be specified when using expressions"},
		{"value that is no AttributeValue", writeRequest{
			ConditionExpression:       "a = :v",
			ExpressionAttributeValues: map[string]any{":v": map[string]any{}},
		}, "ExpressionAttributeValues contains invalid value"},
		{"legacy Expected", writeRequest{Expected: map[string]any{"LockID": map[string]any{"Exists": false}}},
			"the sandbox does not support the legacy Expected"},
		{"Expected with an expression", writeRequest{
			ConditionExpression: "attribute_not_exists(LockID)",
			Expected:            map[string]any{"LockID": map[string]any{"Exists": false}},
		}, "Can not use both expression and non-expression parameters"},
		{"ConditionalOperator", writeRequest{ConditionalOperator: "AND"}, "the sandbox does not support the legacy Expected"},
		{"bad ReturnValues", writeRequest{ReturnValues: "ALL_NEW"}, "Return values set to invalid value"},
		{"ReturnValuesOnConditionCheckFailure ALL_OLD", writeRequest{ReturnValuesOnConditionCheckFailure: "ALL_OLD"},
			"the sandbox does not support ReturnValuesOnConditionCheckFailure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.req.check()
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			ae, ok := err.(*apiError)
			if !ok || ae.Code != "ValidationException" || !strings.Contains(ae.Message, tt.wantMsg) {
				t.Fatalf("got %v, want a ValidationException containing %q", err, tt.wantMsg)
			}
		})
	}
}
