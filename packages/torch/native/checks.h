// Argument checks the native layer makes before calling a few operators whose kernels, given
// some inputs, crash the process (divide by zero, read out of bounds) instead of throwing.
#pragma once

#include <ATen/core/stack.h>

#include <string>

namespace dt {

// Throws c10::Error when the stack's arguments would crash the operator's kernel.
using ArgCheck = void (*)(const torch::jit::Stack& stack);

// The check for an operator ('aten::native_batch_norm'), or nullptr for the (many) that need none.
ArgCheck FindArgCheck(const std::string& name);

}  // namespace dt
