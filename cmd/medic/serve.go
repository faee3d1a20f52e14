package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/medic-ops/medic/bot"
	"github.com/medic-ops/medic/config"
)

func serveCmd(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "medic.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "medic: %s: %v\n", *path, err)
		return 2
	}
	secrets, problems := config.SecretsFromEnv(getenv)
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "medic: %v\n", problems)
		return 2
	}
	log, err := newLogger(cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "medic: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	log.Info("starting", zap.String("version", version), zap.String("commit", commit),
		zap.String("listen", cfg.Listen), zap.String("store", cfg.Redacted().Store),
		zap.Strings("environments", envNames(cfg)))
	logWarnings(log, cfg)

	a, err := newApp(ctx, cfg, external{secrets: secrets}, log)
	if err != nil {
		log.Error("could not start", zap.Error(err))
		return 1
	}
	defer a.close()
	if err := a.run(ctx); err != nil {
		log.Error("stopped", zap.Error(err))
		if errors.Is(err, bot.ErrAuth) {
			return 2
		}
		return 1
	}
	log.Info("stopped")
	return 0
}

// logWarnings logs each of cfg's warnings at warn level, as `medic config check`
// prints them: they never stop medic.
func logWarnings(log *zap.Logger, cfg *config.Config) {
	for _, w := range cfg.Warnings() {
		log.Warn("config warning", zap.String("key", w.Key), zap.String("problem", w.Msg), zap.String("fix", w.Fix))
	}
}

// newLogger returns a JSON logger at level whose every line is redacted.
func newLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log_level: %w", err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Sampling = nil
	log, err := zc.Build()
	if err != nil {
		return nil, err
	}
	return redactLogs(log), nil
}
