// Command cz is the one binary of the Celebrity Zones engine: the
// embedded engine, the coordinator, the executor, the pipeline tools and
// the operator CLI are its subcommands. Each subcommand lives in its own
// file and registers itself on root in an init function.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

var root = &cobra.Command{
	Use:           "cz",
	Short:         "cz sorts videos into celebrity zones on a Go-native distributed engine",
	SilenceUsage:  true,
	SilenceErrors: true,
}

var logLevel string

func init() {
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
			return fmt.Errorf("--log-level: %w", err)
		}
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
		return nil
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "cz:", err)
		os.Exit(1)
	}
}

// rootContext is the context the command runs under: cancelled by
// SIGINT and SIGTERM.
func rootContext() context.Context {
	if ctx := root.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
