package config

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// A value in the config file, with the key it is under and the Go type it goes into,
// so a YAML type error can name the key and the form it expects.
type yamlValue struct {
	key  string // pipeline.poll_interval, slack.command_channels[0]
	node *yaml.Node
	typ  reflect.Type
}

var durationType = reflect.TypeOf(time.Duration(0))

// readValues walks the document against Config's type and returns every value whose
// key names a field, in document order. Unknown keys are left to the decoder.
func readValues(doc *yaml.Node) []yamlValue {
	var vs []yamlValue
	var walk func(key string, n *yaml.Node, t reflect.Type)
	walk = func(key string, n *yaml.Node, t reflect.Type) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if n.Kind == yaml.AliasNode {
			// Not followed: an alias is the anchor's value, placed (and reported) at
			// the anchor, and following aliases could expand without bound.
			return
		}
		vs = append(vs, yamlValue{key: key, node: n, typ: t})
		join := func(k string) string {
			if key == "" {
				return k
			}
			return key + "." + k
		}
		switch {
		case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if f, ok := fieldByYAMLName(t, n.Content[i].Value); ok {
					walk(join(n.Content[i].Value), n.Content[i+1], f.Type)
				}
			}
		case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(join(n.Content[i].Value), n.Content[i+1], t.Elem())
			}
		case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
			for i, c := range n.Content {
				walk(fmt.Sprintf("%s[%d]", key, i), c, t.Elem())
			}
		}
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		walk("", doc.Content[0], reflect.TypeOf(Config{}))
	}
	return vs
}

// fieldByYAMLName finds the field of struct type t whose yaml tag (or lower-cased
// name, as yaml.v3 does) is name.
func fieldByYAMLName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// zeroDurations rewrites each plain 0 given for a duration as 0s, in place, so that
// `poll_interval: 0` (which turns polling off) decodes: yaml.v3 takes a duration only
// as a string. Only the characters of the 0 change, so every line number the decoder
// reports afterwards is still the file's.
func zeroDurations(data []byte, vs []yamlValue) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	type zero struct {
		node *yaml.Node
		key  string // the last element of its key: it must precede the 0 on its line
	}
	var zeros []zero
	for _, v := range vs {
		if v.typ == durationType && v.node.Kind == yaml.ScalarNode && v.node.Tag == "!!int" && v.node.Style == 0 && v.node.Value == "0" && v.node.Anchor == "" {
			key := v.key[strings.LastIndex(v.key, ".")+1:]
			zeros = append(zeros, zero{v.node, key})
		}
	}
	// From the last to the first, so an edit never moves the column of one still to do.
	slices.SortFunc(zeros, func(a, b zero) int {
		if a.node.Line != b.node.Line {
			return b.node.Line - a.node.Line
		}
		return b.node.Column - a.node.Column
	})
	for _, z := range zeros {
		n := z.node
		if n.Line < 1 || n.Line > len(lines) {
			continue
		}
		line := []rune(string(lines[n.Line-1]))
		// Only where the parser said, after its key on the same line (a file whose
		// line breaks are not \n leaves the 0 alone, for the decoder to report).
		if n.Column < 1 || n.Column > len(line) || line[n.Column-1] != '0' || !strings.Contains(string(line[:n.Column-1]), z.key+":") {
			continue
		}
		edited := slices.Insert(line, n.Column, 's')
		lines[n.Line-1] = []byte(string(edited))
	}
	return bytes.Join(lines, nil)
}

// yaml.v3 writes "line 3: cannot unmarshal !!int `60` into time.Duration", with no
// value for a list or a mapping and a value over 10 characters cut to 7 and "...".
var typeErrorRE = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into ")

// typeProblem turns one of yaml.v3's type errors into a problem that names the key,
// the form the key takes and an example. An error it cannot place is kept as it is.
func typeProblem(e string, vs []yamlValue) Problem {
	m := typeErrorRE.FindStringSubmatch(e)
	if m == nil {
		if strings.Contains(e, " not found in type ") {
			return Problem{Key: "(yaml)", Msg: e, Fix: "remove or rename the key; see the config reference in README.md"}
		}
		return Problem{Key: "(yaml)", Msg: e, Fix: "see the config reference in README.md"}
	}
	line, _ := strconv.Atoi(m[1])
	var found *yamlValue
	for i := range vs {
		v := &vs[i]
		if v.node.Line != line {
			continue
		}
		var same bool
		switch {
		case m[3] == "" && (m[2] == "seq" || m[2] == "map"):
			same = v.node.Tag == "!!"+m[2]
		default:
			same = v.node.Kind == yaml.ScalarNode && (v.node.Value == m[3] ||
				strings.HasSuffix(m[3], "...") && strings.HasPrefix(v.node.Value, strings.TrimSuffix(m[3], "...")))
		}
		if same {
			found = v // the innermost value on the line wins
		}
	}
	if found == nil {
		return Problem{Key: "(yaml)", Msg: e, Fix: "see the config reference in README.md"}
	}
	form, example := expectedForm(found.typ)
	if n, err := strconv.ParseFloat(found.node.Value, 64); err == nil && found.typ == durationType && n > 0 {
		example = fmt.Sprintf("give it a unit: %ss for seconds or %sm for minutes", found.node.Value, found.node.Value)
	}
	return Problem{
		Key: found.key,
		Msg: fmt.Sprintf("line %d: %s is not %s", line, describeValue(found.node), form),
		Fix: example,
	}
}

// describeValue shows a value as the file has it: a scalar quoted, a list or mapping
// by its kind.
func describeValue(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	v := n.Value
	if len([]rune(v)) > 40 {
		v = string([]rune(v)[:40]) + "…"
	}
	return strconv.Quote(v)
}

// expectedForm names what a key of type t takes, and gives an example of it.
func expectedForm(t reflect.Type) (form, example string) {
	if t == durationType {
		return "a duration", "write a number with a unit, e.g. 30s, 15m or 1h"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false", "write true or false, unquoted"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number", "write a number without quotes or unit, e.g. 3"
	case reflect.Float32, reflect.Float64:
		return "a number", "write a number, e.g. 0.5"
	case reflect.String:
		return "a text", `write one value, quoted if it has a colon or starts with a special character, e.g. "main"`
	case reflect.Slice:
		return "a list", "write [a, b] or one item per line starting with -"
	case reflect.Map, reflect.Struct:
		return "a mapping", "indent its keys under it, one key: value per line"
	}
	return t.String(), "see the config reference in README.md"
}
