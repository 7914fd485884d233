// The generic op path: any registered ATen operator, called boxed through libtorch's dispatcher.
//
// JS passes positional values (and optionally named ones); each is converted to an IValue by the
// type the operator's schema declares, defaults are filled from the schema, and the returns come
// back as handles, numbers, booleans or arrays. The dispatcher records autograd exactly as a typed
// call does, so every hand-typed op in TypeScript is a thin wrapper over this one entry point.
#include "ops.h"

#include "checks.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/jit/runtime/operator.h>

#include <cmath>
#include <sstream>

namespace dt {
namespace {

struct OpEntry {
  c10::OperatorHandle op;
  std::string name;
  // Validation before the kernel for the few ops that crash on some inputs (checks.cc), or null.
  ArgCheck check;
};

const napi_type_tag kOpTag = {0x6469666675736574ULL, 0x6f70656e74720001ULL};

// Thrown while converting arguments; carries which argument was wrong. Becomes a JS TypeError.
struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool ParseScalarTypeName(const std::string& s, int64_t* out) {
  static const std::unordered_map<std::string, c10::ScalarType> names = {
      {"float32", at::kFloat}, {"float", at::kFloat},    {"float64", at::kDouble},
      {"double", at::kDouble}, {"float16", at::kHalf},   {"half", at::kHalf},
      {"bfloat16", at::kBFloat16}, {"int64", at::kLong}, {"long", at::kLong},
      {"int32", at::kInt},     {"int", at::kInt},        {"int16", at::kShort},
      {"int8", at::kChar},     {"uint8", at::kByte},     {"bool", at::kBool},
      {"complex64", at::kComplexFloat}, {"complex128", at::kComplexDouble}};
  auto it = names.find(s);
  if (it == names.end()) return false;
  *out = static_cast<int64_t>(it->second);
  return true;
}

// An enum passed as its integer code must name a real value: kernels index tables by it, and an
// unknown ScalarType reached an element size of 0 and a division by it (view.dtype(99): SIGFPE).
int64_t CheckEnumCode(int64_t code, const c10::TypePtr& real, const std::string& ctx) {
  int64_t limit = -1;
  switch (real->kind()) {
    case c10::TypeKind::ScalarTypeType: limit = static_cast<int64_t>(c10::ScalarType::Undefined); break;
    case c10::TypeKind::MemoryFormatType: limit = static_cast<int64_t>(at::MemoryFormat::NumOptions); break;
    case c10::TypeKind::LayoutType: limit = static_cast<int64_t>(c10::Layout::NumOptions); break;
    default: return code;
  }
  if (code < 0 || code >= limit) throw ArgError(ctx + ": " + std::to_string(code) + " is not a " + real->str() + " code");
  return code;
}

bool ParseEnumName(const std::string& s, const c10::TypePtr& real, int64_t* out) {
  if (real->kind() == c10::TypeKind::ScalarTypeType) return ParseScalarTypeName(s, out);
  if (real->kind() == c10::TypeKind::MemoryFormatType) {
    if (s == "contiguous" || s == "contiguousFormat") { *out = (int64_t)at::MemoryFormat::Contiguous; return true; }
    if (s == "channelsLast") { *out = (int64_t)at::MemoryFormat::ChannelsLast; return true; }
    if (s == "preserve" || s == "preserveFormat") { *out = (int64_t)at::MemoryFormat::Preserve; return true; }
    return false;
  }
  if (real->kind() == c10::TypeKind::LayoutType) {
    if (s == "strided") { *out = (int64_t)at::kStrided; return true; }
    return false;
  }
  return false;
}

int64_t ToInt(const Napi::Value& v, const std::string& ctx) {
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9007199254740992.0) {
      throw ArgError(ctx + ": expected an integer, got " + std::to_string(d));
    }
    return static_cast<int64_t>(d);
  }
  if (v.IsBigInt()) {
    bool lossless = true;
    int64_t r = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) throw ArgError(ctx + ": integer out of int64 range");
    return r;
  }
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  throw ArgError(ctx + ": expected an integer");
}

double ToDouble(const Napi::Value& v, const std::string& ctx) {
  if (v.IsNumber()) return v.As<Napi::Number>().DoubleValue();
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1.0 : 0.0;
  throw ArgError(ctx + ": expected a number");
}

c10::Scalar ToScalar(const Napi::Value& v, const std::string& ctx) {
  if (v.IsBoolean()) return c10::Scalar(v.As<Napi::Boolean>().Value());
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    // JS has one number type: integral values pass as int (as Python's `x + 1`), others as float.
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9007199254740992.0) {
      return c10::Scalar(static_cast<int64_t>(d));
    }
    return c10::Scalar(d);
  }
  if (v.IsBigInt()) return c10::Scalar(ToInt(v, ctx));
  throw ArgError(ctx + ": expected a number or boolean");
}

c10::IValue ToIValue(Napi::Env env, const Napi::Value& v, const c10::TypePtr& type,
                     const c10::TypePtr& real, c10::optional<int32_t> N, const std::string& ctx,
                     bool emptyOk = false);

// `emptyOk`: the schema's default for this argument is an empty list (stride=[] in the pooling
// ops means "the kernel size"), so an explicit [] is meaningful there.
c10::IValue ToList(Napi::Env env, const Napi::Value& v, const c10::ListTypePtr& lt,
                   c10::optional<int32_t> N, const std::string& ctx, bool emptyOk) {
  const c10::TypePtr& elem = lt->getElementType();
  auto kind = elem->kind();
  // int[2] stride=1 style: a single number stands for N copies (as Python accepts).
  if (!v.IsArray()) {
    if (N && (v.IsNumber() || v.IsBoolean()) &&
        (kind == c10::TypeKind::IntType || kind == c10::TypeKind::SymIntType ||
         kind == c10::TypeKind::FloatType || kind == c10::TypeKind::BoolType)) {
      Napi::Array arr = Napi::Array::New(env, *N);
      for (int32_t i = 0; i < *N; i++) arr.Set(i, v);
      return ToList(env, arr, lt, c10::nullopt, ctx, false);
    }
    throw ArgError(ctx + ": expected an array");
  }
  Napi::Array arr = v.As<Napi::Array>();
  uint32_t n = arr.Length();
  // A fixed-size list (int[2] padding) must hold its N entries: some kernels read entries 0..N-1
  // without checking (reflection_pad1d(x, []) and max_unpool2d(x, i, []) read past the list and
  // crashed). One entry stands for N copies, as a single number does.
  if (N && *N >= 2 && n != static_cast<uint32_t>(*N) && !(n == 0 && emptyOk)) {
    if (n != 1) {
      throw ArgError(ctx + ": expected " + std::to_string(*N) + " values (or one), got " + std::to_string(n));
    }
    Napi::Array copies = Napi::Array::New(env, *N);
    for (int32_t i = 0; i < *N; i++) copies.Set(i, arr.Get(0u));
    return ToList(env, copies, lt, c10::nullopt, ctx, false);
  }
  switch (kind) {
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType: {
      c10::List<int64_t> out;
      out.reserve(n);
      for (uint32_t i = 0; i < n; i++) out.push_back(ToInt(arr.Get(i), ctx + "[" + std::to_string(i) + "]"));
      return out;
    }
    case c10::TypeKind::FloatType: {
      c10::List<double> out;
      for (uint32_t i = 0; i < n; i++) out.push_back(ToDouble(arr.Get(i), ctx));
      return out;
    }
    case c10::TypeKind::BoolType: {
      c10::List<bool> out;
      for (uint32_t i = 0; i < n; i++) {
        Napi::Value e = arr.Get(i);
        if (!e.IsBoolean()) throw ArgError(ctx + ": expected booleans");
        out.push_back(e.As<Napi::Boolean>().Value());
      }
      return out;
    }
    case c10::TypeKind::TensorType: {
      c10::List<at::Tensor> out;
      for (uint32_t i = 0; i < n; i++) {
        Napi::Value e = arr.Get(i);
        if (const at::Tensor* t = PeekTensor(env, e)) {
          out.push_back(*t);
          continue;
        }
        if (!IsTensorHandle(env, e)) throw ArgError(ctx + "[" + std::to_string(i) + "]: expected a Tensor");
        out.push_back(UnwrapTensor(env, e, ctx.c_str()));
      }
      return out;
    }
    case c10::TypeKind::OptionalType: {
      auto inner = elem->castRaw<c10::OptionalType>()->getElementType();
      if (inner->kind() != c10::TypeKind::TensorType) break;
      c10::List<c10::optional<at::Tensor>> out;
      for (uint32_t i = 0; i < n; i++) {
        Napi::Value e = arr.Get(i);
        if (e.IsNull() || e.IsUndefined()) {
          out.push_back(c10::nullopt);
        } else {
          if (const at::Tensor* t = PeekTensor(env, e)) {
            out.push_back(*t);
            continue;
          }
          if (!IsTensorHandle(env, e)) throw ArgError(ctx + ": expected a Tensor or null");
          out.push_back(UnwrapTensor(env, e, ctx.c_str()));
        }
      }
      return out;
    }
    default:
      break;
  }
  throw ArgError(ctx + ": list of " + elem->str() + " is not supported from JavaScript");
}

c10::IValue ToIValue(Napi::Env env, const Napi::Value& v, const c10::TypePtr& type,
                     const c10::TypePtr& real, c10::optional<int32_t> N, const std::string& ctx,
                     bool emptyOk) {
  switch (type->kind()) {
    case c10::TypeKind::TensorType:
      if (const at::Tensor* t = PeekTensor(env, v)) return *t;
      if (!IsTensorHandle(env, v)) throw ArgError(ctx + ": expected a Tensor");
      return UnwrapTensor(env, v, ctx.c_str());
    case c10::TypeKind::OptionalType: {
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      auto inner = type->castRaw<c10::OptionalType>()->getElementType();
      auto innerReal = real->kind() == c10::TypeKind::OptionalType
                           ? real->castRaw<c10::OptionalType>()->getElementType()
                           : inner;
      return ToIValue(env, v, inner, innerReal, N, ctx, emptyOk);
    }
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType:
      if (v.IsString()) {
        int64_t code;
        if (ParseEnumName(v.As<Napi::String>().Utf8Value(), real, &code)) return code;
        throw ArgError(ctx + ": unknown " + real->str() + " '" + v.As<Napi::String>().Utf8Value() + "'");
      }
      return CheckEnumCode(ToInt(v, ctx), real, ctx);
    case c10::TypeKind::FloatType:
      return ToDouble(v, ctx);
    case c10::TypeKind::BoolType:
      if (!v.IsBoolean()) throw ArgError(ctx + ": expected a boolean");
      return v.As<Napi::Boolean>().Value();
    case c10::TypeKind::NumberType:
      return ToScalar(v, ctx);
    case c10::TypeKind::StringType:
      if (!v.IsString()) throw ArgError(ctx + ": expected a string");
      return v.As<Napi::String>().Utf8Value();
    case c10::TypeKind::DeviceObjType: {
      if (!v.IsString()) throw ArgError(ctx + ": expected a device string such as 'cpu' or 'cuda:0'");
      std::string s = v.As<Napi::String>().Utf8Value();
      // c10::Device throws c10::Error on a bad string; here that must be an argument error.
      try {
        return c10::Device(s);
      } catch (const c10::Error&) {
        throw ArgError(ctx + ": unknown device '" + s + "'; expected 'cpu', 'cuda' or 'cuda:N'");
      }
    }
    case c10::TypeKind::GeneratorType:
      if (!IsGeneratorHandle(env, v)) throw ArgError(ctx + ": expected a Generator");
      return UnwrapGenerator(env, v);
    case c10::TypeKind::ListType:
      return ToList(env, v, type->cast<c10::ListType>(), N, ctx, emptyOk);
    default:
      break;
  }
  throw ArgError(ctx + ": type " + type->str() + " is not supported from JavaScript");
}

Napi::Value FromIValue(Napi::Env env, const c10::IValue& iv) {
  if (iv.isTensor()) {
    const at::Tensor& t = iv.toTensor();
    if (!t.defined()) return env.Null();
    return WrapTensor(env, t);
  }
  if (iv.isNone()) return env.Null();
  if (iv.isInt()) return Napi::Number::New(env, static_cast<double>(iv.toInt()));
  if (iv.isDouble()) return Napi::Number::New(env, iv.toDouble());
  if (iv.isBool()) return Napi::Boolean::New(env, iv.toBool());
  if (iv.isString()) return Napi::String::New(env, iv.toStringRef());
  if (iv.isTensorList()) {
    auto list = iv.toTensorList();
    Napi::Array arr = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) {
      at::Tensor t = list.get(i);
      arr.Set(i, t.defined() ? WrapTensor(env, t) : env.Null());
    }
    return arr;
  }
  if (iv.isTuple()) {
    const auto& elems = iv.toTupleRef().elements();
    Napi::Array arr = Napi::Array::New(env, elems.size());
    for (size_t i = 0; i < elems.size(); i++) arr.Set(i, FromIValue(env, elems[i]));
    return arr;
  }
  if (iv.isList()) {
    auto list = iv.toListRef();
    Napi::Array arr = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) arr.Set(i, FromIValue(env, list[i]));
    return arr;
  }
  if (iv.isScalar()) {
    c10::Scalar s = iv.toScalar();
    if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
    if (s.isIntegral(false)) return Napi::Number::New(env, static_cast<double>(s.toLong()));
    return Napi::Number::New(env, s.toDouble());
  }
  if (iv.isDevice()) return Napi::String::New(env, iv.toDevice().str());
  throw Napi::TypeError::New(env, "an operator returned a value of type " + iv.tagKind() +
                                      ", which JavaScript cannot receive");
}

// Builds the stack for schema from (positional, named); throws ArgError on a mismatch.
torch::jit::Stack BuildStack(Napi::Env env, const c10::FunctionSchema& schema, const Napi::Array& pos,
                             const Napi::Value& named) {
  const auto& args = schema.arguments();
  uint32_t npos = pos.Length();
  if (npos > args.size()) {
    throw ArgError("takes at most " + std::to_string(args.size()) + " arguments but " +
                   std::to_string(npos) + " were given");
  }
  Napi::Object kw;
  bool hasKw = named.IsObject();
  if (hasKw) kw = named.As<Napi::Object>();
  torch::jit::Stack stack;
  stack.reserve(args.size());
  uint32_t usedKw = 0;
  for (size_t i = 0; i < args.size(); i++) {
    const auto& a = args[i];
    Napi::Value v = i < npos ? pos.Get(static_cast<uint32_t>(i)) : env.Undefined();
    if (v.IsUndefined() && hasKw && kw.Has(a.name())) {
      v = kw.Get(a.name());
      usedKw++;
    }
    if (v.IsUndefined()) {
      if (a.default_value()) {
        stack.push_back(*a.default_value());
        continue;
      }
      if (a.type()->kind() == c10::TypeKind::OptionalType) {
        stack.emplace_back();
        continue;
      }
      throw ArgError("missing argument '" + a.name() + "'");
    }
    const auto& def = a.default_value();
    bool emptyDefault = def && def->isList() && def->toListRef().empty();
    stack.push_back(ToIValue(env, v, a.type(), a.real_type(), a.N(), "argument '" + a.name() + "'", emptyDefault));
  }
  if (hasKw && usedKw != kw.GetPropertyNames().Length()) {
    Napi::Array names = kw.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); i++) {
      std::string k = names.Get(i).As<Napi::String>().Utf8Value();
      bool known = false;
      for (const auto& a : args) known = known || a.name() == k;
      if (!known) throw ArgError("unexpected named argument '" + k + "'");
    }
  }
  return stack;
}

Napi::Value ReturnsToJs(Napi::Env env, torch::jit::Stack& stack) {
  if (stack.empty()) return env.Undefined();
  if (stack.size() == 1) return FromIValue(env, stack[0]);
  Napi::Array arr = Napi::Array::New(env, stack.size());
  for (size_t i = 0; i < stack.size(); i++) arr.Set(i, FromIValue(env, stack[i]));
  return arr;
}

std::string SchemaString(const c10::FunctionSchema& s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

// findOp(name: string, overload: string) -> op handle
Napi::Value FindOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString()) throw Napi::TypeError::New(env, "findOp(name, overload)");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string overload = info[1].As<Napi::String>().Utf8Value();
  auto op = c10::Dispatcher::singleton().findOp(c10::OperatorName(name, overload));
  if (!op || !op->hasSchema()) {
    throw Napi::TypeError::New(env, "no operator " + name + (overload.empty() ? "" : "." + overload));
  }
  auto* e = new OpEntry{*op, name + (overload.empty() ? "" : "." + overload), FindArgCheck(name)};
  auto ext = Napi::External<OpEntry>::New(env, e, [](Napi::Env, OpEntry* p) { delete p; });
  napi_type_tag_object(env, ext, &kOpTag);
  return ext;
}

OpEntry* UnwrapOp(Napi::Env env, Napi::Value v) {
  bool ok = false;
  if (!v.IsExternal() || napi_check_object_type_tag(env, v, &kOpTag, &ok) != napi_ok || !ok) {
    throw Napi::TypeError::New(env, "expected an operator handle");
  }
  return v.As<Napi::External<OpEntry>>().Data();
}

// callOp(op, positional: any[], named?: object)
Napi::Value CallOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OpEntry* e = UnwrapOp(env, info[0]);
  if (!info[1].IsArray()) throw Napi::TypeError::New(env, "callOp: positional arguments must be an array");
  torch::jit::Stack stack;
  try {
    stack = BuildStack(env, e->op.schema(), info[1].As<Napi::Array>(), info[2]);
  } catch (const ArgError& err) {
    throw Napi::TypeError::New(env, e->name + ": " + err.what());
  } catch (const c10::Error& err) {
    // A conversion that asked libtorch (and was refused) is still an argument error.
    ThrowJs(env, {"TypeError", e->name + ": " + err.what_without_backtrace(), err.what()});
  }
  DT_GUARD(env, {
    if (e->check != nullptr) e->check(stack);
    e->op.callBoxed(&stack);
  })
  return ReturnsToJs(env, stack);
}

// callOpByName(name, positional, named?): picks the first overload whose schema accepts the
// values (as Python's torch.ops does), so any ATen op is reachable without knowing its overload.
Napi::Value CallOpByName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsArray()) throw Napi::TypeError::New(env, "callOpByName(name, args, named?)");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  auto& ops = torch::jit::getAllOperatorsFor(c10::Symbol::fromQualString(name));
  if (ops.empty()) throw Napi::TypeError::New(env, "no operator named " + name);
  std::string errors;
  for (const auto& jop : ops) {
    const auto& schema = jop->schema();
    auto handle = c10::Dispatcher::singleton().findOp(schema.operator_name());
    if (!handle) continue;
    torch::jit::Stack stack;
    try {
      stack = BuildStack(env, schema, info[1].As<Napi::Array>(), info[2]);
    } catch (const ArgError& err) {
      errors += "\n  " + SchemaString(schema) + ": " + err.what();
      continue;
    } catch (const c10::Error& err) {
      errors += "\n  " + SchemaString(schema) + ": " + err.what_without_backtrace();
      continue;
    }
    ArgCheck check = FindArgCheck(schema.name());
    DT_GUARD(env, {
      if (check != nullptr) check(stack);
      handle->callBoxed(&stack);
    })
    return ReturnsToJs(env, stack);
  }
  JsErrorInfo ei{"TypeError", name + ": no overload accepts these arguments" + errors, ""};
  ThrowJs(env, ei);
}

// opSchema(op) -> string, for error messages and docs.
Napi::Value OpSchema(const Napi::CallbackInfo& info) {
  OpEntry* e = UnwrapOp(info.Env(), info[0]);
  return Napi::String::New(info.Env(), SchemaString(e->op.schema()));
}

// opArgNames(op) -> the schema's argument names in order, so JS can place named arguments itself.
Napi::Value OpArgNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& args = UnwrapOp(env, info[0])->op.schema().arguments();
  Napi::Array arr = Napi::Array::New(env, args.size());
  for (size_t i = 0; i < args.size(); i++) arr.Set(static_cast<uint32_t>(i), Napi::String::New(env, args[i].name()));
  return arr;
}

// listOps() -> every registered schema, for coverage checks and code generation.
Napi::Value ListOps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto names = c10::Dispatcher::singleton().getAllOpNames();
  Napi::Array arr = Napi::Array::New(env, names.size());
  uint32_t i = 0;
  for (const auto& n : names) {
    auto op = c10::Dispatcher::singleton().findOp(n);
    arr.Set(i++, op && op->hasSchema() ? Napi::String::New(env, SchemaString(op->schema()))
                                       : Napi::String::New(env, n.name));
  }
  return arr;
}

}  // namespace

void InitOps(Napi::Env env, Napi::Object exports) {
  exports.Set("findOp", Napi::Function::New(env, FindOp));
  exports.Set("callOp", Napi::Function::New(env, CallOp));
  exports.Set("callOpByName", Napi::Function::New(env, CallOpByName));
  exports.Set("opSchema", Napi::Function::New(env, OpSchema));
  exports.Set("opArgNames", Napi::Function::New(env, OpArgNames));
  exports.Set("listOps", Napi::Function::New(env, ListOps));
}

}  // namespace dt
