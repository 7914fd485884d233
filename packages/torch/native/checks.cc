// Each check here answers one crash the native-layer fuzz (test/fuzz.test.ts) found in libtorch
// 1.13: the kernel aborts the process where it should throw. We throw first, with a one-line
// message, so the user gets a JS Error and the process lives.
#include "checks.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <unordered_map>

namespace dt {
namespace {

// native_batch_norm(input, ...): the CPU kernel divides by a size of an empty input (shapes
// [0, 3] and [2, 0] raised SIGFPE, training or not). batch_norm, the public op, returns early for
// empty inputs; this is the direct path to the kernel, so empty inputs are refused here.
void CheckBatchNormNonEmpty(const torch::jit::Stack& stack) {
  if (stack.empty() || !stack[0].isTensor()) return;
  const at::Tensor& input = stack[0].toTensor();
  TORCH_CHECK(input.dim() < 2 || input.numel() > 0,
              "native_batch_norm: expected a non-empty input, got shape ", input.sizes(),
              " (batch_norm accepts empty inputs)");
}

// The value range of a 1-D integer tensor, or false when its values cannot be read (empty, or not
// on the CPU: meta tensors have no data, and a CUDA kernel checks its own indices).
bool IntRange(const at::Tensor& t, int64_t* lo, int64_t* hi) {
  if (t.numel() == 0 || !t.device().is_cpu()) return false;
  at::Tensor v = t.to(at::kLong).contiguous();
  const int64_t* p = v.data_ptr<int64_t>();
  *lo = *hi = p[0];
  for (int64_t i = 1; i < v.numel(); i++) {
    *lo = std::min(*lo, p[i]);
    *hi = std::max(*hi, p[i]);
  }
  return true;
}

// embedding_bag(weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights,
// include_last_offset[, padding_idx]): torch.nn.functional.embedding_bag checks these in Python
// before it calls the op; the kernel trusts them and read out of bounds (SIGSEGV) when called
// directly with mode 4 or with offsets that are not 1-D.
void CheckEmbeddingBag(const torch::jit::Stack& stack) {
  if (stack.size() < 8 || !stack[0].isTensor() || !stack[1].isTensor() || !stack[2].isTensor()) return;
  const at::Tensor& weight = stack[0].toTensor();
  const at::Tensor& indices = stack[1].toTensor();
  const at::Tensor& offsets = stack[2].toTensor();
  TORCH_CHECK(weight.dim() == 2, "embedding_bag: weight must be 2-D, got shape ", weight.sizes());
  TORCH_CHECK(indices.dim() == 1, "embedding_bag: indices must be 1-D, got shape ", indices.sizes());
  TORCH_CHECK(offsets.dim() == 1, "embedding_bag: offsets must be 1-D, got shape ", offsets.sizes());
  int64_t mode = stack[4].isInt() ? stack[4].toInt() : 0;
  TORCH_CHECK(mode >= 0 && mode <= 2, "embedding_bag: mode must be 0 (sum), 1 (mean) or 2 (max), got ", mode);
  if (stack[6].isTensor()) {
    const at::Tensor& psw = stack[6].toTensor();
    TORCH_CHECK(psw.sizes() == indices.sizes(), "embedding_bag: per_sample_weights must have the shape of indices ",
                indices.sizes(), ", got ", psw.sizes());
    TORCH_CHECK(mode == 0, "embedding_bag: per_sample_weights need mode 0 (sum)");
  }
  int64_t lo = 0, hi = 0;
  if (IntRange(indices, &lo, &hi)) {
    TORCH_CHECK(lo >= 0 && hi < weight.size(0), "embedding_bag: indices must be in [0, ", weight.size(0), "), got [", lo, ", ", hi, "]");
  }
  if (offsets.numel() > 0 && offsets.device().is_cpu()) {
    at::Tensor o = offsets.to(at::kLong).contiguous();
    const int64_t* p = o.data_ptr<int64_t>();
    TORCH_CHECK(p[0] == 0, "embedding_bag: offsets must start at 0, got ", p[0]);
    for (int64_t i = 1; i < o.numel(); i++) {
      TORCH_CHECK(p[i] >= p[i - 1], "embedding_bag: offsets must not decrease (", p[i - 1], " then ", p[i], ")");
    }
    TORCH_CHECK(p[o.numel() - 1] <= indices.numel(), "embedding_bag: offsets go past the ", indices.numel(), " indices");
  }
  if (stack.size() > 8 && stack[8].isInt()) {
    int64_t pad = stack[8].toInt();
    TORCH_CHECK(pad >= -weight.size(0) && pad < std::max<int64_t>(weight.size(0), 1),
                "embedding_bag: padding_idx ", pad, " is out of range for ", weight.size(0), " embeddings");
  }
}

}  // namespace

ArgCheck FindArgCheck(const std::string& name) {
  static const std::unordered_map<std::string, ArgCheck> checks = {
      {"aten::native_batch_norm", CheckBatchNormNonEmpty},
      {"aten::embedding_bag", CheckEmbeddingBag},
  };
  auto it = checks.find(name);
  return it == checks.end() ? nullptr : it->second;
}

}  // namespace dt
