#!/usr/bin/env bash
# Regenerates the Go code of proto/cz.proto with Debian's protoc and the
# protoc-gen-go / protoc-gen-go-grpc plugins pinned below (built into
# .deps/bin through the Go module proxy). The generated code is committed,
# so building and testing never need protoc.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps=${CZ_DEPS:-$root/.deps}
"$root/scripts/deps.sh" apt protobuf-compiler
"$root/scripts/deps.sh" gobin google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12 protoc-gen-go
"$root/scripts/deps.sh" gobin google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2 protoc-gen-go-grpc
cd "$root/proto"
PATH="$deps/bin:$PATH" protoc -I . \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  cz.proto
