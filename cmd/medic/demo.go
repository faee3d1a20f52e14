package main

import (
	"context"
	"fmt"
	"io"
)

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "demo: not wired yet")
	return 1
}
