// faiss_bench: the FAISS peer for `cz bench ann`. It reads the files the Go
// benchmark wrote (base.f32, queries.f32, truth.u64 in DIR; vectors are
// L2-normalised, so inner product ranks like cosine) and prints one
// tab-separated row per index and setting:
//   name recall@1 recall@10 q/s(1 thread) q/s(2 threads) build-seconds memory-MiB
// Indexes: Flat (exact, BLAS-batched), PQ{d/2}x4fs + RFlat (exhaustive 4-bit
// FastScan + exact refine) and IVF{nlist},PQ{d/2}x4fs + RFlat.
// Build: see Makefile target bench-ann-peers (FAISS from Debian's source
// package, -DFAISS_OPT_LEVEL=avx2).
#include <faiss/IVFlib.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexRefine.h>
#include <faiss/index_factory.h>
#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

static std::vector<float> readF32(const std::string& path, uint32_t& n, uint32_t& d) {
  std::ifstream f(path, std::ios::binary);
  if (!f) { fprintf(stderr, "faiss_bench: cannot open %s\n", path.c_str()); exit(1); }
  f.read((char*)&n, 4); f.read((char*)&d, 4);
  std::vector<float> v((size_t)n * d);
  f.read((char*)v.data(), v.size() * 4);
  if (!f) { fprintf(stderr, "faiss_bench: %s truncated\n", path.c_str()); exit(1); }
  return v;
}

// Debian's OpenBLAS runs its own thread pool: size it with the thread
// count under test, or the "1 thread" Flat figure would use every core.
extern "C" void openblas_set_num_threads(int);

static void threads(int t) {
  omp_set_num_threads(t);
  openblas_set_num_threads(t);
}

static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static long rssMiB() {
  std::ifstream f("/proc/self/statm"); long pages = 0, res = 0; f >> pages >> res;
  return res * 4096 / (1 << 20);
}

int main(int argc, char** argv) {
  if (argc < 3) { fprintf(stderr, "usage: faiss_bench DIR TIME_QUERIES [nlist]\n"); return 2; }
  std::string dir = argv[1];
  size_t timeQ = atoi(argv[2]);
  uint32_t n, d, nq, dq, tn, tk;
  auto base = readF32(dir + "/base.f32", n, d);
  auto qs = readF32(dir + "/queries.f32", nq, dq);
  std::ifstream tf(dir + "/truth.u64", std::ios::binary);
  tf.read((char*)&tn, 4); tf.read((char*)&tk, 4);
  std::vector<uint64_t> truth((size_t)tn * tk);
  tf.read((char*)truth.data(), truth.size() * 8);
  if (!tf || tn != nq || dq != d || tk < 10) { fprintf(stderr, "faiss_bench: inconsistent files\n"); return 1; }
  timeQ = std::min<size_t>(timeQ, nq);
  int nlist = argc > 3 ? atoi(argv[3]) : 1024;
  int m = d / 2;
  while (m % 2) m--;  // FastScan wants an even number of 4-bit codes

  auto run = [&](const std::string& name, faiss::Index* idx, double build, long mem, auto set) {
    set();
    std::vector<float> D((size_t)nq * 10);
    std::vector<faiss::Index::idx_t> I((size_t)nq * 10);
    threads(2);
    idx->search(nq, qs.data(), 10, D.data(), I.data());
    double r1 = 0, r10 = 0;
    for (size_t i = 0; i < nq; i++) {
      std::set<uint64_t> want(truth.begin() + i * tk, truth.begin() + i * tk + 10);
      if ((uint64_t)I[i * 10] == truth[i * tk]) r1++;
      for (int j = 0; j < 10; j++) r10 += want.count((uint64_t)I[i * 10 + j]);
    }
    double qps[2];
    for (int t = 1; t <= 2; t++) {
      threads(t);
      double s = now();
      idx->search(timeQ, qs.data(), 10, D.data(), I.data());
      qps[t - 1] = timeQ / (now() - s);
    }
    printf("%s\t%.4f\t%.4f\t%.1f\t%.1f\t%.1f\t%ld\n", name.c_str(), r1 / nq, r10 / (10.0 * nq), qps[0], qps[1], build, mem);
    fflush(stdout);
  };

  auto build = [&](const std::string& spec, double& secs, long& mem) {
    threads(2);
    long m0 = rssMiB();
    double t0 = now();
    std::unique_ptr<faiss::Index> idx(faiss::index_factory(d, spec.c_str(), faiss::METRIC_INNER_PRODUCT));
    idx->train(n, base.data());
    idx->add(n, base.data());
    secs = now() - t0;
    mem = rssMiB() - m0;
    return idx;
  };

  double secs; long mem;
  {
    auto flat = build("Flat", secs, mem);
    run("FAISS Flat (exact, BLAS batched)", flat.get(), secs, mem, [] {});
  }
  {
    std::string spec = "PQ" + std::to_string(m) + "x4fs,RFlat";
    auto idx = build(spec, secs, mem);
    auto* ref = dynamic_cast<faiss::IndexRefine*>(idx.get());
    for (float kf : {5.f, 10.f, 20.f}) {
      run("FAISS " + spec + " k_factor=" + std::to_string((int)kf), idx.get(), secs, mem, [&] { ref->k_factor = kf; });
    }
  }
  {
    std::string spec = "IVF" + std::to_string(nlist) + ",PQ" + std::to_string(m) + "x4fs,RFlat";
    auto idx = build(spec, secs, mem);
    auto* ref = dynamic_cast<faiss::IndexRefine*>(idx.get());
    auto* ivf = dynamic_cast<faiss::IndexIVF*>(ref->base_index);
    for (int np : {64, 128, 256, 512}) {
      if (np > nlist) continue;
      for (float kf : {10.f}) {
        run("FAISS " + spec + " nprobe=" + std::to_string(np) + " k_factor=" + std::to_string((int)kf), idx.get(), secs, mem,
            [&] { ref->k_factor = kf; ivf->nprobe = np; });
      }
    }
  }
}
