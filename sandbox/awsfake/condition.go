package awsfake

import (
	"maps"
	"math/big"
	"net/http"
	"reflect"
	"slices"
	"strings"
)

// DynamoDB condition expressions (developer guide, "Condition expressions" and
// "Comparison operator and function reference"), the part the sandbox evaluates:
//
//	condition  := or
//	or         := and { OR and }
//	and        := not { AND not }
//	not        := NOT not | primary
//	primary    := "(" condition ")"
//	            | attribute_exists "(" path ")" | attribute_not_exists "(" path ")"
//	            | operand ( "=" | "<>" ) operand
//	operand    := path | :value
//	path       := name | #alias               (top-level attributes only)
//
// AND, OR and NOT are case-insensitive; function names are case-sensitive, as on AWS.
// Precedence is NOT, then AND, then OR. Everything else DynamoDB accepts (<, <=, >, >=,
// BETWEEN, IN, attribute_type, begins_with, contains, size, nested paths a.b and a[0])
// is refused with a ValidationException naming the sandbox limit, never ignored.

// conditionNode is a parsed condition, evaluated against an item (empty when the item
// does not exist).
type conditionNode interface {
	eval(it Item) bool
}

type condAnd struct{ l, r conditionNode }

func (c condAnd) eval(it Item) bool { return c.l.eval(it) && c.r.eval(it) }

type condOr struct{ l, r conditionNode }

func (c condOr) eval(it Item) bool { return c.l.eval(it) || c.r.eval(it) }

type condNot struct{ x conditionNode }

func (c condNot) eval(it Item) bool { return !c.x.eval(it) }

// condExists is attribute_exists(attr) (exists true) or attribute_not_exists(attr).
type condExists struct {
	attr   string
	exists bool
}

func (c condExists) eval(it Item) bool {
	_, ok := it[c.attr]
	return ok == c.exists
}

// condCompare is l = r, or l <> r when not is set.
type condCompare struct {
	l, r operand
	not  bool
}

// eval compares two AttributeValues. A missing attribute or values of different types
// are not equal, so "=" is false and "<>" is true for them (as the legacy NE operator
// documents: "If an item contains an AttributeValue of a different type than the one
// provided, … the attribute does not equal").
func (c condCompare) eval(it Item) bool {
	l, lok := c.l.value(it)
	r, rok := c.r.value(it)
	eq := lok && rok && attrEqual(l, r)
	return eq != c.not
}

// operand is an attribute of the item or an ExpressionAttributeValues value.
type operand struct {
	attr  string
	val   any
	isVal bool
}

func (o operand) value(it Item) (any, bool) {
	if o.isVal {
		return o.val, true
	}
	v, ok := it[o.attr]
	return v, ok
}

// attrEqual says whether two AttributeValues in their JSON wire form are equal: same
// type and same value, numbers compared as numbers ("1.0" = "1"), sets regardless of
// order, lists and maps element by element.
func attrEqual(a, b any) bool {
	ta, tb := attrType(a), attrType(b)
	if ta == "" || ta != tb {
		return false
	}
	va, vb := a.(map[string]any)[ta], b.(map[string]any)[tb]
	switch ta {
	case "N":
		return numberEqual(va, vb)
	case "SS", "BS", "NS":
		la, oka := va.([]any)
		lb, okb := vb.([]any)
		if !oka || !okb || len(la) != len(lb) {
			return false
		}
		for _, x := range la {
			if !slices.ContainsFunc(lb, func(y any) bool {
				if ta == "NS" {
					return numberEqual(x, y)
				}
				return reflect.DeepEqual(x, y)
			}) {
				return false
			}
		}
		return true
	case "L":
		la, oka := va.([]any)
		lb, okb := vb.([]any)
		return oka && okb && slices.EqualFunc(la, lb, attrEqual)
	case "M":
		ma, oka := va.(map[string]any)
		mb, okb := vb.(map[string]any)
		if !oka || !okb || len(ma) != len(mb) {
			return false
		}
		for k, x := range ma {
			y, ok := mb[k]
			if !ok || !attrEqual(x, y) {
				return false
			}
		}
		return true
	}
	// S, B (base64 text), BOOL, NULL.
	return reflect.DeepEqual(va, vb)
}

// numberEqual compares two DynamoDB numbers, carried as decimal strings.
func numberEqual(a, b any) bool {
	sa, oka := a.(string)
	sb, okb := b.(string)
	if !oka || !okb {
		return false
	}
	ra, oka := new(big.Rat).SetString(sa)
	rb, okb := new(big.Rat).SetString(sb)
	return oka && okb && ra.Cmp(rb) == 0
}

// attrTypes are the AttributeValue type names (AttributeValue, DynamoDB API reference).
var attrTypes = map[string]bool{
	"S": true, "N": true, "B": true, "BOOL": true, "NULL": true,
	"SS": true, "NS": true, "BS": true, "L": true, "M": true,
}

// expressionInput is what an expression may refer to: the request's
// ExpressionAttributeNames and ExpressionAttributeValues. used records which were.
type expressionInput struct {
	names      map[string]string
	values     map[string]any
	usedNames  map[string]bool
	usedValues map[string]bool
}

// parseCondition parses a ConditionExpression, resolving #aliases and :values and
// marking those it uses in in.
func parseCondition(expr string, in *expressionInput) (conditionNode, error) {
	toks, err := lexCondition(expr)
	if err != nil {
		return nil, err
	}
	p := &condParser{expr: expr, toks: toks, in: in}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if !p.at(tokEOF) {
		return nil, p.syntax()
	}
	return n, nil
}

type tokKind int

const (
	tokEOF    tokKind = iota
	tokIdent          // a name, keyword or function
	tokAlias          // #name
	tokValue          // :value
	tokLParen         // (
	tokRParen         // )
	tokComma          // ,
	tokOp             // = <> < <= > >=
	tokPath           // . [ ]: nested document paths
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func isNameByte(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func lexCondition(expr string) ([]token, error) {
	var toks []token
	for i := 0; i < len(expr); {
		c := expr[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '(':
			toks = append(toks, token{tokLParen, "(", start})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")", start})
			i++
		case c == ',':
			toks = append(toks, token{tokComma, ",", start})
			i++
		case c == '.' || c == '[' || c == ']':
			toks = append(toks, token{tokPath, string(c), start})
			i++
		case c == '=':
			toks = append(toks, token{tokOp, "=", start})
			i++
		case c == '<' || c == '>':
			i++
			if i < len(expr) && (expr[i] == '=' || c == '<' && expr[i] == '>') {
				i++
			}
			toks = append(toks, token{tokOp, expr[start:i], start})
		case c == '#' || c == ':':
			i++
			for i < len(expr) && isNameByte(expr[i]) {
				i++
			}
			if i == start+1 {
				return nil, validation("Invalid ConditionExpression: Syntax error; token: %q, near: %q", string(c), near(expr, start))
			}
			kind := tokAlias
			if c == ':' {
				kind = tokValue
			}
			toks = append(toks, token{kind, expr[start:i], start})
		case isNameByte(c):
			for i < len(expr) && isNameByte(expr[i]) {
				i++
			}
			toks = append(toks, token{tokIdent, expr[start:i], start})
		default:
			return nil, validation("Invalid ConditionExpression: Invalid character encountered; character: %q", string(c))
		}
	}
	return append(toks, token{tokEOF, "<EOF>", len(expr)}), nil
}

// near is the context DynamoDB quotes with a syntax error: the text around pos.
func near(expr string, pos int) string {
	from, to := max(pos-10, 0), min(pos+10, len(expr))
	return strings.TrimSpace(expr[from:to])
}

type condParser struct {
	expr string
	toks []token
	i    int
	in   *expressionInput
}

func (p *condParser) peek() token { return p.toks[p.i] }

func (p *condParser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *condParser) at(k tokKind) bool { return p.peek().kind == k }

func (p *condParser) atKeyword(kw string) bool {
	t := p.peek()
	return t.kind == tokIdent && strings.EqualFold(t.text, kw)
}

func (p *condParser) syntax() error {
	t := p.peek()
	return validation("Invalid ConditionExpression: Syntax error; token: %q, near: %q", t.text, near(p.expr, t.pos))
}

func (p *condParser) expect(k tokKind) error {
	if !p.at(k) {
		return p.syntax()
	}
	p.next()
	return nil
}

func (p *condParser) or() (conditionNode, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.atKeyword("OR") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = condOr{l, r}
	}
	return l, nil
}

func (p *condParser) and() (conditionNode, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.atKeyword("AND") {
		p.next()
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = condAnd{l, r}
	}
	return l, nil
}

func (p *condParser) not() (conditionNode, error) {
	if p.atKeyword("NOT") {
		p.next()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return condNot{x}, nil
	}
	return p.primary()
}

// sandboxFunctions are DynamoDB condition functions the sandbox does not evaluate.
var sandboxFunctions = map[string]bool{
	"attribute_type": true, "begins_with": true, "contains": true, "size": true,
}

func (p *condParser) primary() (conditionNode, error) {
	t := p.peek()
	if t.kind == tokLParen {
		p.next()
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		return n, p.expect(tokRParen)
	}
	if t.kind == tokIdent && p.toks[p.i+1].kind == tokLParen {
		switch {
		case t.text == "attribute_exists" || t.text == "attribute_not_exists":
			p.next()
			p.next()
			attr, err := p.path()
			if err != nil {
				return nil, err
			}
			if err := p.expect(tokRParen); err != nil {
				return nil, err
			}
			return condExists{attr: attr, exists: t.text == "attribute_exists"}, nil
		case sandboxFunctions[t.text]:
			return nil, validation("the sandbox does not evaluate %s in ConditionExpression (only attribute_exists, attribute_not_exists, = and <>)", t.text)
		}
		return nil, validation("Invalid ConditionExpression: Invalid function name; function: %s", t.text)
	}
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	if p.atKeyword("BETWEEN") || p.atKeyword("IN") {
		return nil, validation("the sandbox does not evaluate %s in ConditionExpression (only attribute_exists, attribute_not_exists, = and <>)", strings.ToUpper(p.peek().text))
	}
	op := p.peek()
	if op.kind != tokOp {
		return nil, p.syntax()
	}
	if op.text != "=" && op.text != "<>" {
		return nil, validation("the sandbox does not evaluate %s in ConditionExpression (only attribute_exists, attribute_not_exists, = and <>)", op.text)
	}
	p.next()
	r, err := p.operand()
	if err != nil {
		return nil, err
	}
	return condCompare{l: l, r: r, not: op.text == "<>"}, nil
}

func (p *condParser) operand() (operand, error) {
	t := p.peek()
	if t.kind == tokValue {
		p.next()
		v, ok := p.in.values[t.text]
		if !ok {
			return operand{}, validation("Invalid ConditionExpression: An expression attribute value used in expression is not defined; attribute value: %s", t.text)
		}
		p.in.usedValues[t.text] = true
		return operand{val: v, isVal: true}, nil
	}
	attr, err := p.path()
	if err != nil {
		return operand{}, err
	}
	return operand{attr: attr}, nil
}

// path reads a top-level attribute name, plain or #alias.
func (p *condParser) path() (string, error) {
	t := p.peek()
	var attr string
	switch {
	case t.kind == tokAlias:
		n, ok := p.in.names[t.text]
		if !ok {
			return "", validation("Invalid ConditionExpression: An expression attribute name used in the document path is not defined; attribute name: %s", t.text)
		}
		p.in.usedNames[t.text] = true
		attr = n
	case t.kind == tokIdent && isKeyword(t.text):
		return "", p.syntax()
	case t.kind == tokIdent:
		if dynamoReserved[strings.ToUpper(t.text)] {
			return "", validation("Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: %s", t.text)
		}
		attr = t.text
	default:
		return "", p.syntax()
	}
	p.next()
	if p.at(tokPath) {
		return "", validation("the sandbox supports only top-level attributes in ConditionExpression, not a nested path at %q", near(p.expr, t.pos))
	}
	return attr, nil
}

// isKeyword reports the expression keywords that cannot be attribute names.
func isKeyword(s string) bool {
	switch strings.ToUpper(s) {
	case "AND", "OR", "NOT", "BETWEEN", "IN":
		return true
	}
	return false
}

// conditionFailed is DynamoDB's answer to a write whose condition is false.
func conditionFailed() *apiError {
	return errorf(http.StatusBadRequest, "ConditionalCheckFailedException", "The conditional request failed")
}

// checkValues refuses ExpressionAttributeValues that are not AttributeValues.
func checkValues(values map[string]any) error {
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if !attrTypes[attrType(values[k])] {
			return validation("ExpressionAttributeValues contains invalid value: Supplied AttributeValue is empty, must contain exactly one of the supported datatypes for key %s", k)
		}
	}
	return nil
}
