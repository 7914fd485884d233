// diffuse::group_norm_act: GroupNorm → scale-shift → SiLU → dropout as ONE memory pass forward
// and two (over a cache-resident group) backward, instead of a pass (and a saved tensor) per op.
//
//   y1 = GroupNorm(x)·γ + β                  per (batch, group) statistics, float32 always
//   y2 = y1·(1 + scale) + shift              scale, shift: (B, C), the timestep's FiLM
//   y3 = silu ? y2·σ(y2) : y2
//   y  = train ? y3·keep/(1 − p) : y3        keep ~ Bernoulli(1 − p), from a counter-based hash
//
// Per (b, c) the first two lines fold into one affine map y2 = x·A + D (A = rstd·γ·(1 + s),
// D = β·(1 + s) + shift − μ·A), as ATen's own GroupNorm kernel folds its affine.
// The dropout mask is never stored: forward draws one 64-bit seed from the generator (under its
// mutex) and each element's keep bit is hash(seed, element index), so any thread computes any
// element's bit, backward recomputes it from the saved seed, and torch.manualSeed / generator
// state replay give the same mask. Backward is hand-written (a torch::autograd::Function), and
// the operator is registered CompositeImplicitAutograd, so boxed dispatcher calls record it.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <cmath>
#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

namespace dt {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// ---- element helpers (branch-free so the inner loops vectorise) -------------------------------

inline float Load(float v) { return v; }
inline float Load(uint16_t bf16) {
  uint32_t u = static_cast<uint32_t>(bf16) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
template <typename T> inline T Store(float v);
template <> inline float Store<float>(float v) { return v; }
// Round to nearest even, as c10::BFloat16(float) does; NaN stays NaN.
template <> inline uint16_t Store<uint16_t>(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  return v != v ? static_cast<uint16_t>(0x7FC0) : static_cast<uint16_t>(r);
}

// e^a for a ≤ 0 to ~1 ulp (Cephes' expf polynomial), 0 below e^-86. Written so that GCC
// vectorises it without -ffast-math, and so that no lane ever computes a subnormal: GCC evaluates
// both arms of a clamp for every lane, and a subnormal constant there costs a ~150-cycle
// microcode assist per vector (measured: 20× slower SiLU).
inline float ExpNonPositive(float a) {
  a = a < -100.0f ? -100.0f : a;
  const float shifter = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer in the low bits
  float t = a * 1.44269504088896341f + shifter;
  float n = t - shifter;
  uint32_t tb;
  std::memcpy(&tb, &t, 4);
  int32_t biased = static_cast<int32_t>(tb - 0x4B400000u) + 127;  // n + 127, n in [-145, 0]
  float r = a - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  uint32_t eb = biased >= 2 ? static_cast<uint32_t>(biased) << 23 : 0u;  // 2^n, or 0 near underflow
  float e;
  std::memcpy(&e, &eb, 4);
  return p * e;
}
// σ(z) from e^-|z| (never overflows): 1/(1 + e) for z ≥ 0, e/(1 + e) below.
inline float Sigmoid(float z) {
  float e = ExpNonPositive(-std::fabs(z));
  float q = 1.0f / (1.0f + e);
  return z >= 0.0f ? q : e * q;
}

// A 32-bit integer hash with full avalanche (Wellons' lowbias32); two keyed rounds make the keep
// bit of an element index. Indices are taken mod 2^32 (masks repeat only past 4·10⁹ elements).
inline uint32_t Mix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x7FEB352Du;
  h ^= h >> 15;
  h *= 0x846CA68Bu;
  h ^= h >> 16;
  return h;
}
struct Mask {
  uint32_t k0 = 0, k1 = 0;  // keys from the seed
  uint32_t threshold = 0;   // keep when hash ≥ threshold: P = 1 − p
  float inv = 1.0f;         // 1/(1 − p), 0 when p = 1
  inline float Factor(uint32_t index) const {
    return Mix32(Mix32(index ^ k0) ^ k1) >= threshold ? inv : 0.0f;
  }
};
uint64_t SplitMix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
Mask MakeMask(uint64_t seed, double p) {
  Mask m;
  uint64_t z = SplitMix64(seed);
  m.k0 = static_cast<uint32_t>(z);
  m.k1 = static_cast<uint32_t>(z >> 32);
  double t = std::ldexp(p, 32);
  m.threshold = t >= 4294967295.0 ? 0xFFFFFFFFu : static_cast<uint32_t>(std::llround(t));
  m.inv = p >= 1.0 ? 0.0f : static_cast<float>(1.0 / (1.0 - p));
  return m;
}

// ---- row kernels: one channel's S contiguous elements ------------------------------------------

// The compile flags stay portable (x86-64 baseline: SSE2); the row kernels are also compiled for
// AVX2 and AVX-512 machines, chosen once at load time (GCC function multi-versioning). On this
// machine's AVX-512 the SiLU and dropout-hash arithmetic runs ~3.5× faster than with SSE2.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define DT_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DT_SIMD_CLONES
#endif

// Σ x and Σ (x − μ)² over n elements, in double.
template <typename TI>
DT_SIMD_CLONES void Moments(const TI* x, int64_t n, double* mean, double* m2) {
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; i++) sum += Load(x[i]);
  const double mu = sum / static_cast<double>(n);
  double sq = 0;
#pragma omp simd reduction(+ : sq)
  for (int64_t i = 0; i < n; i++) {
    double dv = Load(x[i]) - mu;
    sq += dv * dv;
  }
  *mean = mu;
  *m2 = sq;
}

// y = drop(act(x·a + d)).
template <typename TI, typename TO, bool SILU, bool DROP>
DT_SIMD_CLONES void ForwardRow(const TI* x, TO* y, int64_t n, float a, float d, uint32_t index0, Mask m) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    float z = Load(x[i]) * a + d;
    if (SILU) z = z * Sigmoid(z);
    if (DROP) z = z * m.Factor(index0 + static_cast<uint32_t>(i));
    y[i] = Store<TO>(z);
  }
}

// g2 = ∂L/∂y2 from ∂L/∂y, recomputing y2 = x·a + d and the mask; returns Σ g2 and Σ g2·x.
template <typename TI, typename TO, bool SILU, bool DROP>
DT_SIMD_CLONES void BackwardRow(const TI* x, const TO* gy, float* g2, int64_t n, float a, float d, uint32_t index0, Mask m,
                 double* sumG, double* sumGx) {
  double s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t i = 0; i < n; i++) {
    float xv = Load(x[i]);
    float g = Load(gy[i]);
    if (DROP) g = g * m.Factor(index0 + static_cast<uint32_t>(i));
    if (SILU) {
      float z = xv * a + d;
      float sg = Sigmoid(z);
      g = g * sg * (1.0f + z * (1.0f - sg));
    }
    g2[i] = g;
    s1 += g;
    s2 += static_cast<double>(g) * xv;
  }
  *sumG = s1;
  *sumGx = s2;
}

// dx = P·g2 + Q·x + R.
template <typename TI>
DT_SIMD_CLONES void InputGradRow(const TI* x, const float* g2, TI* dx, int64_t n, float P, float Q, float R) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) dx[i] = Store<TI>(P * g2[i] + Q * Load(x[i]) + R);
}

// ---- pixel kernels for channels-last (NHWC) tensors: per pixel, C contiguous channels, each with
// its own coefficients. oneDNN's bfloat16 convolutions read and write channels-last natively, so a
// model that stays channels-last pays no layout reorders around every conv.

// sum[c] += Σ_s x[s, c].
template <typename TI>
DT_SIMD_CLONES void ChannelSums(const TI* x, int64_t S, int64_t C, double* sum) {
  for (int64_t s = 0; s < S; s++) {
    const TI* xs = x + s * C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) sum[c] += Load(xs[c]);
  }
}

// sq[c] += Σ_s (x[s, c] − mu[c])².
template <typename TI>
DT_SIMD_CLONES void ChannelSquares(const TI* x, int64_t S, int64_t C, const double* mu, double* sq) {
  for (int64_t s = 0; s < S; s++) {
    const TI* xs = x + s * C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
      double dv = Load(xs[c]) - mu[c];
      sq[c] += dv * dv;
    }
  }
}

// y = drop(act(x·a[c] + d[c])) over S pixels.
template <typename TI, typename TO, bool SILU, bool DROP>
DT_SIMD_CLONES void ForwardPixels(const TI* x, TO* y, int64_t S, int64_t C, const float* a, const float* d, uint32_t index0, Mask m) {
  for (int64_t s = 0; s < S; s++) {
    const TI* xs = x + s * C;
    TO* ys = y + s * C;
    const uint32_t i0 = index0 + static_cast<uint32_t>(s * C);
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
      float z = Load(xs[c]) * a[c] + d[c];
      if (SILU) z = z * Sigmoid(z);
      if (DROP) z = z * m.Factor(i0 + static_cast<uint32_t>(c));
      ys[c] = Store<TO>(z);
    }
  }
}

// g2 = ∂L/∂y2 over S pixels (as BackwardRow); sumG[c] += Σ g2, sumGx[c] += Σ g2·x.
template <typename TI, typename TO, bool SILU, bool DROP>
DT_SIMD_CLONES void BackwardPixels(const TI* x, const TO* gy, float* g2, int64_t S, int64_t C, const float* a, const float* d,
                                   uint32_t index0, Mask m, double* sumG, double* sumGx) {
  for (int64_t s = 0; s < S; s++) {
    const TI* xs = x + s * C;
    const TO* gs = gy + s * C;
    float* g2s = g2 + s * C;
    const uint32_t i0 = index0 + static_cast<uint32_t>(s * C);
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
      float xv = Load(xs[c]);
      float g = Load(gs[c]);
      if (DROP) g = g * m.Factor(i0 + static_cast<uint32_t>(c));
      if (SILU) {
        float z = xv * a[c] + d[c];
        float sg = Sigmoid(z);
        g = g * sg * (1.0f + z * (1.0f - sg));
      }
      g2s[c] = g;
      sumG[c] += g;
      sumGx[c] += static_cast<double>(g) * xv;
    }
  }
}

// dx = P[c]·g2 + Q[c]·x + R[c] over S pixels.
template <typename TI>
DT_SIMD_CLONES void InputGradPixels(const TI* x, const float* g2, TI* dx, int64_t S, int64_t C, const float* P, const float* Q,
                                    const float* R) {
  for (int64_t s = 0; s < S; s++) {
    const TI* xs = x + s * C;
    const float* g2s = g2 + s * C;
    TI* dxs = dx + s * C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) dxs[c] = Store<TI>(P[c] * g2s[c] + Q[c] * Load(xs[c]) + R[c]);
  }
}

// ---- the op ------------------------------------------------------------------------------------

struct Config {
  int64_t groups;
  double eps;
  bool silu;
  bool drop;  // train and p > 0
  double p;
  uint64_t seed;
  at::ScalarType outDtype;
};

// Per-channel (or per batch-channel) coefficients as contiguous float32, or empty.
at::Tensor FloatOrEmpty(const at::Tensor& t) {
  return t.defined() ? t.detach().to(at::kFloat).contiguous() : at::Tensor();
}
inline float At(const at::Tensor& t, int64_t i, float fallback) {
  return t.defined() ? t.data_ptr<float>()[i] : fallback;
}

// Calls f with the compile-time variants for (input storage, output storage, silu, drop).
template <typename F>
void Dispatch(at::ScalarType in, at::ScalarType out, bool silu, bool drop, F&& f) {
  auto withAct = [&](auto ti, auto to) {
    if (silu && drop) f(ti, to, std::true_type{}, std::true_type{});
    else if (silu) f(ti, to, std::true_type{}, std::false_type{});
    else if (drop) f(ti, to, std::false_type{}, std::true_type{});
    else f(ti, to, std::false_type{}, std::false_type{});
  };
  auto withOut = [&](auto ti) {
    if (out == at::kBFloat16) withAct(ti, uint16_t{});
    else withAct(ti, float{});
  };
  if (in == at::kBFloat16) withOut(uint16_t{});
  else withOut(float{});
}

template <typename T> T* Ptr(const at::Tensor& t) { return reinterpret_cast<T*>(t.data_ptr()); }

struct Shape {
  int64_t B, C, S, G, D;  // batch, channels, spatial size, groups, channels per group
  explicit Shape(const at::Tensor& x, int64_t groups)
      : B(x.size(0)), C(x.size(1)), S(x.numel() / std::max<int64_t>(1, x.size(0) * x.size(1))), G(groups), D(x.size(1) / groups) {}
  int64_t grain() const { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, D * S)); }
};

// Whether x is a 4-d channels-last (NHWC in memory) tensor that is not also plain contiguous.
bool IsChannelsLast(const at::Tensor& x) {
  return x.dim() == 4 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

// Forward: returns y and fills mean, rstd (B, G).
at::Tensor Forward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bi, const at::Tensor& sc,
                   const at::Tensor& sh, const Config& cfg, at::Tensor& mean, at::Tensor& rstd) {
  Shape s(x, cfg.groups);
  const bool cl = IsChannelsLast(x);  // y keeps x's layout
  at::Tensor y = at::empty(x.sizes(), x.options().dtype(cfg.outDtype).memory_format(
                                          cl ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous));
  mean = at::empty({s.B, s.G}, x.options().dtype(at::kFloat));
  rstd = at::empty({s.B, s.G}, x.options().dtype(at::kFloat));
  float* meanP = mean.data_ptr<float>();
  float* rstdP = rstd.data_ptr<float>();
  Mask m = cfg.drop ? MakeMask(cfg.seed, cfg.p) : Mask{};
  Dispatch(x.scalar_type(), cfg.outDtype, cfg.silu, cfg.drop, [&](auto ti, auto to, auto silu, auto drop) {
    using TI = decltype(ti);
    using TO = decltype(to);
    const TI* xP = Ptr<TI>(x);
    TO* yP = Ptr<TO>(y);
    if (cl) {
      // Channels-last: per batch element, per-channel sums give the group statistics, then one
      // pass writes y with per-channel coefficients.
      at::parallel_for(0, s.B, 1, [&](int64_t begin, int64_t end) {
        std::vector<double> sum(s.C), sq(s.C), muC(s.C);
        std::vector<float> a(s.C), d(s.C);
        const double n = static_cast<double>(s.D * s.S);
        for (int64_t b = begin; b < end; b++) {
          const int64_t off = b * s.S * s.C;
          std::fill(sum.begin(), sum.end(), 0.0);
          std::fill(sq.begin(), sq.end(), 0.0);
          ChannelSums(xP + off, s.S, s.C, sum.data());
          for (int64_t g = 0; g < s.G; g++) {
            double t = 0;
            for (int64_t j = 0; j < s.D; j++) t += sum[g * s.D + j];
            for (int64_t j = 0; j < s.D; j++) muC[g * s.D + j] = t / n;
          }
          ChannelSquares(xP + off, s.S, s.C, muC.data(), sq.data());
          for (int64_t g = 0; g < s.G; g++) {
            double t = 0;
            for (int64_t j = 0; j < s.D; j++) t += sq[g * s.D + j];
            const float muF = static_cast<float>(muC[g * s.D]);
            const float rs = static_cast<float>(1.0 / std::sqrt(t / n + cfg.eps));
            meanP[b * s.G + g] = muF;
            rstdP[b * s.G + g] = rs;
            for (int64_t j = 0; j < s.D; j++) {
              const int64_t c = g * s.D + j, bc = b * s.C + c;
              const float k = 1.0f + At(sc, bc, 0.0f);
              a[c] = rs * At(w, c, 1.0f) * k;
              d[c] = At(bi, c, 0.0f) * k + At(sh, bc, 0.0f) - muF * a[c];
            }
          }
          ForwardPixels<TI, TO, decltype(silu)::value, decltype(drop)::value>(
              xP + off, yP + off, s.S, s.C, a.data(), d.data(), static_cast<uint32_t>(off), m);
        }
      });
      return;
    }
    at::parallel_for(0, s.B * s.G, s.grain(), [&](int64_t begin, int64_t end) {
      for (int64_t bg = begin; bg < end; bg++) {
        const int64_t b = bg / s.G, g = bg % s.G, n = s.D * s.S;
        const TI* xg = xP + bg * n;  // the group's channels are contiguous
        double mu, sq;
        Moments(xg, n, &mu, &sq);
        const float muF = static_cast<float>(mu);
        const float rs = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(n) + cfg.eps));
        meanP[bg] = muF;
        rstdP[bg] = rs;
        for (int64_t j = 0; j < s.D; j++) {
          const int64_t c = g * s.D + j, bc = b * s.C + c;
          const float k = 1.0f + At(sc, bc, 0.0f);
          const float a = rs * At(w, c, 1.0f) * k;
          const float d = At(bi, c, 0.0f) * k + At(sh, bc, 0.0f) - muF * a;
          const int64_t off = bc * s.S;
          ForwardRow<TI, TO, decltype(silu)::value, decltype(drop)::value>(
              xP + off, yP + off, s.S, a, d, static_cast<uint32_t>(off), m);
        }
      }
    });
  });
  return y;
}

struct Grads {
  at::Tensor x, weight, bias, scale, shift;
};

Grads Backward(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bi, const at::Tensor& sc,
               const at::Tensor& sh, const at::Tensor& mean, const at::Tensor& rstd, const at::Tensor& gy,
               const Config& cfg, bool needX) {
  Shape s(x, cfg.groups);
  Grads out;
  const bool cl = IsChannelsLast(x);
  if (needX) out.x = at::empty_like(x);  // x's layout
  // Per (b, c): Σ g2 and Σ g2·x̂, reduced to the parameter gradients after the parallel part.
  std::vector<double> sumG(s.B * s.C), sumGxhat(s.B * s.C);
  const float* meanP = mean.data_ptr<float>();
  const float* rstdP = rstd.data_ptr<float>();
  Mask m = cfg.drop ? MakeMask(cfg.seed, cfg.p) : Mask{};
  Dispatch(x.scalar_type(), gy.scalar_type(), cfg.silu, cfg.drop, [&](auto ti, auto to, auto silu, auto drop) {
    using TI = decltype(ti);
    using TO = decltype(to);
    const TI* xP = Ptr<TI>(x);
    const TO* gP = Ptr<TO>(gy);
    TI* dxP = needX ? Ptr<TI>(out.x) : nullptr;
    if (cl) {
      // Channels-last: per batch element, one pass makes g2 and the per-channel sums, a second dx.
      at::parallel_for(0, s.B, 1, [&](int64_t begin, int64_t end) {
        std::vector<float> g2(s.S * s.C), a(s.C), A(s.C), d(s.C), P(s.C), Q(s.C), R(s.C);
        std::vector<double> sg(s.C), sgx(s.C);
        const double N = static_cast<double>(s.D * s.S);
        for (int64_t b = begin; b < end; b++) {
          const int64_t off = b * s.S * s.C;
          for (int64_t c = 0; c < s.C; c++) {
            const int64_t g = c / s.D, bc = b * s.C + c;
            const float mu = meanP[b * s.G + g], rs = rstdP[b * s.G + g];
            const float k = 1.0f + At(sc, bc, 0.0f);
            a[c] = At(w, c, 1.0f) * k;
            A[c] = rs * a[c];
            d[c] = At(bi, c, 0.0f) * k + At(sh, bc, 0.0f) - mu * A[c];
          }
          std::fill(sg.begin(), sg.end(), 0.0);
          std::fill(sgx.begin(), sgx.end(), 0.0);
          BackwardPixels<TI, TO, decltype(silu)::value, decltype(drop)::value>(
              xP + off, gP + off, g2.data(), s.S, s.C, A.data(), d.data(), static_cast<uint32_t>(off), m, sg.data(), sgx.data());
          for (int64_t g = 0; g < s.G; g++) {
            const float mu = meanP[b * s.G + g], rs = rstdP[b * s.G + g];
            double m1 = 0, m2 = 0;
            for (int64_t j = 0; j < s.D; j++) {
              const int64_t c = g * s.D + j, bc = b * s.C + c;
              sumG[bc] = sg[c];
              sumGxhat[bc] = rs * (sgx[c] - mu * sg[c]);
              m1 += a[c] * sg[c];
              m2 += a[c] * sumGxhat[bc];
            }
            const double mean1 = m1 / N, mean2 = m2 / N;
            for (int64_t j = 0; j < s.D; j++) {
              const int64_t c = g * s.D + j;
              P[c] = rs * a[c];
              Q[c] = static_cast<float>(-static_cast<double>(rs) * rs * mean2);
              R[c] = static_cast<float>(-rs * mean1 + static_cast<double>(rs) * rs * mean2 * mu);
            }
          }
          if (needX) InputGradPixels<TI>(xP + off, g2.data(), dxP + off, s.S, s.C, P.data(), Q.data(), R.data());
        }
      });
      return;
    }
    at::parallel_for(0, s.B * s.G, s.grain(), [&](int64_t begin, int64_t end) {
      std::vector<float> g2(s.D * s.S);  // the group's ∂L/∂y2, cache-resident between the passes
      std::vector<float> a(s.D);
      for (int64_t bg = begin; bg < end; bg++) {
        const int64_t b = bg / s.G, g = bg % s.G;
        const float mu = meanP[bg], rs = rstdP[bg];
        double m1 = 0, m2 = 0;  // Σ_c a·Σ g2 and Σ_c a·Σ g2·x̂ over the group
        for (int64_t j = 0; j < s.D; j++) {
          const int64_t c = g * s.D + j, bc = b * s.C + c;
          const float k = 1.0f + At(sc, bc, 0.0f);
          a[j] = At(w, c, 1.0f) * k;
          const float A = rs * a[j];
          const float d = At(bi, c, 0.0f) * k + At(sh, bc, 0.0f) - mu * A;
          const int64_t off = bc * s.S;
          double sg, sgx;
          BackwardRow<TI, TO, decltype(silu)::value, decltype(drop)::value>(
              xP + off, gP + off, g2.data() + j * s.S, s.S, A, d, static_cast<uint32_t>(off), m, &sg, &sgx);
          sumG[bc] = sg;
          sumGxhat[bc] = rs * (sgx - mu * sg);
          m1 += a[j] * sg;
          m2 += a[j] * sumGxhat[bc];
        }
        if (!needX) continue;
        // dx = rstd·(a·g2 − mean(a·g2) − x̂·mean(a·g2·x̂)), written as P·g2 + Q·x + R.
        const double N = static_cast<double>(s.D * s.S);
        const double mean1 = m1 / N, mean2 = m2 / N;
        const float Q = static_cast<float>(-static_cast<double>(rs) * rs * mean2);
        const float R = static_cast<float>(-rs * mean1 + static_cast<double>(rs) * rs * mean2 * mu);
        for (int64_t j = 0; j < s.D; j++) {
          const int64_t off = (b * s.C + g * s.D + j) * s.S;
          InputGradRow<TI>(xP + off, g2.data() + j * s.S, dxP + off, s.S, rs * a[j], Q, R);
        }
      }
    });
  });
  // The small reductions: ∂γ_c = Σ_b (1+s)·Σ g2·x̂, ∂β_c = Σ_b (1+s)·Σ g2,
  // ∂scale = γ·Σ g2·x̂ + β·Σ g2, ∂shift = Σ g2.
  auto opts = at::TensorOptions().dtype(at::kFloat);
  at::Tensor dw = at::zeros({s.C}, opts), db = at::zeros({s.C}, opts);
  at::Tensor dsc = at::empty({s.B, s.C}, opts), dsh = at::empty({s.B, s.C}, opts);
  float *dwP = dw.data_ptr<float>(), *dbP = db.data_ptr<float>(), *dscP = dsc.data_ptr<float>(), *dshP = dsh.data_ptr<float>();
  for (int64_t c = 0; c < s.C; c++) {
    double accW = 0, accB = 0;
    for (int64_t b = 0; b < s.B; b++) {
      const int64_t bc = b * s.C + c;
      const double k = 1.0 + At(sc, bc, 0.0f);
      accW += k * sumGxhat[bc];
      accB += k * sumG[bc];
      dscP[bc] = static_cast<float>(At(w, c, 1.0f) * sumGxhat[bc] + At(bi, c, 0.0f) * sumG[bc]);
      dshP[bc] = static_cast<float>(sumG[bc]);
    }
    dwP[c] = static_cast<float>(accW);
    dbP[c] = static_cast<float>(accB);
  }
  out.weight = dw;
  out.bias = db;
  out.scale = dsc;
  out.shift = dsh;
  return out;
}

at::Tensor OptionalOrEmpty(const c10::optional<at::Tensor>& t) { return t.has_value() ? *t : at::Tensor(); }

// The autograd node: saves x, the coefficients, mean, rstd and the seed (never the mask).
struct GroupNormAct : public torch::autograd::Function<GroupNormAct> {
  // Optional tensors are c10::optional so that absent ones are not autograd inputs (no edge).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const c10::optional<at::Tensor>& weightOpt,
                            const c10::optional<at::Tensor>& biasOpt, const c10::optional<at::Tensor>& scaleOpt,
                            const c10::optional<at::Tensor>& shiftOpt, Config cfg) {
    const at::Tensor weight = OptionalOrEmpty(weightOpt), bias = OptionalOrEmpty(biasOpt);
    const at::Tensor scale = OptionalOrEmpty(scaleOpt), shift = OptionalOrEmpty(shiftOpt);
    at::Tensor w = FloatOrEmpty(weight), bi = FloatOrEmpty(bias), sc = FloatOrEmpty(scale), sh = FloatOrEmpty(shift);
    at::Tensor mean, rstd;
    at::Tensor y = Forward(x, w, bi, sc, sh, cfg, mean, rstd);
    ctx->save_for_backward({x, w, bi, sc, sh, mean, rstd});
    ctx->saved_data["groups"] = cfg.groups;
    ctx->saved_data["silu"] = cfg.silu;
    ctx->saved_data["drop"] = cfg.drop;
    ctx->saved_data["p"] = cfg.p;
    ctx->saved_data["seed"] = static_cast<int64_t>(cfg.seed);
    ctx->saved_data["weight"] = weight.defined() ? c10::IValue(weight.scalar_type()) : c10::IValue();
    ctx->saved_data["bias"] = bias.defined() ? c10::IValue(bias.scalar_type()) : c10::IValue();
    ctx->saved_data["scale"] = scale.defined() ? c10::IValue(scale.sizes().vec()) : c10::IValue();
    ctx->saved_data["scaleDtype"] = scale.defined() ? c10::IValue(scale.scalar_type()) : c10::IValue();
    ctx->saved_data["shift"] = shift.defined() ? c10::IValue(shift.sizes().vec()) : c10::IValue();
    ctx->saved_data["shiftDtype"] = shift.defined() ? c10::IValue(shift.scalar_type()) : c10::IValue();
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!at::GradMode::is_enabled(), "diffuse::group_norm_act: double backward (create_graph) is not supported");
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1], &bi = saved[2], &sc = saved[3], &sh = saved[4];
    Config cfg;
    cfg.groups = ctx->saved_data["groups"].toInt();
    cfg.eps = 0;
    cfg.silu = ctx->saved_data["silu"].toBool();
    cfg.drop = ctx->saved_data["drop"].toBool();
    cfg.p = ctx->saved_data["p"].toDouble();
    cfg.seed = static_cast<uint64_t>(ctx->saved_data["seed"].toInt());
    at::Tensor gy = grads[0].contiguous(IsChannelsLast(x) ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
    Grads g = Backward(x, w, bi, sc, sh, saved[5], saved[6], gy, cfg, ctx->needs_input_grad(0));
    size_t edge = 0;  // autograd edges exist for x and the optional tensors that were given
    auto as = [&](const at::Tensor& grad, const char* dtypeKey, const char* shapeKey) -> at::Tensor {
      const c10::IValue& dt = ctx->saved_data[dtypeKey];
      if (dt.isNone() || !ctx->needs_input_grad(++edge)) return at::Tensor();
      at::Tensor r = grad.to(dt.toScalarType());
      return shapeKey == nullptr ? r : r.reshape(ctx->saved_data[shapeKey].toIntVector());
    };
    at::Tensor dw = as(g.weight, "weight", nullptr), db = as(g.bias, "bias", nullptr);
    at::Tensor dsc = as(g.scale, "scaleDtype", "scale"), dsh = as(g.shift, "shiftDtype", "shift");
    return {g.x, dw, db, dsc, dsh, at::Tensor()};
  }
};

at::Tensor GroupNormActOp(const at::Tensor& x, int64_t num_groups, const c10::optional<at::Tensor>& weight,
                          const c10::optional<at::Tensor>& bias, const c10::optional<at::Tensor>& scale,
                          const c10::optional<at::Tensor>& shift, double eps, bool silu, double dropout_p, bool train,
                          c10::optional<at::Generator> generator, c10::optional<at::ScalarType> out_dtype) {
  const char* op = "diffuse::group_norm_act: ";
  TORCH_CHECK(x.device().is_cpu(), op, "x must be a CPU tensor, got ", x.device());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16, op, "x must be float32 or bfloat16, got ",
              x.scalar_type());
  TORCH_CHECK(x.dim() >= 2, op, "x must be (B, C, *spatial), got ", x.dim(), " dimensions");
  const int64_t B = x.size(0), C = x.size(1);
  TORCH_CHECK(num_groups > 0 && C % num_groups == 0, op, C, " channels are not divisible into ", num_groups, " groups");
  at::ScalarType outDtype = out_dtype.value_or(x.scalar_type());
  TORCH_CHECK(outDtype == at::kFloat || outDtype == at::kBFloat16, op, "out_dtype must be float32 or bfloat16, got ", outDtype);
  TORCH_CHECK(dropout_p >= 0 && dropout_p <= 1, op, "dropout probability must be in [0, 1], got ", dropout_p);
  at::Tensor w = OptionalOrEmpty(weight), bi = OptionalOrEmpty(bias), sc = OptionalOrEmpty(scale), sh = OptionalOrEmpty(shift);
  for (const at::Tensor* t : {&w, &bi}) {
    TORCH_CHECK(!t->defined() || t->numel() == C, op, "weight and bias need ", C, " elements, got ", t->numel());
  }
  for (const at::Tensor* t : {&sc, &sh}) {
    TORCH_CHECK(!t->defined() || t->numel() == B * C, op, "scale and shift need B·C = ", B * C, " elements, got ", t->numel());
  }
  for (const at::Tensor* t : {&w, &bi, &sc, &sh}) {
    TORCH_CHECK(!t->defined() || t->device().is_cpu(), op, "weight, bias, scale and shift must be CPU tensors");
  }
  Config cfg{num_groups, eps, silu, train && dropout_p > 0, dropout_p, 0, outDtype};
  if (cfg.drop) {
    auto* gen = at::get_generator_or_default<at::CPUGeneratorImpl>(generator, at::detail::getDefaultCPUGenerator());
    std::lock_guard<std::mutex> lock(gen->mutex_);
    cfg.seed = gen->random64();
  }
  return GroupNormAct::apply(IsChannelsLast(x) ? x : x.contiguous(), weight, bias, scale, shift, cfg);
}

}  // namespace
}  // namespace dt

TORCH_LIBRARY_FRAGMENT(diffuse, m) {
  m.def(
      "group_norm_act(Tensor x, int num_groups, Tensor? weight=None, Tensor? bias=None, Tensor? scale=None, "
      "Tensor? shift=None, float eps=1e-05, bool silu=False, float dropout_p=0., bool train=False, "
      "Generator? generator=None, ScalarType? out_dtype=None) -> Tensor",
      &dt::GroupNormActOp);
}
