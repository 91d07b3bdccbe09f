// Package ann owns nearest-neighbour search over face embeddings: a
// ScaNN-class vector index with exact search for small sets and, above
// about 20k vectors, a partitioned index (k-means partitions, 4-bit product
// quantisation scored with in-register lookup tables, ScaNN's anisotropic
// quantisation loss, exact re-ranking). It also owns labelled
// classification (zone of the nearest ground-truth faces), sharding with an
// exact merge, and versioned persistence on the object store.
//
// # Distances
//
// Every result carries a distance, smaller is nearer:
//   - Euclidean: the L2 distance ||q-x||.
//   - Cosine: vectors are L2-normalised on Add and on Search, and the
//     distance is the Euclidean distance between the normalised vectors,
//     sqrt(2-2cos), in [0, 2]. This keeps the dlib-style "Euclidean < t"
//     convention: cos = 1 - d²/2.
//   - InnerProduct: -q·x (maximum inner product search).
//
// Range and Classify thresholds use the same distances.
//
// # Kernels
//
// Built with GOEXPERIMENT=simd on amd64, the scans use AVX-512 or AVX2
// through simd/archsimd; otherwise portable Go. Both give bit-identical
// results (see kernel.go), so an index behaves the same on every build.
package ann
