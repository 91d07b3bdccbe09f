// hnsw_bench: the hnswlib peer for `cz bench ann`. It reads the data set
// the Go benchmark wrote (base.f32, queries.f32, truth.u64 in DIR), builds
// an HNSW graph on L2-normalised vectors (inner product), and prints one
// tab-separated row per efSearch:
//   name recall@1 recall@10 q/s(1 thread) q/s(2 threads) build-seconds memory-MiB
// Build: g++ -O3 -march=native -std=c++17 -pthread hnsw_bench.cpp (Debian's libhnswlib-dev).
#include <hnswlib/hnswlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

static std::vector<float> readF32(const std::string& path, uint32_t& n, uint32_t& d) {
  std::ifstream f(path, std::ios::binary);
  if (!f) { fprintf(stderr, "hnsw_bench: cannot open %s\n", path.c_str()); exit(1); }
  f.read((char*)&n, 4); f.read((char*)&d, 4);
  std::vector<float> v((size_t)n * d);
  f.read((char*)v.data(), v.size() * 4);
  if (!f) { fprintf(stderr, "hnsw_bench: %s truncated\n", path.c_str()); exit(1); }
  return v;
}

static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static long rssMiB() {
  std::ifstream f("/proc/self/statm"); long pages = 0, res = 0; f >> pages >> res;
  return res * 4096 / (1 << 20);
}

template <class F> static void parallel(int threads, size_t n, F f) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; t++)
    ts.emplace_back([&] { for (size_t i; (i = next++) < n;) f(i); });
  for (auto& t : ts) t.join();
}

int main(int argc, char** argv) {
  if (argc < 3) { fprintf(stderr, "usage: hnsw_bench DIR TIME_QUERIES [M efConstruction ef...]\n"); return 2; }
  std::string dir = argv[1];
  size_t timeQ = atoi(argv[2]);
  int M = argc > 3 ? atoi(argv[3]) : 32, efc = argc > 4 ? atoi(argv[4]) : 200;
  std::vector<int> efs;
  for (int i = 5; i < argc; i++) efs.push_back(atoi(argv[i]));
  if (efs.empty()) efs = {64, 128, 256, 512};
  uint32_t n, d, nq, dq, tn, tk;
  auto base = readF32(dir + "/base.f32", n, d);
  auto qs = readF32(dir + "/queries.f32", nq, dq);
  std::ifstream tf(dir + "/truth.u64", std::ios::binary);
  tf.read((char*)&tn, 4); tf.read((char*)&tk, 4);
  std::vector<uint64_t> truth((size_t)tn * tk);
  tf.read((char*)truth.data(), truth.size() * 8);
  if (!tf || tn != nq || dq != d || tk < 10) { fprintf(stderr, "hnsw_bench: inconsistent files\n"); return 1; }
  timeQ = std::min<size_t>(timeQ, nq);
  long mem0 = rssMiB();
  hnswlib::InnerProductSpace space(d);
  hnswlib::HierarchicalNSW<float> g(&space, n, M, efc);
  double t0 = now();
  g.addPoint(base.data(), 0);
  parallel(2, n - 1, [&](size_t i) { g.addPoint(base.data() + (i + 1) * d, i + 1); });
  double build = now() - t0;
  long mem = rssMiB() - mem0;
  for (int ef : efs) {
    g.setEf(ef);
    std::vector<std::vector<uint64_t>> got(nq);
    auto one = [&](size_t i) {
      auto r = g.searchKnn(qs.data() + i * d, 10);
      std::vector<uint64_t> ids(r.size());
      for (size_t j = r.size(); j-- > 0; r.pop()) ids[j] = r.top().second;
      got[i] = ids;
    };
    parallel(2, nq, one);
    double r1 = 0, r10 = 0;
    for (size_t i = 0; i < nq; i++) {
      std::set<uint64_t> want(truth.begin() + i * tk, truth.begin() + i * tk + 10);
      if (!got[i].empty() && got[i][0] == truth[i * tk]) r1++;
      for (auto id : got[i]) r10 += want.count(id);
    }
    double qps[2];
    for (int t = 1; t <= 2; t++) {
      double s = now();
      parallel(t, timeQ, one);
      qps[t - 1] = timeQ / (now() - s);
    }
    printf("hnswlib HNSW M=%d efC=%d ef=%d\t%.4f\t%.4f\t%.1f\t%.1f\t%.1f\t%ld\n", M, efc, ef, r1 / nq, r10 / (10.0 * nq), qps[0], qps[1], build, mem);
    fflush(stdout);
  }
}
