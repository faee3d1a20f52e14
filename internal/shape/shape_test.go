// Package shape_test holds medic's rules about its own code's shape: small
// interfaces, short functions, contexts passed rather than kept, the injected clock in
// the core, and no environment name in the core's rules. They keep each rule in one
// place as the code grows.
package shape_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	maxInterfaceMethods = 4
	maxFunctionLines    = 80
)

// file is one parsed source file of medic.
type file struct {
	path string // relative to the module root, slash-separated
	ast  *ast.File
	fset *token.FileSet
}

// sources parses every non-test Go file of medic outside the sandbox and the
// test-support packages (…test, such as storetest).
func sources(t *testing.T) []file { return parse(t, false) }

// parse reads medic's non-test Go files outside the sandbox; withSupport includes the
// test-support packages (…test).
func parse(t *testing.T, withSupport bool) []file {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module root %s: %v", root, err)
	}
	fset := token.NewFileSet()
	var out []file
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || rel == "sandbox" || (!withSupport && strings.HasSuffix(name, "test"))) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		out = append(out, file{path: rel, ast: f, fset: fset})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 50 {
		t.Fatalf("found %d source files under %s, want medic's (over 50)", len(out), root)
	}
	return out
}

func (f file) at(n ast.Node) string {
	return f.path + ":" + strconv.Itoa(f.fset.Position(n.Pos()).Line)
}

// TestInterfacesAreSmall: an interface declares at most four methods of its own; a
// consumer declares only what it calls, and a larger need is a composition of small
// interfaces (as the conformance suites' stores are). The test-support packages count.
func TestInterfacesAreSmall(t *testing.T) {
	for _, f := range parse(t, true) {
		ast.Inspect(f.ast, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			it, ok := ts.Type.(*ast.InterfaceType)
			if !ok || it.Methods == nil {
				return true
			}
			own := 0
			for _, m := range it.Methods.List {
				if _, ok := m.Type.(*ast.FuncType); ok {
					own++ // a method of its own, not an embedded interface
				}
			}
			if own > maxInterfaceMethods {
				t.Errorf("%s: interface %s has %d methods, want at most %d: split it by what its users call", f.at(ts), ts.Name.Name, own, maxInterfaceMethods)
			}
			return true
		})
	}
}

// TestFunctionsAreShort: no function or method is over 80 lines, its signature and
// closing brace included.
func TestFunctionsAreShort(t *testing.T) {
	for _, f := range sources(t) {
		for _, d := range f.ast.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			lines := f.fset.Position(fn.End()).Line - f.fset.Position(fn.Pos()).Line + 1
			if lines > maxFunctionLines {
				t.Errorf("%s: %s is %d lines, want at most %d", f.at(fn), fn.Name.Name, lines, maxFunctionLines)
			}
		}
	}
}

// TestContextsArePassedNotKept: no struct keeps a context.Context; work gets the
// context of what asked for it.
func TestContextsArePassedNotKept(t *testing.T) {
	for _, f := range sources(t) {
		ast.Inspect(f.ast, func(n ast.Node) bool {
			st, ok := n.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fld := range st.Fields.List {
				if sel, ok := fld.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Context" {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "context" {
						t.Errorf("%s: a struct keeps a context.Context: pass it to the calls that need it", f.at(fld))
					}
				}
			}
			return true
		})
	}
}

// inCore reports whether a file is recovery's (the domain), not its defaults.
func inCore(path string) bool {
	dir, name := filepath.Split(path)
	return dir == "recovery/" && name != "defaults.go"
}

// TestCoreTellsTimeByItsClock: recovery tells time and waits only through the clock
// it was given (Engine's Now and Clock), so its rules run the same in tests and at
// 3 a.m. The clock's own file is where the wall clock is wrapped.
func TestCoreTellsTimeByItsClock(t *testing.T) {
	banned := map[string]bool{"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true, "Tick": true, "NewTimer": true, "NewTicker": true, "AfterFunc": true}
	for _, f := range sources(t) {
		if !inCore(f.path) || strings.HasSuffix(f.path, "/clock.go") {
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && x.Name == "time" && banned[sel.Sel.Name] {
				t.Errorf("%s: time.%s: use the engine's clock (Now, Clock)", f.at(sel), sel.Sel.Name)
			}
			return true
		})
	}
}

// TestNoEnvironmentNameInTheCoresRules: recovery never compares with an
// environment's name: what an environment allows is its config (Protected,
// AllowDestructive). The runbook's defaults (defaults.go) name environments as data.
func TestNoEnvironmentNameInTheCoresRules(t *testing.T) {
	names := map[string]bool{"prod": true, "production": true, "preprod": true, "staging": true, "dev": true, "development": true}
	for _, f := range sources(t) {
		if !inCore(f.path) {
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			s = strings.ToLower(strings.Trim(s, "-_/ "))
			if names[s] {
				t.Errorf("%s: %s in recovery's logic: make it the environment's config, or a default in defaults.go", f.at(lit), lit.Value)
			}
			return true
		})
	}
}
