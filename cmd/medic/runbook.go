package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/medic-ops/medic/config"
	"github.com/medic-ops/medic/internal/runbookdoc"
)

// runbookCmd prints, as Markdown, the failure recovery runbook that the config at
// --config (default medic.yaml, as serve and config check) makes medic carry out. A
// config that does not load is exit 2, naming the file and every problem. It reads the
// file only: no environment, no network.
func runbookCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runbook", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "medic.yaml", "config file to document")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "medic runbook: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		return 2
	}
	doc, err := runbookdoc.Generate(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "medic runbook: %v\n", err)
		return 1
	}
	if _, err := io.WriteString(stdout, doc); err != nil {
		fmt.Fprintf(stderr, "medic runbook: writing: %v\n", err)
		return 1
	}
	return 0
}
