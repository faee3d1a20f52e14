package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestEveryKeyIsInTheReadme: each key the config file takes is in README.md's
// configuration reference, as a row of its own (`pipeline.poll_interval`, an
// environment's as `….health.url`) or, for the keys of a list or mapping entry, named in
// its parent's row (`responders` in the `access.roles.<env or *>` row).
func TestEveryKeyIsInTheReadme(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ref, ok := strings.Cut(string(data), "## Configuration reference")
	if !ok {
		t.Fatal("README.md has no Configuration reference section")
	}
	ref, _, _ = strings.Cut(ref, "\n## ")
	rows := map[string]string{} // each key a row names in its first cell → the row
	for _, line := range strings.Split(ref, "\n") {
		cells := strings.Split(line, " | ")
		if !strings.HasPrefix(line, "| `") || len(cells) < 2 {
			continue
		}
		for i, tok := range strings.Split(cells[0], "`") {
			if i%2 == 1 {
				rows[strings.Replace(tok, "….", "environments.<name>.", 1)] = line
			}
		}
	}
	// A row names the key itself, or a mapping of such keys (access.self_service.<env>).
	named := func(key string) (string, bool) {
		for k, row := range rows {
			if k == key || strings.HasPrefix(k, key+".<") {
				return row, true
			}
		}
		return "", false
	}
	documented := func(key string) bool {
		if _, ok := named(key); ok {
			return true
		}
		// The key of a mapping's entry or of a version source, named in the row of the
		// key above it: "`responders`" in access.roles.<env or *>, "`tag: KEY`" in
		// ….lambda.version.
		i := strings.LastIndex(key, ".")
		if i < 0 {
			return false
		}
		parent, leaf := strings.TrimSuffix(key[:i], ".<name>"), key[i+1:]
		row, ok := named(parent)
		return ok && strings.Contains(row, "`"+leaf)
	}
	var keys []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			switch {
			case ft.Kind() == reflect.Struct && ft != durationType:
				walk(prefix+tag+".", ft)
			case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
				walk(prefix+tag+".<name>.", ft.Elem())
			default:
				keys = append(keys, prefix+tag)
			}
		}
	}
	walk("", reflect.TypeOf(Config{}))
	if len(keys) < 60 {
		t.Fatalf("found %d keys in Config; the walk lost some", len(keys))
	}
	for _, k := range keys {
		if !documented(k) {
			t.Errorf("%s is not in README.md's configuration reference", k)
		}
	}
}
