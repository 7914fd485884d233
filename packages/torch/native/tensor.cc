// Tensor data in and out of JavaScript, metadata, disposal, and direct file reads into storage.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ops.h"

namespace dt {
namespace {

std::vector<int64_t> ToShape(Napi::Env env, Napi::Value v) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, "shape must be an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> shape(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) throw Napi::TypeError::New(env, "shape must be an array of integers");
    double d = e.As<Napi::Number>().DoubleValue();
    if (d < 0 || d != static_cast<double>(static_cast<int64_t>(d))) {
      throw Napi::RangeError::New(env, "shape entries must be non-negative integers, got " + std::to_string(d));
    }
    shape[i] = static_cast<int64_t>(d);
  }
  return shape;
}

c10::ScalarType ToDtype(Napi::Env env, Napi::Value v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "dtype code must be a number");
  int code = v.As<Napi::Number>().Int32Value();
  if (code < 0 || code >= static_cast<int>(c10::ScalarType::NumOptions)) {
    throw Napi::RangeError::New(env, "unknown dtype code " + std::to_string(code));
  }
  return static_cast<c10::ScalarType>(code);
}

// fromBuffer(view: ArrayBufferView, shape: number[], dtype: number, device: string) -> handle
// Copies the bytes once into fresh libtorch storage (JS memory may move or be freed).
Napi::Value FromBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() && !info[0].IsDataView() && !info[0].IsBuffer()) {
    throw Napi::TypeError::New(env, "fromBuffer: expected a typed array");
  }
  void* data = nullptr;
  size_t length = 0;
  if (info[0].IsTypedArray()) {
    auto ta = info[0].As<Napi::TypedArray>();
    data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    length = ta.ByteLength();
  } else {
    auto dv = info[0].As<Napi::DataView>();
    data = static_cast<uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    length = dv.ByteLength();
  }
  auto shape = ToShape(env, info[1]);
  auto dtype = ToDtype(env, info[2]);
  at::Tensor out;
  DT_GUARD(env, {
    out = torch::empty(shape, torch::TensorOptions().dtype(dtype));
    size_t need = out.numel() * out.element_size();
    if (need != length) {
      throw Napi::RangeError::New(env, "fromBuffer: " + std::to_string(length) + " bytes given for shape " +
                                           c10::str(out.sizes()) + " of " + c10::toString(dtype) +
                                           ", which needs " + std::to_string(need));
    }
    if (need > 0) std::memcpy(out.data_ptr(), data, need);
    if (info[3].IsString()) {
      std::string dev = info[3].As<Napi::String>().Utf8Value();
      if (dev != "cpu") out = out.to(c10::Device(dev));
    }
  })
  return WrapTensor(env, out);
}

// toBuffer(handle) -> ArrayBuffer holding a contiguous CPU copy of the data.
Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = UnwrapTensor(env, info[0]);
  at::Tensor c;
  DT_GUARD(env, { c = t.detach().to(at::kCPU).contiguous(); })
  size_t n = c.numel() * c.element_size();
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, n);
  if (n > 0) std::memcpy(buf.Data(), c.data_ptr(), n);
  return buf;
}

// meta(handle) -> [shape, dtypeCode, device, requiresGrad]
Napi::Value Meta(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = UnwrapTensor(env, info[0]);
  auto sizes = t.sizes();
  Napi::Array shape = Napi::Array::New(env, sizes.size());
  for (size_t i = 0; i < sizes.size(); i++) shape.Set(i, Napi::Number::New(env, static_cast<double>(sizes[i])));
  Napi::Array out = Napi::Array::New(env, 4);
  out.Set(0u, shape);
  out.Set(1u, Napi::Number::New(env, static_cast<int>(t.scalar_type())));
  out.Set(2u, Napi::String::New(env, t.device().str()));
  out.Set(3u, Napi::Boolean::New(env, t.requires_grad()));
  return out;
}

Napi::Value Strides(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = UnwrapTensor(env, info[0]);
  auto st = t.strides();
  Napi::Array out = Napi::Array::New(env, st.size());
  for (size_t i = 0; i < st.size(); i++) out.Set(i, Napi::Number::New(env, static_cast<double>(st[i])));
  return out;
}

Napi::Value IsContiguous(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = UnwrapTensor(env, info[0]);
  bool channelsLast = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  return Napi::Boolean::New(env, t.is_contiguous(channelsLast ? at::MemoryFormat::ChannelsLast
                                                               : at::MemoryFormat::Contiguous));
}

// sharesStorage(a, b): true when both handles view the same storage.
Napi::Value SharesStorage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& a = UnwrapTensor(env, info[0]);
  const at::Tensor& b = UnwrapTensor(env, info[1]);
  return Napi::Boolean::New(env, a.has_storage() && b.has_storage() && a.storage().is_alias_of(b.storage()));
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  DisposeTensor(info.Env(), info[0]);
  return info.Env().Undefined();
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MemoryStats s = GetMemoryStats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("tensors", Napi::Number::New(env, static_cast<double>(s.tensors)));
  o.Set("storages", Napi::Number::New(env, static_cast<double>(s.storages)));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(s.bytes)));
  return o;
}

// readInto(handle, path, offset): fills a contiguous CPU tensor straight from a file region
// (one copy, file to storage), as safetensors loading wants.
Napi::Value ReadInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = UnwrapTensor(env, info[0]);
  if (!info[1].IsString() || !info[2].IsNumber()) throw Napi::TypeError::New(env, "readInto(tensor, path, offset)");
  if (!t.device().is_cpu() || !t.is_contiguous()) throw Napi::Error::New(env, "readInto: tensor must be contiguous on the CPU");
  std::string path = info[1].As<Napi::String>().Utf8Value();
  int64_t offset = info[2].As<Napi::Number>().Int64Value();
  size_t n = t.numel() * t.element_size();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Napi::Error::New(env, path + ": " + std::strerror(errno));
  auto* dst = static_cast<uint8_t*>(t.data_ptr());
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, dst + done, n - done, offset + static_cast<int64_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      std::string why = r == 0 ? "file ends early (truncated?)" : std::strerror(errno);
      ::close(fd);
      throw Napi::Error::New(env, path + ": " + why);
    }
    done += static_cast<size_t>(r);
  }
  ::close(fd);
  return env.Undefined();
}

}  // namespace

void InitTensor(Napi::Env env, Napi::Object exports) {
  exports.Set("fromBuffer", Napi::Function::New(env, FromBuffer));
  exports.Set("toBuffer", Napi::Function::New(env, ToBuffer));
  exports.Set("meta", Napi::Function::New(env, Meta));
  exports.Set("strides", Napi::Function::New(env, Strides));
  exports.Set("isContiguous", Napi::Function::New(env, IsContiguous));
  exports.Set("sharesStorage", Napi::Function::New(env, SharesStorage));
  exports.Set("dispose", Napi::Function::New(env, Dispose));
  exports.Set("memory", Napi::Function::New(env, Memory));
  exports.Set("readInto", Napi::Function::New(env, ReadInto));
}

}  // namespace dt
