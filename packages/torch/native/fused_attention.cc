// diffuse::packed_attention — multi-head self-attention over packed channel-first projections,
// fused so that each (batch, head) pair's T×T score matrix is made, softmaxed and consumed while it
// sits in cache, and the pairs are spread over the intra-op threads.
//
// Why: eager attention materialises (B·H, T, T) scores several times per layer (matmul, softmax,
// its backward) and aten::bmm runs its batch serially on one BLAS thread; on ref-28 those passes
// are ~35 % of a training step. Here every pair is independent, so the work parallelises with no
// synchronisation, and the backward recomputes the probabilities (as FlashAttention does) instead
// of keeping a (B·H, T, T) tensor alive between forward and backward.
//
// Layout: qkv is (B, 3·H·C, T). order 0 = per head [q, k, v] (improved-diffusion's
// QKVAttentionLegacy); order 1 = [all q, all k, all v] (guided-diffusion's QKVAttention).
// Output (B, H·C, T): head h's channels at h·C. Scores use 1/sqrt(C).
#include <torch/torch.h>
#include <torch/library.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

extern "C" void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                       const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
                       const float* beta, float* c, const int* ldc) __attribute__((weak));

namespace {

// C (M×N) = alpha · op(A) · op(B) + beta · C on row-major arrays, through column-major BLAS:
// a row-major matrix is its transpose in column-major, so Cᵀ = op(B)ᵀ · op(A)ᵀ.
void gemmRowMajor(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (sgemm_ == nullptr) {  // a libtorch without a Fortran BLAS in reach (weak symbol unresolved)
    auto opts = at::TensorOptions().dtype(at::kFloat);
    auto A = at::from_blob(const_cast<float*>(a), {transA ? k : m, transA ? m : k}, {lda, 1}, opts);
    auto B = at::from_blob(const_cast<float*>(b), {transB ? n : k, transB ? k : n}, {ldb, 1}, opts);
    auto C = at::from_blob(c, {m, n}, {ldc, 1}, opts);
    auto prod = at::mm(transA ? A.t() : A, transB ? B.t() : B);
    if (beta == 0.f) C.copy_(prod.mul_(alpha)); else C.mul_(beta).add_(prod, alpha);
    return;
  }
  const char ta = transA ? 'T' : 'N', tb = transB ? 'T' : 'N';
  const int M = static_cast<int>(m), N = static_cast<int>(n), K = static_cast<int>(k);
  const int LDA = static_cast<int>(lda), LDB = static_cast<int>(ldb), LDC = static_cast<int>(ldc);
  sgemm_(&tb, &ta, &N, &M, &K, &alpha, b, &LDB, a, &LDA, &beta, c, &LDC);
}

// Row-wise softmax in place: each of `rows` rows of `cols` floats. exp is a degree-6 polynomial
// after range reduction (relative error < 2e-7), written so the compiler vectorises the loops;
// target_clones picks the widest ISA at load time while the addon stays portable.
__attribute__((target_clones("avx512f", "avx2", "default")))
void softmaxRows(float* s, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = s + r * cols;
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < cols; ++j) mx = row[j] > mx ? row[j] : mx;
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < cols; ++j) {
      float x = row[j] - mx;
      x = x < -87.f ? -87.f : x;
      // x = n·ln2 + r with n rounded to nearest by the 1.5·2^23 trick (no floor: SSE2 lacks it).
      const float fn = (x * 1.44269504f + 12582912.f) - 12582912.f;
      const float rr = (x - fn * 0.693145751953125f) - fn * 1.428606765330187e-06f;
      float p = 1.f / 720.f;
      p = p * rr + 1.f / 120.f;
      p = p * rr + 1.f / 24.f;
      p = p * rr + 1.f / 6.f;
      p = p * rr + 0.5f;
      p = p * rr + 1.f;
      p = p * rr + 1.f;
      int32_t bits = (static_cast<int32_t>(fn) + 127) << 23;
      float scale;
      std::memcpy(&scale, &bits, sizeof scale);
      const float e = p * scale;
      row[j] = e;
      sum += e;
    }
    const float inv = 1.f / sum;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) row[j] *= inv;
  }
}

// dS = P ⊙ (dP − rowsum(dP ⊙ P)), in place over dP: softmax's backward, row by row.
__attribute__((target_clones("avx512f", "avx2", "default")))
void softmaxBackwardRows(const float* p, float* dp, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* pr = p + r * cols;
    float* gr = dp + r * cols;
    float dot = 0.f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < cols; ++j) dot += pr[j] * gr[j];
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) gr[j] = pr[j] * (gr[j] - dot);
  }
}

struct Geometry {
  int64_t batch, heads, channels, tokens;
  bool perKind;  // order 1: [all q, all k, all v]
  // Offsets (in floats) of q, k, v of pair (b, h) inside a contiguous (B, 3HC, T) tensor.
  int64_t base(int64_t b) const { return b * 3 * heads * channels * tokens; }
  int64_t q(int64_t b, int64_t h) const { return base(b) + (perKind ? h : 3 * h) * channels * tokens; }
  int64_t k(int64_t b, int64_t h) const { return q(b, h) + (perKind ? heads : 1) * channels * tokens; }
  int64_t v(int64_t b, int64_t h) const { return q(b, h) + (perKind ? 2 * heads : 2) * channels * tokens; }
  int64_t out(int64_t b, int64_t h) const { return (b * heads + h) * channels * tokens; }
};

Geometry checkedGeometry(const at::Tensor& qkv, int64_t heads, int64_t order) {
  TORCH_CHECK(qkv.dim() == 3, "packed_attention: qkv must be (B, 3·H·C, T), got ", qkv.dim(), " dims");
  TORCH_CHECK(qkv.device().is_cpu(), "packed_attention: CPU tensors only (use the unfused path on ", qkv.device(), ")");
  TORCH_CHECK(qkv.scalar_type() == at::kFloat || qkv.scalar_type() == at::kBFloat16,
              "packed_attention: qkv must be float32 or bfloat16, got ", qkv.scalar_type());
  TORCH_CHECK(heads > 0, "packed_attention: num_heads must be positive, got ", heads);
  TORCH_CHECK(order == 0 || order == 1, "packed_attention: order must be 0 (per head q,k,v) or 1 (all q, all k, all v)");
  const int64_t width = qkv.size(1);
  TORCH_CHECK(width > 0 && width % (3 * heads) == 0, "packed_attention: ", width, " channels do not split into 3 × ", heads, " heads");
  TORCH_CHECK(qkv.size(2) > 0, "packed_attention: no tokens");
  TORCH_CHECK(qkv.size(2) <= 65536, "packed_attention: ", qkv.size(2), " tokens need a ", qkv.size(2), "² score matrix per head; too large");
  return Geometry{qkv.size(0), heads, width / (3 * heads), qkv.size(2), order == 1};
}

at::Tensor attentionForward(const at::Tensor& x, const Geometry& g) {  // x: float32 contiguous
  auto out = at::empty({g.batch, g.heads * g.channels, g.tokens}, x.options());  // (B, H·C, T)
  const float* src = x.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const int64_t T = g.tokens, C = g.channels;
  const float scale = 1.f / std::sqrt(static_cast<float>(C));
  at::parallel_for(0, g.batch * g.heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> s(T * T);  // (T, S) scores, then probabilities
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / g.heads, h = i % g.heads;
      const float *q = src + g.q(b, h), *k = src + g.k(b, h), *v = src + g.v(b, h);  // (C, T) each
      gemmRowMajor(true, false, T, T, C, scale, q, T, k, T, 0.f, s.data(), T);       // S = Qᵀ K / √C
      softmaxRows(s.data(), T, T);                                                    // P
      gemmRowMajor(false, true, C, T, T, 1.f, v, T, s.data(), T, 0.f, dst + g.out(b, h), T);  // A = V Pᵀ
    }
  });
  return out;
}

at::Tensor attentionBackward(const at::Tensor& x, const at::Tensor& gradOut, const Geometry& g) {
  auto dx = at::empty_like(x);  // (B, 3HC, T): the q, k, v blocks of all pairs tile it exactly
  const float* src = x.data_ptr<float>();
  const float* go = gradOut.data_ptr<float>();
  float* dsrc = dx.data_ptr<float>();
  const int64_t T = g.tokens, C = g.channels;
  const float scale = 1.f / std::sqrt(static_cast<float>(C));
  at::parallel_for(0, g.batch * g.heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> p(T * T), dp(T * T);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / g.heads, h = i % g.heads;
      const float *q = src + g.q(b, h), *k = src + g.k(b, h), *v = src + g.v(b, h);  // (C, T) each
      const float* dO = go + g.out(b, h);                                             // (C, T)
      float *dq = dsrc + g.q(b, h), *dk = dsrc + g.k(b, h), *dv = dsrc + g.v(b, h);
      gemmRowMajor(true, false, T, T, C, scale, q, T, k, T, 0.f, p.data(), T);  // recompute S
      softmaxRows(p.data(), T, T);                                               // P
      gemmRowMajor(false, false, C, T, T, 1.f, dO, T, p.data(), T, 0.f, dv, T);  // dV = dA P
      gemmRowMajor(true, false, T, T, C, 1.f, dO, T, v, T, 0.f, dp.data(), T);   // dP = dAᵀ V
      softmaxBackwardRows(p.data(), dp.data(), T, T);                            // dS
      gemmRowMajor(false, true, C, T, T, scale, k, T, dp.data(), T, 0.f, dq, T);  // dQ = K dSᵀ / √C
      gemmRowMajor(false, false, C, T, T, scale, q, T, dp.data(), T, 0.f, dk, T); // dK = Q dS / √C
    }
  });
  return dx;
}

struct PackedAttention : public torch::autograd::Function<PackedAttention> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& qkv, int64_t heads, int64_t order) {
    const Geometry g = checkedGeometry(qkv, heads, order);
    ctx->save_for_backward({qkv});
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["order"] = order;
    const at::Tensor x = qkv.to(at::kFloat).contiguous();  // computes in float32 whatever the input
    return attentionForward(x, g).to(qkv.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const at::Tensor qkv = ctx->get_saved_variables()[0];
    const Geometry g = checkedGeometry(qkv, ctx->saved_data["heads"].toInt(), ctx->saved_data["order"].toInt());
    const at::Tensor x = qkv.to(at::kFloat).contiguous();
    const at::Tensor go = grads[0].to(at::kFloat).contiguous();
    return {attentionBackward(x, go, g).to(qkv.scalar_type()), at::Tensor(), at::Tensor()};
  }
};

at::Tensor packedAttention(const at::Tensor& qkv, int64_t numHeads, int64_t order) {
  return PackedAttention::apply(qkv, numHeads, order);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(diffuse, m) {
  m.def("packed_attention(Tensor qkv, int num_heads, int order=0) -> Tensor", &packedAttention);
}
