// Package face owns the face pipeline: it runs a face detector and a face
// embedder through ONNX Runtime, aligns every detected face to the
// embedder's keypoint template, decodes videos with ffmpeg, and groups the
// faces of a video into unique people, each with a best crop, a quality
// score and a representative embedding.
//
// Models are described by small JSON descriptor files (see Descriptor and
// docs in README.md): the defaults, BlazeFace back-256 and dlib's 128-d
// ResNet (face-api.js weights converted by tools/faceconv), are embedded in
// the binary and their ONNX files are prepared by `make models` into
// $CZ_DEPS/models.
package face
