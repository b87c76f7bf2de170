// gemm_s8u8_s32: packing of weights, dispatch, blocking and threads (see quant.h).
//
// X is packed in panels of nr columns (all of K, in k groups). With at least two panels
// per thread, each thread packs a panel just before using it (still in L1/L2) and runs
// every weight tile against it; with fewer (small N) all panels are packed first and the
// weight blocks are split between threads too. For each k block of kc, every weight tile
// of a block (about 256 rows) runs against the panel's kc-slice (kc x nr bytes, 16 KB for
// VNNI), which stays in L1 while the weights stream from L2; the int32 C tile is re-read
// per k block, which costs little next to kc/4 dot products. A kernel with transposed
// output (lanes along M) writes C^T into a scratch buffer, transposed into C at the end.
#include <cpuid.h>
#include <xmmintrin.h>
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <cstring>
#include <memory>
#include <new>

#include "cnnnative/errors.h"
#include "cnnnative/isa.h"
#include "cnnnative/quant.h"
#include "cnnnative/thread_pool.h"
#include "cnnnative/threads.h"
#include "quant/gemm_s8_kernels.h"

namespace cnnnative::quant {
namespace {

using detail::S8Kernel;

// Aligned scratch for packed activations (new per call: the GEMM is reentrant).
struct AlignedDelete {
  void operator()(uint8_t* p) const { ::operator delete[](p, std::align_val_t(64)); }
};
using Scratch = std::unique_ptr<uint8_t[], AlignedDelete>;
Scratch scratch(size_t bytes) {
  return Scratch(static_cast<uint8_t*>(::operator new[](std::max<size_t>(bytes, 64), std::align_val_t(64))));
}

bool detect_vnni() {
  if (!cpu_supports(Isa::avx512)) return false;  // also checks the OS saves ZMM state
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return ecx & (1u << 11);  // AVX512_VNNI
}

bool detect_avx_vnni() {
  if (!cpu_supports(Isa::avx2)) return false;  // also checks the OS saves YMM state
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
  return eax & (1u << 4);  // AVX-VNNI (VEX-encoded vpdpbusd)
}

constexpr const char* kAvx2KernelNames[] = {"auto", "avx2", "avx_vnni", "avx_vnni_evex"};

// Throws ValueError unless this CPU and build can run k.
void check_runnable(Avx2Int8Kernel k, const char* who) {
  CN_CHECK(k != Avx2Int8Kernel::avx_vnni || (avx_vnni_kernel_built() && cpu_has_avx_vnni()), who,
           ": avx_vnni needs a CPU with AVX-VNNI and a build with the kernel (this one: cpu ",
           cpu_has_avx_vnni() ? "has" : "lacks", " it, kernel ", avx_vnni_kernel_built() ? "built" : "not built", ")");
  CN_CHECK(k != Avx2Int8Kernel::avx_vnni_evex || cpu_has_avx512_vnni(), who,
           ": avx_vnni_evex needs a CPU with AVX512-VNNI");
}

// The kernel for the avx2 ISA (set_avx2_int8_kernel; at first use CNNNATIVE_AVX2_INT8_KERNEL).
std::atomic<int>& avx2_kernel_choice() {
  static std::atomic<int> choice{[] {
    const char* env = std::getenv("CNNNATIVE_AVX2_INT8_KERNEL");
    if (!env || !*env) return 0;
    const Avx2Int8Kernel k = avx2_int8_kernel_from_name(env);
    check_runnable(k, "CNNNATIVE_AVX2_INT8_KERNEL");
    return static_cast<int>(k);
  }()};
  return choice;
}

const S8Kernel& avx2_class_kernel() {
  switch (static_cast<Avx2Int8Kernel>(avx2_kernel_choice().load(std::memory_order_relaxed))) {
    case Avx2Int8Kernel::avx2: return detail::s8_kernel_avx2();
#ifdef CNNNATIVE_HAVE_AVXVNNI
    case Avx2Int8Kernel::avx_vnni: return detail::s8_kernel_avx_vnni();
#endif
    case Avx2Int8Kernel::avx_vnni_evex: return detail::s8_kernel_avx_vnni_evex();
    default: break;
  }
#ifdef CNNNATIVE_HAVE_AVXVNNI
  if (cpu_has_avx_vnni()) return detail::s8_kernel_avx_vnni();
#endif
  return detail::s8_kernel_avx2();
}

const S8Kernel& active_kernel() {
  switch (active_isa()) {
    case Isa::avx512: return cpu_has_avx512_vnni() ? detail::s8_kernel_avx512_vnni() : avx2_class_kernel();
    case Isa::avx2: return avx2_class_kernel();
    default: return detail::s8_kernel_scalar();
  }
}

// Fraction of the lanes a kernel computes that are real work, for an M x N product.
double useful_fraction(const S8Kernel& k, int64_t M, int64_t N) {
  const int64_t m_pad = (M + k.mr - 1) / k.mr * k.mr;
  // The normal VNNI tile pads N to 16 columns (its narrow variants); the transposed one
  // pads M to its 64-row tile and nothing in N.
  const int64_t n_pad = k.transposed_out ? N : (N + 15) / 16 * 16;
  return static_cast<double>(M) / static_cast<double>(m_pad) * static_cast<double>(N) / static_cast<double>(n_pad);
}

// The kernel to pack for: the active ISA's, or on VNNI its transposed variant when the
// expected N leaves clearly fewer lanes idle with it (N = 49 at the end of a CNN, or a
// linear layer's batch). Measured on one core of the AMD EPYC here (% of the int8 peak,
// normal -> transposed): 512 x 49 x 4608 64 -> 85%, 2048 x 49 x 512 67 -> 76%, linear
// 1000 x 8 x 2048 36 -> 79%, 1000 x 1 x 2048 4 -> 23% (weight bandwidth); but a small
// 100 x 33 x 77 36 -> 26%, hence the margin of 1.2.
const S8Kernel& kernel_for_packing(int64_t M, int64_t n_hint) {
  const S8Kernel& k = active_kernel();
  if (n_hint <= 0 || &k != &detail::s8_kernel_avx512_vnni()) return k;
  const S8Kernel& t = detail::s8_kernel_avx512_vnni_t();
  return useful_fraction(t, M, n_hint) > 1.2 * useful_fraction(k, M, n_hint) ? t : k;
}

// The kernel that runs weights packed in `layout` under the active ISA: the one of that
// layout when the ISA has it, else the ISA's default (the weights are then repacked).
const S8Kernel& kernel_for_running(int layout) {
  const S8Kernel& k = active_kernel();
  if (&k == &detail::s8_kernel_avx512_vnni() && layout == detail::s8_kernel_avx512_vnni_t().layout)
    return detail::s8_kernel_avx512_vnni_t();
  return k;
}

// Packs any W given by get(m, k) into kernel k's layout.
template <typename Get>
PackedWeightsS8 pack_for(const S8Kernel& kern, int64_t M, int64_t K, Get get) {
  PackedWeightsS8 p;
  p.M = M;
  p.K = K;
  p.layout = kern.layout;
  p.mr = kern.mr;
  p.kg = kern.kg;
  p.elem = kern.w_elem;
  const int64_t tiles = (M + p.mr - 1) / p.mr;
  p.data.assign(static_cast<size_t>(checked_mul(tiles, p.tile_bytes(), "pack_weights_s8")), 0);
  p.row_sums.assign(static_cast<size_t>(M), 0);
  const int64_t groups = p.k_groups();
  for (int64_t t = 0; t < tiles; ++t) {
    int8_t* tile = p.data.data() + t * p.tile_bytes();
    for (int64_t i = 0; i < p.mr && t * p.mr + i < M; ++i) {
      const int64_t m = t * p.mr + i;
      int32_t sum = 0;
      for (int64_t g = 0; g < groups; ++g)
        for (int64_t j = 0; j < p.kg && g * p.kg + j < K; ++j) {
          const int32_t v = get(m, g * p.kg + j);
          sum += v;
          const int64_t at = (g * p.mr + i) * p.kg + j;
          if (p.elem == 1)
            tile[at] = static_cast<int8_t>(v);
          else
            reinterpret_cast<int16_t*>(tile)[at] = static_cast<int16_t>(v);
        }
      p.row_sums[static_cast<size_t>(m)] = sum;
    }
  }
  return p;
}

}  // namespace

namespace detail {
const S8Kernel& s8_kernel_for_running(int layout) { return kernel_for_running(layout); }
}  // namespace detail

bool cpu_has_avx512_vnni() {
  static const bool has = detect_vnni();
  return has;
}

bool cpu_has_avx_vnni() {
  static const bool has = detect_avx_vnni();
  return has;
}

bool avx_vnni_kernel_built() {
#ifdef CNNNATIVE_HAVE_AVXVNNI
  return true;
#else
  return false;
#endif
}

Avx2Int8Kernel avx2_int8_kernel_from_name(const std::string& name) {
  for (int i = 0; i < 4; ++i)
    if (name == kAvx2KernelNames[i]) return static_cast<Avx2Int8Kernel>(i);
  CN_CHECK(false, "avx2 int8 kernel: must be 'auto', 'avx2', 'avx_vnni' or 'avx_vnni_evex', got '", name, "'");
  return Avx2Int8Kernel::automatic;
}

const char* avx2_int8_kernel_name(Avx2Int8Kernel k) { return kAvx2KernelNames[static_cast<int>(k)]; }

void set_avx2_int8_kernel(Avx2Int8Kernel k) {
  check_runnable(k, "set_avx2_int8_kernel");
  avx2_kernel_choice().store(static_cast<int>(k), std::memory_order_relaxed);
}

Avx2Int8Kernel avx2_int8_kernel() {
  return static_cast<Avx2Int8Kernel>(avx2_kernel_choice().load(std::memory_order_relaxed));
}

const char* int8_isa() { return active_kernel().name; }

int32_t PackedWeightsS8::at(int64_t m, int64_t k) const {
  const int8_t* tile = data.data() + (m / mr) * tile_bytes();
  const int64_t idx = ((k / kg) * mr + m % mr) * kg + k % kg;
  return elem == 1 ? tile[idx] : reinterpret_cast<const int16_t*>(tile)[idx];
}

PackedWeightsS8 pack_weights_s8(const int8_t* w, int64_t M, int64_t K, int64_t n_hint) {
  CN_CHECK(M >= 0 && K >= 0, "pack_weights_s8: M and K must be >= 0, got M=", M, ", K=", K);
  CN_CHECK(K <= kMaxK, "pack_weights_s8: K=", K, " exceeds ", kMaxK,
           ", the longest int32-exact sum of uint8 x int8 products");
  checked_mul(M, K, "pack_weights_s8");
  return pack_for(kernel_for_packing(M, n_hint), M, K, [&](int64_t m, int64_t k) { return int32_t{w[m * K + k]}; });
}

PackedWeightsS8 pack_weights_s8_lanes_m(const int8_t* w, int64_t M, int64_t K) {
  CN_CHECK(M >= 0 && K >= 0, "pack_weights_s8_lanes_m: M and K must be >= 0, got M=", M, ", K=", K);
  CN_CHECK(K <= kMaxK, "pack_weights_s8_lanes_m: K=", K, " exceeds ", kMaxK,
           ", the longest int32-exact sum of uint8 x int8 products");
  checked_mul(M, K, "pack_weights_s8_lanes_m");
  const S8Kernel& k = active_kernel();
  const S8Kernel& kern = &k == &detail::s8_kernel_avx512_vnni() ? detail::s8_kernel_avx512_vnni_t() : k;
  return pack_for(kern, M, K, [&](int64_t m, int64_t kk) { return int32_t{w[m * K + kk]}; });
}

void gemm_s8u8_s32(const PackedWeightsS8& w, int64_t N, const uint8_t* x, int64_t ldx, int32_t* c,
                   int64_t ldc, bool single_thread) {
  CN_CHECK(w.layout >= 0, "gemm_s8u8_s32: weights were not packed with pack_weights_s8");
  CN_CHECK(N >= 0, "gemm_s8u8_s32: N must be >= 0, got ", N);
  CN_CHECK(ldx >= std::max<int64_t>(N, 1) && ldc >= std::max<int64_t>(N, 1),
           "gemm_s8u8_s32: row strides must be >= max(N, 1), got ldx=", ldx, ", ldc=", ldc, " for N=", N);
  const int64_t M = w.M, K = w.K;
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t m = 0; m < M; ++m) std::memset(c + m * ldc, 0, static_cast<size_t>(N) * sizeof(int32_t));
    return;
  }
  const S8Kernel& kern = kernel_for_running(w.layout);
  PackedWeightsS8 repacked;
  const PackedWeightsS8* pw = &w;
  if (w.layout != kern.layout) {  // packed under another ISA: correct, not fast
    repacked = pack_for(kern, M, K, [&](int64_t m, int64_t k) { return w.at(m, k); });
    pw = &repacked;
  }
  const int64_t groups = pw->k_groups();
  const int64_t panel_bytes = (groups * kern.nr * kern.kg * kern.x_elem + 63) / 64 * 64;
  const int64_t panels = (N + kern.nr - 1) / kern.nr;
  const int64_t m_tiles = (M + kern.mr - 1) / kern.mr;
  const int64_t block_tiles = std::max<int64_t>(1, 256 / kern.mr);  // ~256 rows x kc of W in L2
  const int64_t m_blocks = (m_tiles + block_tiles - 1) / block_tiles;
  const int64_t tasks = panels * m_blocks;
  const int64_t kc_groups = kern.kc / kern.kg;
  const double work = static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  const int threads = (single_thread || work < (1 << 22) || tasks < 2) ? 1 : num_threads();
  const int8_t* wdata = pw->data.data();
  const int64_t wtile_bytes = pw->tile_bytes();
  const int64_t w_group_bytes = int64_t{kern.mr} * kern.kg * kern.w_elem;
  const int64_t x_group_bytes = int64_t{kern.nr} * kern.kg * kern.x_elem;
  // A transposed kernel writes C^T (N x m_tiles*mr) here; it is transposed into C at the end.
  const int64_t ldt = m_tiles * kern.mr;
  std::unique_ptr<int32_t[]> ct(kern.transposed_out ? new int32_t[static_cast<size_t>(checked_mul(N, ldt))] : nullptr);
  // All weight tiles [t0, t1) against panel p (packed at xpanel).
  auto run = [&](int64_t p, const uint8_t* xpanel, int64_t t0, int64_t t1) {
    const int64_t n0 = p * kern.nr, ncols = std::min<int64_t>(kern.nr, N - n0);
    for (int64_t g0 = 0; g0 < groups; g0 += kc_groups) {
      const int64_t ng = std::min(kc_groups, groups - g0);
      const uint8_t* xs = xpanel + g0 * x_group_bytes;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t m0 = t * kern.mr;
        int32_t* out = kern.transposed_out ? ct.get() + n0 * ldt + m0 : c + m0 * ldc + n0;
        kern.tile(ng, wdata + t * wtile_bytes + g0 * w_group_bytes, xs, out, kern.transposed_out ? ldt : ldc,
                  std::min<int64_t>(kern.mr, M - m0), ncols, g0 > 0);
      }
    }
  };
  // Rows [m0, m1) of C from C^T in 4 x 4 blocks (SSE2): the writes spread over m1 - m0
  // rows of C that stay in L1 (m1 - m0 <= 64, N small here). Element by element, one
  // strided store each, it took about a fifth of a 256 x 49 x 512 product (perf).
  auto transpose_back = [&](int64_t m0, int64_t m1) {
    int64_t n = 0;
    for (; n + 4 <= N; n += 4) {
      const int32_t* src = ct.get() + n * ldt;
      int64_t m = m0;
      for (; m + 4 <= m1; m += 4) {
        __m128 r0 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + m)));
        __m128 r1 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + ldt + m)));
        __m128 r2 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * ldt + m)));
        __m128 r3 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 3 * ldt + m)));
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);  // moves bits only: any int32 pattern survives
        _mm_storeu_si128(reinterpret_cast<__m128i*>(c + m * ldc + n), _mm_castps_si128(r0));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(c + (m + 1) * ldc + n), _mm_castps_si128(r1));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(c + (m + 2) * ldc + n), _mm_castps_si128(r2));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(c + (m + 3) * ldc + n), _mm_castps_si128(r3));
      }
      for (; m < m1; ++m)
        for (int64_t i = 0; i < 4; ++i) c[m * ldc + n + i] = src[i * ldt + m];
    }
    for (; n < N; ++n) {
      const int32_t* src = ct.get() + n * ldt;
      for (int64_t m = m0; m < m1; ++m) c[m * ldc + n] = src[m];
    }
  };
  auto pack = [&](int64_t p, uint8_t* dst) {
    kern.pack_x(x + p * kern.nr, ldx, K, std::min<int64_t>(kern.nr, N - p * kern.nr), dst);
  };
  if (panels >= 2 * threads) {
    // Enough panels for every thread: each packs a panel just before using it, while it
    // is still in L2, and runs every weight block against it.
    // One panel buffer per member, allocated here: an allocation failing inside the region
    // would leave the other members waiting at its barrier.
    Scratch panels_xp = scratch(static_cast<size_t>(checked_mul(threads, panel_bytes, "gemm_s8u8_s32")));
    run_team(threads, [&](int tid, int team) {
      uint8_t* xp = panels_xp.get() + tid * panel_bytes;
      const auto [p_begin, p_end] = team_share(panels, tid, team);
      for (int64_t p = p_begin; p < p_end; ++p) {
        pack(p, xp);
        for (int64_t t0 = 0; t0 < m_tiles; t0 += block_tiles) run(p, xp, t0, std::min(m_tiles, t0 + block_tiles));
      }
      if (kern.transposed_out) {
        team_barrier();  // every panel's rows are in ct
        const auto [b0, b1] = team_share((M + 63) / 64, tid, team);
        for (int64_t m = b0 * 64; m < std::min(M, b1 * 64); m += 64) transpose_back(m, std::min(M, m + 64));
      }
    });
    return;
  }
  // Few panels (small N): pack them all, then split the weight blocks between threads too.
  Scratch xp = scratch(static_cast<size_t>(checked_mul(panels, panel_bytes, "gemm_s8u8_s32")));
  run_team(threads, [&](int tid, int team) {
    const auto [p_begin, p_end] = team_share(panels, tid, team);
    for (int64_t p = p_begin; p < p_end; ++p) pack(p, xp.get() + p * panel_bytes);
    team_barrier();  // every panel is packed
    const auto [task_begin, task_end] = team_share(tasks, tid, team);
    for (int64_t task = task_begin; task < task_end; ++task) {
      const int64_t p = task / m_blocks, mb = task % m_blocks;
      run(p, xp.get() + p * panel_bytes, mb * block_tiles, std::min(m_tiles, (mb + 1) * block_tiles));
    }
    if (kern.transposed_out) {
      team_barrier();  // every task's rows are in ct
      const auto [b0, b1] = team_share((M + 63) / 64, tid, team);
      for (int64_t m = b0 * 64; m < std::min(M, b1 * 64); m += 64) transpose_back(m, std::min(M, m + 64));
    }
  });
}

}  // namespace cnnnative::quant
