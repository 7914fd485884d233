// Shim: Debian's libtorch-dev ships c10d's reducer.hpp, which names the RPC (distributed
// autograd) context, but not this header. The reducer only holds a shared_ptr to the context and
// checks one callback type, so these two declarations are all it needs; we never use RPC, and the
// layout of a shared_ptr does not depend on the class it points to.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace torch {
namespace distributed {
namespace autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};
using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace autograd
}  // namespace distributed
}  // namespace torch
