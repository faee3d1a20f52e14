package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/medic-ops/medic/config"
)

func configCheckCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "medic.yaml", "config file to check")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			fmt.Fprintf(stderr, "%s: %d problem(s):\n", *path, len(ps))
			for _, p := range ps {
				fmt.Fprintf(stderr, "  %s\n", p)
			}
			return 1
		}
		fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK (%d environments: %v)\n", *path, len(cfg.Environments), envNames(cfg))
	return 0
}

func envNames(cfg *config.Config) []string {
	var names []string
	for _, e := range cfg.DomainEnvironments() {
		names = append(names, e.Name)
	}
	return names
}
