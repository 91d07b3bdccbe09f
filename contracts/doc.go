// Package contracts owns the shapes of the data that cz exchanges with the
// outside world and keeps between runs: the zone list CSV, ground-truth
// image folders, content-metadata Parquet, candidate-metadata JSON, the
// predicted-data and validated-data CSVs for the QC team, and the
// intermediate Parquet of detected faces.
//
// Every reader validates what it reads and reports every problem it finds
// in a file (not just the first) as Problems, each naming the file, the
// line or row, the field, and what was expected. Every writer validates
// before it writes, so what cz writes, cz can read back. The package does
// no I/O of its own beyond the readers and writers it is handed: where
// files live is the layout package's business, how they are stored the
// store package's. docs/contracts.md documents each format.
package contracts
