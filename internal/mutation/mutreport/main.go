// Command mutreport prints one package's mutation figures from gremlins' JSON results,
// setting aside the equivalent mutants listed with their reasons, and fails when the
// figures are below the goals given. `make mutation` runs it after gremlins.
//
//	mutreport -pkg recovery -result recovery.json -equivalent mutation/equivalent.txt \
//	    -min-coverage 80 -min-efficacy 85
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/medic-ops/medic/internal/mutation"
)

func main() {
	root := flag.String("root", ".", "the module's directory")
	pkg := flag.String("pkg", "", "the package gremlins ran on, relative to -root (recovery)")
	result := flag.String("result", "", "gremlins' JSON results (gremlins unleash -o)")
	equivalent := flag.String("equivalent", "", "the file of equivalent mutants (optional)")
	minCoverage := flag.Float64("min-coverage", 0, "fail below this mutant coverage (percent)")
	minEfficacy := flag.Float64("min-efficacy", 0, "fail below this efficacy (percent)")
	flag.Parse()
	if err := run(*root, *pkg, *result, *equivalent, *minCoverage, *minEfficacy); err != nil {
		fmt.Fprintln(os.Stderr, "mutreport:", err)
		os.Exit(1)
	}
}

func run(root, pkg, result, equivalent string, minCoverage, minEfficacy float64) error {
	if pkg == "" || result == "" {
		return fmt.Errorf("-pkg and -result are required")
	}
	f, err := os.Open(result)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := mutation.ReadResult(f)
	if err != nil {
		return fmt.Errorf("%s: %w", result, err)
	}
	var eqs []mutation.Equivalent
	if equivalent != "" {
		ef, err := os.Open(equivalent)
		if err != nil {
			return err
		}
		defer ef.Close()
		if eqs, err = mutation.ReadEquivalents(equivalent, ef); err != nil {
			return err
		}
	}
	s, err := mutation.Summarize(root, pkg, res, eqs)
	if err != nil {
		return err
	}
	s.Report(os.Stdout)
	if s.Coverage() < minCoverage || s.Efficacy() < minEfficacy {
		return fmt.Errorf("%s is below its goal: mutant coverage %.1f%% (goal %.0f%%), efficacy %.1f%% (goal %.0f%%); add tests for the lived and not covered mutants, or explain an equivalent one in %s",
			pkg, s.Coverage(), minCoverage, s.Efficacy(), minEfficacy, equivalent)
	}
	return nil
}
