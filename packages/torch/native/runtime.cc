// Process-wide runtime: threads, random generators, CUDA availability, version.
#include <ATen/CPUGeneratorImpl.h>
#include <cmath>
#include <dlfcn.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "ops.h"

namespace dt {
namespace {

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // An absurd count makes OpenMP abort the process at the next parallel op (measured with
  // 2^31 - 1: "libgomp: Out of memory"), so it is refused here.
  constexpr double kMaxThreads = 1024;
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "setNumThreads expects an integer in [1, 1024]");
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 1 && n <= kMaxThreads) || n != std::floor(n)) {
    throw Napi::RangeError::New(env, "setNumThreads expects an integer in [1, 1024], got " + std::to_string(n));
  }
  DT_GUARD(env, { at::set_num_threads(static_cast<int>(n)); })
  return env.Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

double ToSeed(Napi::Env env, Napi::Value v) {
  if (v.IsBigInt()) {
    bool lossless;
    return static_cast<double>(v.As<Napi::BigInt>().Uint64Value(&lossless));
  }
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "seed must be a non-negative integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
    throw Napi::RangeError::New(env, "seed must be a non-negative integer");
  }
  return d;
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t seed = static_cast<uint64_t>(ToSeed(env, info[0]));
  DT_GUARD(env, { torch::manual_seed(seed); })
  return env.Undefined();
}

// newGenerator(device: string, seed?: number)
Napi::Value NewGenerator(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string device = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "cpu";
  at::Generator g;
  DT_GUARD(env, {
    c10::Device d(device);
    if (d.is_cpu()) {
      g = at::make_generator<at::CPUGeneratorImpl>();
    } else {
      throw Napi::Error::New(env, "Generator objects on " + device + " need a CUDA build of libtorch");
    }
    if (!info[1].IsUndefined()) {
      std::lock_guard<std::mutex> lock(g.mutex());
      g.set_current_seed(static_cast<uint64_t>(ToSeed(env, info[1])));
    }
  })
  return WrapGenerator(env, g);
}

Napi::Value DefaultGenerator(const Napi::CallbackInfo& info) {
  return WrapGenerator(info.Env(), at::detail::getDefaultCPUGenerator());
}

Napi::Value GeneratorSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Generator g = UnwrapGenerator(env, info[0]);
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_current_seed(static_cast<uint64_t>(ToSeed(env, info[1])));
  return env.Undefined();
}

Napi::Value GeneratorInitialSeed(const Napi::CallbackInfo& info) {
  at::Generator g = UnwrapGenerator(info.Env(), info[0]);
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(g.current_seed()));
}

// The full generator state as a uint8 tensor (for checkpoints that resume bit-exactly).
Napi::Value GeneratorGetState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Generator g = UnwrapGenerator(env, info[0]);
  at::Tensor state;
  DT_GUARD(env, {
    std::lock_guard<std::mutex> lock(g.mutex());
    state = g.get_state();
  })
  return WrapTensor(env, state);
}

Napi::Value GeneratorSetState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Generator g = UnwrapGenerator(env, info[0]);
  const at::Tensor& state = UnwrapTensor(env, info[1], "generator state");
  DT_GUARD(env, {
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(state);
  })
  return env.Undefined();
}

// setFlushDenormal(on) -> whether the CPU supports it (torch.set_flush_denormal).
Napi::Value SetFlushDenormal(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) throw Napi::TypeError::New(info.Env(), "setFlushDenormal expects a boolean");
  return Napi::Boolean::New(info.Env(), at::globalContext().setFlushDenormal(info[0].As<Napi::Boolean>().Value()));
}

// The instruction set oneDNN's kernels use, as dnnl_get_effective_cpu_isa() reports it: the CPU's,
// lowered by DNNL_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA. Looked up at run time because Debian's libtorch
// links oneDNN as a shared library (libdnnl.so.2) whose headers are not installed, and a libtorch
// from pytorch.org hides its static copy: there the answer is null and the caller falls back to
// the CPU's flags.
Napi::Value OnednnEffectiveIsa(const Napi::CallbackInfo& info) {
  using IsaFn = int (*)();
  auto fn = reinterpret_cast<IsaFn>(dlsym(RTLD_DEFAULT, "dnnl_get_effective_cpu_isa"));
  if (fn == nullptr) return info.Env().Null();
  return Napi::Number::New(info.Env(), fn());
}

Napi::Value CudaIsAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), torch::cuda::is_available());
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(torch::cuda::device_count()));
}

Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DT_GUARD(env, {
    if (torch::cuda::is_available()) torch::cuda::synchronize();
  })
  return env.Undefined();
}

}  // namespace

void InitRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed));
  exports.Set("newGenerator", Napi::Function::New(env, NewGenerator));
  exports.Set("defaultGenerator", Napi::Function::New(env, DefaultGenerator));
  exports.Set("generatorSeed", Napi::Function::New(env, GeneratorSeed));
  exports.Set("generatorInitialSeed", Napi::Function::New(env, GeneratorInitialSeed));
  exports.Set("generatorGetState", Napi::Function::New(env, GeneratorGetState));
  exports.Set("generatorSetState", Napi::Function::New(env, GeneratorSetState));
  exports.Set("setFlushDenormal", Napi::Function::New(env, SetFlushDenormal));
  exports.Set("onednnEffectiveIsa", Napi::Function::New(env, OnednnEffectiveIsa));
  exports.Set("cudaIsAvailable", Napi::Function::New(env, CudaIsAvailable));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount));
  exports.Set("cudaSynchronize", Napi::Function::New(env, CudaSynchronize));
  exports.Set("version", Napi::String::New(env, TORCH_VERSION));
}

}  // namespace dt
