#include "kernels/gemm_dnnl.h"

#if GAINCELL_WITH_DNNL
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>

#include "core/buffer.h"
#include "core/parallel.h"  // OpenMP (omp_set_num_threads)

namespace gaincell {
namespace {

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

using dnnl::memory;

struct PanelKey {
  bool ta, tb;
  int64_t M, N, K, lda, ldb, ldc;
  float alpha, beta;
  bool bf16;  // bf16 operands (f32 output) instead of f32 ones
  bool operator<(const PanelKey& o) const {
    return std::tie(ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, bf16) <
           std::tie(o.ta, o.tb, o.M, o.N, o.K, o.lda, o.ldb, o.ldc, o.alpha, o.beta, o.bf16);
  }
};

struct Panel {
  memory::desc a, b, c, scratch;
  dnnl::matmul prim;
  bool exists = true;  // false: oneDNN has no implementation of this key on this CPU (bf16 only)
};

memory::desc matrix_desc(int64_t rows, int64_t cols, bool transposed, int64_t ld,
                         memory::data_type type = memory::data_type::f32) {
  return memory::desc({rows, cols}, type, transposed ? memory::dims{1, ld} : memory::dims{ld, 1});
}

// While one lives, oneDNN plans primitives for one OpenMP thread (the caller's count is restored after, also
// when creating a primitive throws).
struct SingleThreadedPlanning {
  const int saved = omp_get_max_threads();
  SingleThreadedPlanning() { omp_set_num_threads(1); }
  ~SingleThreadedPlanning() { omp_set_num_threads(saved); }
  SingleThreadedPlanning(const SingleThreadedPlanning&) = delete;
  SingleThreadedPlanning& operator=(const SingleThreadedPlanning&) = delete;
};

// The primitive of one panel shape, created on first use with one OpenMP thread, so that oneDNN plans (and
// later runs) it single-threaded whatever the process's thread count: its blocking, and so its rounding,
// never depend on the thread count.
const Panel& panel_for(const PanelKey& k) {
  static std::mutex mu;
  static std::map<PanelKey, std::unique_ptr<Panel>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& p = cache[k];
  if (!p) {
    const SingleThreadedPlanning one_thread;
    auto panel = std::make_unique<Panel>();
    const auto in_type = k.bf16 ? memory::data_type::bf16 : memory::data_type::f32;
    panel->a = matrix_desc(k.M, k.K, k.ta, k.lda, in_type);
    panel->b = matrix_desc(k.K, k.N, k.tb, k.ldb, in_type);
    panel->c = matrix_desc(k.M, k.N, false, k.ldc);
    dnnl::primitive_attr attr;
    // The caller's scratchpad, not the library's: Debian's oneDNN shares one global scratchpad between threads
    // (no DNNL_ENABLE_CONCURRENT_EXEC), so panels running at once on several threads overwrote each other's
    // (seen on AVX-512, whose kernels use it: wrong bits that changed with the thread count).
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (k.alpha != 1.0f) attr.set_output_scales(0, {k.alpha});
    if (k.beta != 0.0f) {
      dnnl::post_ops ops;
      ops.append_sum(k.beta);
      attr.set_post_ops(ops);
    }
    try {
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(panel->a, panel->b, panel->c), attr, cpu_engine());
      panel->scratch = pd.scratchpad_desc();
      panel->prim = dnnl::matmul(pd);
    } catch (const dnnl::error&) {
      if (!k.bf16) throw;  // every f32 layout has an implementation (at least the reference one)
      panel->exists = false;
    }
    p = std::move(panel);
  }
  return *p;
}

// Runs one cached panel on the calling thread with this thread's scratchpad; false when the key has no
// implementation.
bool run_panel(const PanelKey& key, const void* a, const void* b, float* c) {
  const Panel& p = panel_for(key);
  if (!p.exists) return false;
  thread_local dnnl::stream stream(cpu_engine());
  thread_local AlignedBuffer<uint8_t> scratch;  // this thread's scratchpad, grown to the largest panel's, reused
  if (scratch.size() < p.scratch.get_size()) scratch.resize(p.scratch.get_size());
  memory ma(p.a, cpu_engine(), const_cast<void*>(a)), mb(p.b, cpu_engine(), const_cast<void*>(b)),
      mc(p.c, cpu_engine(), c), ms(p.scratch, cpu_engine(), scratch.data());
  p.prim.execute(stream, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}, {DNNL_ARG_SCRATCHPAD, ms}});
  stream.wait();
  return true;
}

// The primitive descriptor of a single-threaded rows x K x N product (B transposed when tb) of the given input
// type, as the panels create theirs; throws dnnl::error when oneDNN has no implementation on this CPU.
dnnl::matmul::primitive_desc probe_desc(int64_t rows, int64_t K, int64_t N, bool tb, memory::data_type type) {
  const SingleThreadedPlanning one_thread;
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return dnnl::matmul::primitive_desc(
      dnnl::matmul::desc(matrix_desc(rows, K, false, K, type), matrix_desc(K, N, tb, tb ? K : N, type),
                         matrix_desc(rows, N, false, N)),
      attr, cpu_engine());
}

}  // namespace

void dnnl_gemm_panel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
                     const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  run_panel(PanelKey{ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, false}, a, b, c);
}

bool dnnl_gemm_panel_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* a,
                          int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  return run_panel(PanelKey{ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, true}, a, b, c);
}

bool dnnl_bf16_available() {
  static const bool available = [] {
    try {  // both weight orientations, a decoding row and a block of rows
      for (bool tb : {false, true})
        for (int64_t rows : {1, 64}) probe_desc(rows, 128, 192, tb, memory::data_type::bf16);
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return available;
}

std::string dnnl_bf16_impl_name(int64_t rows) {
  if (!dnnl_bf16_available()) return "none";
  return probe_desc(rows, 768, 3072, false, memory::data_type::bf16).impl_info_str();
}

std::string dnnl_impl_name(int64_t rows) {
  return probe_desc(rows, 768, 3072, false, memory::data_type::f32).impl_info_str();
}

std::string dnnl_isa_name() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "other";
  }
}

std::string dnnl_version_string() {
  const dnnl_version_t* v = ::dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

}  // namespace gaincell
#endif
