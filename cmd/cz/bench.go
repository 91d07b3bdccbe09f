package main

import "github.com/spf13/cobra"

// bench is the parent of the benchmark subcommands (cz bench ann, ...).
var bench = &cobra.Command{
	Use:   "bench",
	Short: "Run benchmarks and print their tables",
}

func init() { root.AddCommand(bench) }
