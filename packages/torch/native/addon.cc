// Entry point of the native addon: registers each family of bindings.
#include "ops.h"

namespace dt {
// distributed.cc: torch.distributed on c10d (declared here so the other files need not rebuild).
void InitDistributed(Napi::Env env, Napi::Object exports);
}  // namespace dt

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  dt::InitOps(env, exports);
  dt::InitTensor(env, exports);
  dt::InitAutograd(env, exports);
  dt::InitRuntime(env, exports);
  dt::InitProfiler(env, exports);
  dt::InitDistributed(env, exports);
  // Finalizers that run while the environment tears down must not call back into V8.
  napi_add_env_cleanup_hook(env, [](void*) { dt::MarkTearingDown(); }, nullptr);
  return exports;
}
}  // namespace

NODE_API_MODULE(diffuse_torch, Init)
