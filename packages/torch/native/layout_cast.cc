// diffuse::layout_cast — a dtype + memory-layout change whose gradient comes back in the input's
// own dtype AND layout. aten::to's backward keeps the gradient's layout, so a channels-last
// bfloat16 conv input would hand channels-last float32 gradients to the NCHW ops before it, and
// every elementwise backward there then runs on mixed strides (measured 2–3× slower).
#include <torch/torch.h>
#include <torch/library.h>

namespace {

at::MemoryFormat layoutOf(const at::Tensor& t) {
  return t.dim() == 4 ? t.suggest_memory_format() : at::MemoryFormat::Contiguous;
}

struct LayoutCast : public torch::autograd::Function<LayoutCast> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, at::ScalarType dtype, bool channelsLast) {
    TORCH_CHECK(!channelsLast || x.dim() == 4, "layout_cast: channels-last needs a 4-d tensor, got ", x.dim(), " dims");
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    ctx->saved_data["layout"] = static_cast<int64_t>(layoutOf(x));
    const auto fmt = channelsLast ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    return x.to(x.options().dtype(dtype).memory_format(fmt), /*non_blocking=*/false, /*copy=*/true);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    const auto fmt = static_cast<at::MemoryFormat>(ctx->saved_data["layout"].toInt());
    const at::Tensor& g = grads[0];
    return {g.to(g.options().dtype(dtype).memory_format(fmt)), at::Tensor(), at::Tensor()};
  }
};

at::Tensor layoutCast(const at::Tensor& x, at::ScalarType dtype, bool channelsLast) {
  return LayoutCast::apply(x, dtype, channelsLast);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(diffuse, m) {
  m.def("layout_cast(Tensor x, ScalarType dtype, bool channels_last=False) -> Tensor", &layoutCast);
}
