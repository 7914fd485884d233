// Tensor and generator handles: how libtorch objects cross into JavaScript.
//
// A tensor handle is a type-tagged JS object wrapping one at::Tensor reference (TorchSharp's rule:
// every op returns a fresh handle, so ownership is never ambiguous). Disposing a handle drops its
// reference; storage shared with other handles (views) lives on until the last one goes. Bytes are
// counted per distinct storage and reported to V8, so a forgotten tensor still pressures the GC.
#pragma once

#include <napi.h>
#include <torch/torch.h>

#include <string>

namespace dt {

Napi::Value WrapTensor(Napi::Env env, at::Tensor t);
bool IsTensorHandle(Napi::Env env, Napi::Value v);
// The tensor behind a live handle, or nullptr for anything else (a disposed handle included).
const at::Tensor* PeekTensor(Napi::Env env, Napi::Value v);
// Returns the tensor behind a handle; throws a JS TypeError for anything else and an Error for a
// disposed handle.
const at::Tensor& UnwrapTensor(Napi::Env env, Napi::Value v, const char* what = "argument");
void DisposeTensor(Napi::Env env, Napi::Value v);

Napi::Value WrapGenerator(Napi::Env env, at::Generator g);
bool IsGeneratorHandle(Napi::Env env, Napi::Value v);
at::Generator UnwrapGenerator(Napi::Env env, Napi::Value v);

// Live-handle accounting, as returned by torch.memory().
struct MemoryStats {
  int64_t tensors;
  int64_t storages;
  int64_t bytes;
};
MemoryStats GetMemoryStats();

// A JS error carrying libtorch's one-line message; the backtrace goes on `.backtrace`.
struct JsErrorInfo {
  std::string kind;  // "Error" | "TypeError" | "RangeError"
  std::string message;
  std::string backtrace;
};
[[noreturn]] void ThrowJs(Napi::Env env, const JsErrorInfo& info);

}  // namespace dt

// Runs body, turning every C++ exception into a thrown JS error (never an abort).
#define DT_GUARD(env, body)                                                             \
  try {                                                                                 \
    body                                                                                \
  } catch (const Napi::Error&) {                                                        \
    throw;                                                                              \
  } catch (const c10::IndexError& e) {                                                  \
    dt::ThrowJs(env, {"RangeError", e.what_without_backtrace(), e.what()});             \
  } catch (const c10::TypeError& e) {                                                   \
    dt::ThrowJs(env, {"TypeError", e.what_without_backtrace(), e.what()});              \
  } catch (const c10::Error& e) {                                                       \
    dt::ThrowJs(env, {"Error", e.what_without_backtrace(), e.what()});                  \
  } catch (const std::out_of_range& e) {                                                \
    dt::ThrowJs(env, {"RangeError", e.what(), ""});                                     \
  } catch (const std::exception& e) {                                                   \
    dt::ThrowJs(env, {"Error", e.what(), ""});                                          \
  } catch (...) {                                                                       \
    dt::ThrowJs(env, {"Error", "unknown native error", ""});                            \
  }
