#include "handles.h"

#include <unordered_map>

namespace dt {
namespace {

// Distinct tags so a generator handle can never be read as a tensor (or a stale object as either).
const napi_type_tag kTensorTag = {0x6469666675736574ULL, 0x74656e736f720001ULL};
const napi_type_tag kGeneratorTag = {0x6469666675736574ULL, 0x67656e6572610001ULL};

// The first word marks a box as ours: unwrapping an object some other addon wrapped must not
// read it as a tensor.
constexpr uint64_t kBoxMagic = 0x64742d74656e736fULL;

struct TensorBox {
  uint64_t magic = kBoxMagic;
  at::Tensor t;
  const void* storageKey = nullptr;
  bool live = true;
};

struct StorageEntry {
  int64_t handles;
  int64_t bytes;
};

std::unordered_map<const void*, StorageEntry> g_storages;
int64_t g_tensors = 0;
int64_t g_bytes = 0;
bool g_tearingDown = false;

void Account(Napi::Env env, TensorBox* box) {
  g_tensors++;
  if (!box->t.defined() || !box->t.has_storage()) return;
  const void* key = box->t.storage().unsafeGetStorageImpl();
  box->storageKey = key;
  auto it = g_storages.find(key);
  if (it != g_storages.end()) {
    it->second.handles++;
    return;
  }
  int64_t bytes = static_cast<int64_t>(box->t.storage().nbytes());
  g_storages.emplace(key, StorageEntry{1, bytes});
  g_bytes += bytes;
  if (bytes > 0) Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
}

void Release(napi_env env, TensorBox* box) {
  if (!box->live) return;
  box->live = false;
  g_tensors--;
  if (box->storageKey != nullptr) {
    auto it = g_storages.find(box->storageKey);
    if (it != g_storages.end() && --it->second.handles == 0) {
      int64_t bytes = it->second.bytes;
      g_bytes -= bytes;
      g_storages.erase(it);
      if (bytes > 0 && !g_tearingDown && env != nullptr) {
        int64_t ignored;
        napi_adjust_external_memory(env, -bytes, &ignored);
      }
    }
  }
  box->t = at::Tensor();
}

bool HasTag(Napi::Env env, Napi::Value v, const napi_type_tag& tag) {
  if (!v.IsExternal() && !v.IsObject()) return false;
  bool result = false;
  if (napi_check_object_type_tag(env, v, &tag, &result) != napi_ok) return false;
  return result;
}

}  // namespace

// A tensor handle is a plain object wrapping a TensorBox (napi_wrap), not an External: dispose()
// can then remove the wrap, which frees the box and its finalizer at once. Node defers GC
// finalizers to the event loop, so with Externals every tensor a synchronous loop created and
// disposed still left its box and finalizer record queued until the loop turned (measured: ~350
// bytes per op, RSS +200 MB per 600k ops). Only never-disposed tensors reach the finalizer now.
void FinalizeBox(napi_env env, void* data, void*) {
  auto* box = static_cast<TensorBox*>(data);
  Release(env, box);
  delete box;
}

Napi::Value WrapTensor(Napi::Env env, at::Tensor t) {
  auto* box = new TensorBox();
  box->t = std::move(t);
  Account(env, box);
  napi_value obj;
  napi_status st = napi_create_object(env, &obj);
  // Tag first: remove_wrap then deletes the most recently added property, V8's fast path.
  if (st == napi_ok) st = napi_type_tag_object(env, obj, &kTensorTag);
  if (st == napi_ok) st = napi_wrap(env, obj, box, FinalizeBox, nullptr, nullptr);
  if (st != napi_ok) {
    Release(env, box);
    delete box;
    NAPI_THROW_IF_FAILED(env, st, Napi::Value());
  }
  return Napi::Value(env, obj);
}

bool IsTensorHandle(Napi::Env env, Napi::Value v) { return HasTag(env, v, kTensorTag); }

const at::Tensor* PeekTensor(Napi::Env env, Napi::Value v) {
  // One unwrap; the type tag is only consulted to explain why a value is not a live tensor.
  if (!v.IsObject()) return nullptr;
  void* data = nullptr;
  if (napi_unwrap(env, v, &data) != napi_ok || data == nullptr) return nullptr;
  auto* box = static_cast<TensorBox*>(data);
  return box->magic == kBoxMagic && box->live ? &box->t : nullptr;
}

const at::Tensor& UnwrapTensor(Napi::Env env, Napi::Value v, const char* what) {
  if (const at::Tensor* t = PeekTensor(env, v)) return *t;
  if (!HasTag(env, v, kTensorTag)) {
    throw Napi::TypeError::New(env, std::string("expected a Tensor for ") + what);
  }
  throw Napi::Error::New(env, std::string("tensor used after dispose() (") + what + ")");
}

void DisposeTensor(Napi::Env env, Napi::Value v) {
  if (!HasTag(env, v, kTensorTag)) throw Napi::TypeError::New(env, "dispose: expected a Tensor handle");
  void* data = nullptr;
  if (napi_remove_wrap(env, v, &data) != napi_ok || data == nullptr) return;  // already disposed
  auto* box = static_cast<TensorBox*>(data);
  Release(env, box);
  delete box;
}

Napi::Value WrapGenerator(Napi::Env env, at::Generator g) {
  auto* boxed = new at::Generator(std::move(g));
  auto ext = Napi::External<at::Generator>::New(env, boxed, [](Napi::Env, at::Generator* p) { delete p; });
  napi_type_tag_object(env, ext, &kGeneratorTag);
  return ext;
}

bool IsGeneratorHandle(Napi::Env env, Napi::Value v) { return HasTag(env, v, kGeneratorTag); }

at::Generator UnwrapGenerator(Napi::Env env, Napi::Value v) {
  if (!HasTag(env, v, kGeneratorTag)) throw Napi::TypeError::New(env, "expected a Generator");
  return *v.As<Napi::External<at::Generator>>().Data();
}

MemoryStats GetMemoryStats() {
  return MemoryStats{g_tensors, static_cast<int64_t>(g_storages.size()), g_bytes};
}

void MarkTearingDown() { g_tearingDown = true; }

[[noreturn]] void ThrowJs(Napi::Env env, const JsErrorInfo& info) {
  // Users see one line; a multi-line libtorch message keeps its full text on `.detail`.
  std::string message = info.message;
  std::string detail;
  size_t start = message.find_first_not_of("\n ");
  if (start != std::string::npos && start > 0) message = message.substr(start);
  size_t nl = message.find('\n');
  if (nl != std::string::npos) {
    detail = message;
    message = message.substr(0, nl);
  }
  Napi::Error err;
  if (info.kind == "TypeError") {
    err = Napi::TypeError::New(env, message);
  } else if (info.kind == "RangeError") {
    err = Napi::RangeError::New(env, message);
  } else {
    err = Napi::Error::New(env, message);
  }
  if (!detail.empty()) err.Set("detail", Napi::String::New(env, detail));
  if (!info.backtrace.empty()) err.Set("backtrace", Napi::String::New(env, info.backtrace));
  throw err;
}

}  // namespace dt
