// The KernelChecker: every semantic rule of LANGUAGE.md that can be checked
// before emission, each with an error that says what was found and what was
// expected. A kernel stops at its first error; the other kernels are still
// checked.
#include "frontend/Sema.h"

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"

#include <cmath>
#include <cstdlib>
#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Largest magnitude of a constant or coefficient in an affine expression;
/// keeps MLIR's affine folding far from int64 overflow.
constexpr double kMaxAffineMagnitude = 1099511627776.0; // 2^40
/// The largest extent of a dimension or range (the targets index in 32 bits).
constexpr int64_t kMaxExtent = 2147483647;
/// The most dimensions a tensor may have (the runtime's and the code
/// generators' limit; Halide's own is 255, far past what attention needs).
constexpr size_t kMaxRank = 16;

bool isUpperName(llvm::StringRef name) {
  return !name.empty() && name[0] >= 'A' && name[0] <= 'Z';
}

std::string posText(SourcePos pos) {
  return std::to_string(pos.line) + ":" + std::to_string(pos.col);
}

/// Whether `e`, over size symbols (never negative), is never negative.
bool nonNegative(AffineExpr e) {
  if (auto c = dyn_cast<AffineConstantExpr>(e))
    return c.getValue() >= 0;
  if (isa<AffineSymbolExpr>(e))
    return true;
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin)
    return false;
  switch (e.getKind()) {
  case AffineExprKind::Add:
  case AffineExprKind::Mul:
    return nonNegative(bin.getLHS()) && nonNegative(bin.getRHS());
  case AffineExprKind::FloorDiv:
  case AffineExprKind::CeilDiv:
  case AffineExprKind::Mod:
    return nonNegative(bin.getLHS());
  default:
    return false;
  }
}

std::string quoted(const ExprAST &e) { return "'" + exprToString(e) + "'"; }

/// Arity of the language's functions; nullopt for an unknown name.
std::optional<unsigned> functionArity(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<unsigned>>(name)
      .Cases({"exp", "log", "tanh", "sigmoid", "relu", "softplus", "sqrt",
              "rsqrt", "abs"},
             1)
      .Cases({"min", "max"}, 2)
      .Case("select", 3)
      .Default(std::nullopt);
}

bool isIntegerDType(DType t) { return !isFloatDType(t); }

/// Parses a --param value for a param of type `dtype`.
std::optional<Literal> parseParamValue(llvm::StringRef text, DType dtype) {
  text = text.trim();
  Literal v;
  if (isIntegerDType(dtype)) {
    if (dtype == DType::boolean) {
      if (text == "true" || text == "1") {
        v.intValue = 1;
        return v;
      }
      if (text == "false" || text == "0") {
        v.intValue = 0;
        return v;
      }
      return std::nullopt;
    }
    llvm::StringRef digits = text;
    if (digits.starts_with("+"))
      digits = digits.drop_front();
    int64_t value = 0;
    if (digits.empty() || digits.getAsInteger(10, value))
      return std::nullopt;
    if (dtype == DType::i32 && (value < std::numeric_limits<int32_t>::min() ||
                                value > std::numeric_limits<int32_t>::max()))
      return std::nullopt;
    v.intValue = value;
    return v;
  }
  std::string copy = text.str();
  if (copy.empty())
    return std::nullopt;
  double value = 0;
  if (copy == "inf" || copy == "+inf" || copy == "-inf") {
    value = copy[0] == '-' ? -INFINITY : INFINITY;
  } else {
    // Only digits, sign, '.', exponent: strtod alone would accept "nan".
    for (char c : copy)
      if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' ||
            c == '+' || c == '-'))
        return std::nullopt;
    char *end = nullptr;
    value = std::strtod(copy.c_str(), &end);
    if (!end || *end != '\0' || !std::isfinite(value))
      return std::nullopt;
  }
  v.isInteger = false;
  v.floatValue = value;
  return v;
}

/// One use that fixes an index's range.
struct RangeUse {
  AffineExpr range;
  std::string rangeText;
  std::string origin; // "dimension 2 of 'K'"
  SourcePos pos;
  /// A bare index reading a tensor dimension (not a left-hand side): with a
  /// `for` range it may read part of the dimension.
  bool read = false;
};

/// A `for` range.
struct ForRange {
  AffineExpr range;
  std::string text;
  SourcePos pos;
};

class KernelChecker {
public:
  KernelChecker(KernelAST &kernel, const FrontendOptions &options,
                DiagnosticEmitter &diags, KernelInfo &info)
      : kernel(kernel), options(options), diags(diags), info(info),
        context(diags.getContext()) {}

  LogicalResult check();
  /// The --bind symbols the kernel uses (after check()).
  const llvm::StringSet<> &usedBinds() const { return boundSizes; }

private:
  llvm::StringSet<> boundSizes;
  KernelAST &kernel;
  const FrontendOptions &options;
  DiagnosticEmitter &diags;
  KernelInfo &info;
  MLIRContext *context;
  llvm::StringMap<ForRange> forRanges;

  // State of the statement being checked.
  struct StatementState {
    StatementInfo *info = nullptr;
    std::string lhsName;
    llvm::StringMap<std::vector<RangeUse>> uses;
    llvm::StringMap<SourcePos> firstPos;
    llvm::StringSet<> inAccess; // indices used inside some access
    llvm::StringSet<> onRight;  // indices of the expression or the where
    unsigned accessDepth = 0;
    bool sawF64 = false;
  };
  StatementState *stmt = nullptr;

  InFlightDiagnostic error(SourcePos pos) { return diags.error(pos); }

  //===--------------------------------------------------------------------===//
  // Declarations
  //===--------------------------------------------------------------------===//

  /// Where `name` is already declared in this kernel, if it is.
  std::optional<SourcePos> declared(llvm::StringRef name) {
    if (auto it = info.tensorByName.find(name); it != info.tensorByName.end())
      return info.tensors[it->second].pos;
    if (auto it = info.paramByName.find(name); it != info.paramByName.end())
      return info.params[it->second].pos;
    if (auto it = info.scalarByName.find(name); it != info.scalarByName.end())
      return info.scalars[it->second].pos;
    return std::nullopt;
  }

  LogicalResult checkNewName(llvm::StringRef name, SourcePos pos,
                             llvm::StringRef what) {
    if (std::optional<SourcePos> prev = declared(name)) {
      error(pos) << "duplicate " << what << " '" << name << "' in kernel '"
                 << kernel.name << "': the name is already declared at "
                 << posText(*prev);
      return failure();
    }
    return success();
  }

  LogicalResult collectParams() {
    for (KernelItemAST &item : kernel.items) {
      auto *p = std::get_if<ParamAST>(&item);
      if (!p)
        continue;
      if (failed(checkNewName(p->name, p->pos, "param")))
        return failure();
      ParamInfo param;
      param.name = p->name;
      param.pos = p->pos;
      param.dtype = p->dtype;
      param.value = p->value;
      if (isIntegerDType(p->dtype)) {
        if (!p->value.isInteger) {
          error(p->valuePos)
              << "param '" << p->name << "' is " << dtypeName(p->dtype)
              << ": expected an integer value, found a float";
          return failure();
        }
        int64_t v = p->value.intValue;
        if ((p->dtype == DType::i32 &&
             (v < std::numeric_limits<int32_t>::min() ||
              v > std::numeric_limits<int32_t>::max())) ||
            (p->dtype == DType::boolean && v != 0 && v != 1)) {
          error(p->valuePos)
              << "param '" << p->name << "' is " << dtypeName(p->dtype)
              << " but its value " << v << " does not fit";
          return failure();
        }
      } else if (p->value.isInteger) {
        param.value.isInteger = false;
        param.value.floatValue = static_cast<double>(p->value.intValue);
      }
      if (auto it = options.params.find(p->name); it != options.params.end()) {
        std::optional<Literal> v = parseParamValue(it->second, p->dtype);
        if (!v) {
          error(p->pos) << "bad value '" << it->second << "' for param '"
                        << p->name << "' (given with --param): expected "
                        << (p->dtype == DType::boolean ? "0 or 1"
                            : isIntegerDType(p->dtype)
                                ? "an integer that fits " +
                                      dtypeName(p->dtype).str()
                                : std::string("a number"));
          return failure();
        }
        param.value = *v;
      }
      info.paramByName[p->name] = info.params.size();
      info.params.push_back(param);
    }
    return success();
  }

  /// The compile-time value or symbol of size `name`; reports an error at
  /// `pos` when it has neither.
  FailureOr<AffineExpr> resolveSize(llvm::StringRef name, SourcePos pos) {
    if (auto it = info.paramByName.find(name); it != info.paramByName.end()) {
      const ParamInfo &p = info.params[it->second];
      if (!p.value.isInteger) {
        error(pos) << "param '" << name << "' is " << dtypeName(p.dtype)
                   << ": a size must be an integer";
        return failure();
      }
      return getAffineConstantExpr(p.value.intValue, context);
    }
    if (auto it = options.binds.find(name.str()); it != options.binds.end()) {
      boundSizes.insert(name);
      return getAffineConstantExpr(it->second, context);
    }
    if (auto it = info.symbolByName.find(name); it != info.symbolByName.end())
      return getAffineSymbolExpr(it->second, context);
    if (auto it = info.scalarByName.find(name); it != info.scalarByName.end()) {
      error(pos) << "scalar input '" << name << "' is "
                 << dtypeName(info.scalars[it->second].dtype)
                 << ": a size must be an integer";
      return failure();
    }
    error(pos) << "size symbol '" << name
               << "' has no binding: it appears in no input shape and is not "
                  "a param, an integer scalar input or a --bind";
    return failure();
  }

  LogicalResult resolveDims(llvm::ArrayRef<DimAST> dims,
                            std::vector<AffineExpr> &out,
                            std::vector<std::string> &texts) {
    if (dims.size() > kMaxRank) {
      error(dims[kMaxRank].pos)
          << "a tensor has at most " << kMaxRank
          << " dimensions (the targets' limit), found " << dims.size();
      return failure();
    }
    for (const DimAST &d : dims) {
      if (d.isLiteral) {
        if (d.value <= 0) {
          error(d.pos) << "dimension " << d.text
                       << " must be positive (a size symbol or an integer "
                          "of at least 1)";
          return failure();
        }
        if (d.value > kMaxExtent) {
          error(d.pos) << "dimension " << d.text
                       << " is too large: the targets take extents up to "
                          "2^31-1";
          return failure();
        }
        out.push_back(getAffineConstantExpr(d.value, context));
      } else {
        if (!isUpperName(d.text)) {
          error(d.pos) << "expected a size symbol (an upper-case name such "
                          "as 'P') or an integer as a dimension, found '"
                       << d.text << "'";
          return failure();
        }
        FailureOr<AffineExpr> e = resolveSize(d.text, d.pos);
        if (failed(e))
          return failure();
        if (auto c = dyn_cast<AffineConstantExpr>(*e); c && c.getValue() <= 0) {
          error(d.pos) << "dimension " << d.text << " is " << c.getValue()
                       << ": sizes must be positive";
          return failure();
        }
        out.push_back(*e);
      }
      texts.push_back(d.text);
    }
    return success();
  }

  LogicalResult collectSignature() {
    for (auto [i, decl] : llvm::enumerate(kernel.inputs)) {
      if (failed(checkNewName(decl.name, decl.pos, "input")))
        return failure();
      if (decl.isScalar) {
        ScalarInfo s;
        s.name = decl.name;
        s.pos = decl.pos;
        s.dtype = decl.dtype;
        s.position = i;
        info.scalarByName[decl.name] = info.scalars.size();
        info.scalars.push_back(s);
        info.inputTensors.push_back(-1);
        continue;
      }
      TensorInfo t;
      t.name = decl.name;
      t.pos = decl.pos;
      t.role = TensorInfo::Role::Input;
      t.dtype = decl.dtype;
      t.position = i;
      info.tensorByName[decl.name] = info.tensors.size();
      info.inputTensors.push_back(info.tensors.size());
      info.tensors.push_back(t);
    }
    for (auto [i, decl] : llvm::enumerate(kernel.outputs)) {
      if (failed(checkNewName(decl.name, decl.pos, "output")))
        return failure();
      if (decl.isScalar) {
        error(decl.pos) << "output '" << decl.name
                        << "' must be a tensor: expected a shape, e.g. '"
                        << decl.name << ": " << dtypeName(decl.dtype) << "[P]'";
        return failure();
      }
      TensorInfo t;
      t.name = decl.name;
      t.pos = decl.pos;
      t.role = TensorInfo::Role::Output;
      t.dtype = decl.dtype;
      t.position = i;
      info.tensorByName[decl.name] = info.tensors.size();
      info.outputTensors.push_back(info.tensors.size());
      info.tensors.push_back(t);
    }
    if (kernel.outputs.empty()) {
      error(kernel.pos) << "kernel '" << kernel.name
                        << "' has no outputs: expected at least one in '-> "
                           "(...)'";
      return failure();
    }
    // Params may not reuse input and output names.
    for (const ParamInfo &p : info.params)
      if (info.tensorByName.count(p.name) || info.scalarByName.count(p.name)) {
        error(p.pos) << "duplicate param '" << p.name << "' in kernel '"
                     << kernel.name
                     << "': the name is already an input or "
                        "an output";
        return failure();
      }

    // Size symbols: the first input (in declared order) with the symbol as
    // a dimension, else an integer scalar input of that name.
    for (auto [i, decl] : llvm::enumerate(kernel.inputs)) {
      if (decl.isScalar)
        continue;
      for (auto [d, dim] : llvm::enumerate(decl.dims)) {
        if (dim.isLiteral || !isUpperName(dim.text) ||
            info.symbolByName.count(dim.text) ||
            info.paramByName.count(dim.text) || options.binds.count(dim.text))
          continue;
        SymbolSource s;
        s.name = dim.text;
        s.argument = i;
        s.dim = d;
        info.symbolByName[dim.text] = info.symbols.size();
        info.symbols.push_back(s);
      }
    }
    for (const ScalarInfo &s : info.scalars) {
      if (!isIntegerDType(s.dtype) || s.dtype == DType::boolean ||
          info.symbolByName.count(s.name) || options.binds.count(s.name))
        continue;
      SymbolSource src;
      src.name = s.name;
      src.fromScalar = true;
      src.argument = s.position;
      info.symbolByName[s.name] = info.symbols.size();
      info.symbols.push_back(src);
    }
    for (auto [i, decl] : llvm::enumerate(kernel.inputs)) {
      if (decl.isScalar)
        continue;
      TensorInfo &t = info.tensors[info.inputTensors[i]];
      if (failed(resolveDims(decl.dims, t.dims, t.dimTexts)))
        return failure();
    }
    for (auto [i, decl] : llvm::enumerate(kernel.outputs)) {
      TensorInfo &t = info.tensors[info.outputTensors[i]];
      if (failed(resolveDims(decl.dims, t.dims, t.dimTexts)))
        return failure();
    }
    return success();
  }

  //===--------------------------------------------------------------------===//
  // let and for
  //===--------------------------------------------------------------------===//

  LogicalResult checkLet(const LetAST &let) {
    if (let.dtype != DType::f32 && let.dtype != DType::f64) {
      error(let.dtypePos) << "'let' declares the type in which '" << let.name
                          << "' is computed: expected f32 or f64, found "
                          << dtypeName(let.dtype);
      return failure();
    }
    if (info.paramByName.count(let.name) || info.scalarByName.count(let.name)) {
      error(let.pos) << "'" << let.name
                     << "' is a param or a scalar input, not a tensor that a "
                        "statement computes";
      return failure();
    }
    TensorInfo *t = nullptr;
    if (auto it = info.tensorByName.find(let.name);
        it != info.tensorByName.end()) {
      t = &info.tensors[it->second];
      if (t->role == TensorInfo::Role::Input) {
        error(let.pos) << "'let' cannot declare input '" << let.name
                       << "': it declares a tensor that a statement computes";
        return failure();
      }
      if (t->assigned) {
        error(let.pos) << "'let " << let.name << "' must come before '"
                       << let.name << "' is assigned (at "
                       << posText(t->assignedPos) << ")";
        return failure();
      }
    }
    if (!t) {
      TensorInfo fresh;
      fresh.name = let.name;
      fresh.pos = let.pos;
      fresh.role = TensorInfo::Role::Intermediate;
      info.tensorByName[let.name] = info.tensors.size();
      info.tensors.push_back(fresh);
      t = &info.tensors.back();
    } else if (t->letType) {
      error(let.pos) << "duplicate 'let " << let.name
                     << "': already declared at " << posText(t->letPos);
      return failure();
    }
    t->letType = let.dtype;
    t->letPos = let.pos;
    if (let.hasDims) {
      std::vector<AffineExpr> dims;
      std::vector<std::string> texts;
      if (failed(resolveDims(let.dims, dims, texts)))
        return failure();
      if (t->role == TensorInfo::Role::Output &&
          dims.size() != t->dims.size()) {
        error(let.pos) << "'let " << let.name << "' declares " << dims.size()
                       << " dimensions but output '" << let.name << "' has "
                       << t->dims.size();
        return failure();
      }
      if (t->role == TensorInfo::Role::Output)
        for (size_t i = 0; i < dims.size(); ++i)
          if (dims[i] != t->dims[i]) {
            error(let.dims[i].pos)
                << "'let " << let.name << "' declares dimension " << i
                << " as " << texts[i] << " but output '" << let.name
                << "' has " << t->dimTexts[i];
            return failure();
          }
      t->letDims = std::move(dims);
      t->letDimTexts = std::move(texts);
    }
    return success();
  }

  /// A `for` bound: integers, size symbols, integer params and scalars.
  FailureOr<AffineExpr> rangeExpr(const ExprAST &e, double &mag) {
    auto bad = [&](const std::string &why) -> FailureOr<AffineExpr> {
      error(e.getPos()) << "expected a range bound made of size symbols, "
                           "integer params and integers, found "
                        << why;
      return failure();
    };
    switch (e.getKind()) {
    case ExprAST::Kind::Number: {
      const Literal &v = llvm::cast<NumberExprAST>(e).value;
      if (!v.isInteger)
        return bad("the number " + quoted(e));
      mag = static_cast<double>(v.intValue);
      return getAffineConstantExpr(v.intValue, context);
    }
    case ExprAST::Kind::Name: {
      auto &n = llvm::cast<NameExprAST>(e);
      bool isSize = isUpperName(n.name) || info.paramByName.count(n.name) ||
                    info.scalarByName.count(n.name);
      if (!isSize || info.tensorByName.count(n.name))
        return bad("'" + n.name + "'");
      FailureOr<AffineExpr> r = resolveSize(n.name, n.getPos());
      if (failed(r))
        return failure();
      mag = 1;
      if (auto c = dyn_cast<AffineConstantExpr>(*r))
        mag = std::fabs(static_cast<double>(c.getValue()));
      return r;
    }
    case ExprAST::Kind::Unary: {
      auto &u = llvm::cast<UnaryExprAST>(e);
      if (u.op != UnaryOp::Neg)
        return bad(quoted(e));
      FailureOr<AffineExpr> r = rangeExpr(*u.operand, mag);
      if (failed(r))
        return failure();
      return -*r;
    }
    case ExprAST::Kind::Binary: {
      auto &b = llvm::cast<BinaryExprAST>(e);
      if (b.op != BinaryOp::Add && b.op != BinaryOp::Sub &&
          b.op != BinaryOp::Mul && b.op != BinaryOp::Div &&
          b.op != BinaryOp::Mod)
        return bad(quoted(e));
      double ml = 0, mr = 0;
      FailureOr<AffineExpr> l = rangeExpr(*b.lhs, ml);
      if (failed(l))
        return failure();
      FailureOr<AffineExpr> r = rangeExpr(*b.rhs, mr);
      if (failed(r))
        return failure();
      switch (b.op) {
      case BinaryOp::Add:
        mag = ml + mr;
        break;
      case BinaryOp::Sub:
        mag = ml + mr;
        break;
      case BinaryOp::Mul:
        mag = ml * mr;
        break;
      default: {
        auto c = dyn_cast<AffineConstantExpr>(*r);
        if (c && c.getValue() <= 0) {
          error(b.rhs->getPos()) << "expected a positive divisor in the "
                                    "range bound, found "
                                 << quoted(*b.rhs) << " = " << c.getValue();
          return failure();
        }
        mag = ml + mr;
        break;
      }
      }
      if (mag > kMaxAffineMagnitude) {
        error(e.getPos()) << "range bound " << quoted(e)
                          << " is too large (more than 2^40)";
        return failure();
      }
      switch (b.op) {
      case BinaryOp::Add:
        return *l + *r;
      case BinaryOp::Sub:
        return *l - *r;
      case BinaryOp::Mul:
        return *l * *r;
      case BinaryOp::Div:
        return l->floorDiv(*r);
      default:
        return *l % *r;
      }
    }
    default:
      return bad(quoted(e));
    }
  }

  LogicalResult checkFor(const ForAST &loop) {
    if (isUpperName(loop.index) || info.tensorByName.count(loop.index) ||
        info.paramByName.count(loop.index) ||
        info.scalarByName.count(loop.index)) {
      error(loop.pos) << "expected an index (a lower-case name that is not a "
                         "tensor, param or scalar) after 'for', found '"
                      << loop.index << "'";
      return failure();
    }
    if (auto it = forRanges.find(loop.index); it != forRanges.end()) {
      error(loop.pos) << "index '" << loop.index
                      << "' already has a range (declared at "
                      << posText(it->second.pos) << ")";
      return failure();
    }
    auto *lower = llvm::dyn_cast<NumberExprAST>(loop.lower.get());
    if (!lower || !lower->value.isInteger || lower->value.intValue != 0) {
      error(loop.lower->getPos())
          << "expected 0 as the start of the range ('for " << loop.index
          << " in 0..N'), found " << quoted(*loop.lower);
      return failure();
    }
    double mag = 0;
    FailureOr<AffineExpr> upper = rangeExpr(*loop.upper, mag);
    if (failed(upper))
      return failure();
    AffineExpr range = simplifyAffineExpr(*upper, 0, info.symbols.size());
    if (auto c = dyn_cast<AffineConstantExpr>(range); c && c.getValue() <= 0) {
      error(loop.upper->getPos())
          << "the range of '" << loop.index
          << "' is empty: " << quoted(*loop.upper) << " is " << c.getValue()
          << ", expected a positive size";
      return failure();
    }
    if (auto c = dyn_cast<AffineConstantExpr>(range);
        c && c.getValue() > kMaxExtent) {
      error(loop.upper->getPos())
          << "the range of '" << loop.index << "' is too large: "
          << quoted(*loop.upper) << " is " << c.getValue()
          << ", and the targets take extents up to 2^31-1";
      return failure();
    }
    forRanges[loop.index] = {range, exprToString(*loop.upper), loop.pos};
    return success();
  }

  //===--------------------------------------------------------------------===//
  // Expressions
  //===--------------------------------------------------------------------===//

  void noteIndex(const std::string &name, SourcePos pos) {
    if (!stmt->info->dimOf.count(name)) {
      unsigned d = stmt->info->dims.size();
      stmt->info->dimOf[name] = d;
      stmt->info->dims.push_back({name, AffineExpr(), ""});
      stmt->firstPos[name] = pos;
    }
  }

  LogicalResult resolveName(NameExprAST &n) {
    if (info.tensorByName.count(n.name) || n.name == stmt->lhsName) {
      error(n.getPos()) << "tensor '" << n.name << "' needs indices: expected '"
                        << n.name << "[...]'";
      return failure();
    }
    if (auto it = info.paramByName.find(n.name); it != info.paramByName.end()) {
      n.resolved = NameKind::Param;
      n.integral = info.params[it->second].value.isInteger;
      return success();
    }
    if (auto it = info.scalarByName.find(n.name);
        it != info.scalarByName.end()) {
      const ScalarInfo &s = info.scalars[it->second];
      n.resolved = NameKind::Scalar;
      n.integral = isIntegerDType(s.dtype) && s.dtype != DType::boolean;
      n.readsData = !n.integral;
      if (s.dtype == DType::f64)
        stmt->sawF64 = true;
      return success();
    }
    if (isUpperName(n.name)) {
      if (failed(resolveSize(n.name, n.getPos())))
        return failure();
      n.resolved = NameKind::SizeSymbol;
      n.integral = true;
      return success();
    }
    n.resolved = NameKind::Index;
    n.integral = true;
    n.mentionsIndex = true;
    noteIndex(n.name, n.getPos());
    stmt->onRight.insert(n.name);
    if (stmt->accessDepth > 0)
      stmt->inAccess.insert(n.name);
    return success();
  }

  /// Looks up the tensor that an access reads.
  LogicalResult resolveTensor(AccessExprAST &a) {
    auto it = info.tensorByName.find(a.name);
    if (it == info.tensorByName.end() ||
        info.tensors[it->second].role == TensorInfo::Role::Intermediate) {
      // An intermediate is visible once assigned.
      if (it != info.tensorByName.end() && info.tensors[it->second].assigned) {
        a.tensor = it->second;
        return success();
      }
      if (a.name == stmt->lhsName || it != info.tensorByName.end()) {
        error(a.getPos()) << "tensor '" << a.name
                          << "' is read before it is assigned";
        return failure();
      }
      if (info.paramByName.count(a.name) || info.scalarByName.count(a.name)) {
        error(a.getPos()) << "'" << a.name
                          << "' is a scalar, not a tensor: expected '" << a.name
                          << "' without indices";
        return failure();
      }
      error(a.getPos()) << "unknown tensor '" << a.name
                        << "': expected an input of kernel '" << kernel.name
                        << "' or a tensor assigned by an earlier statement";
      return failure();
    }
    const TensorInfo &t = info.tensors[it->second];
    if (t.role == TensorInfo::Role::Output && !t.assigned) {
      error(a.getPos()) << "output '" << a.name
                        << "' is read before it is assigned";
      return failure();
    }
    a.tensor = it->second;
    return success();
  }

  LogicalResult resolveAccess(AccessExprAST &a) {
    if (failed(resolveTensor(a)))
      return failure();
    // Copy what is needed: resolving indices never adds tensors, but keep
    // no reference across calls anyway.
    std::string name = info.tensors[a.tensor].name;
    std::vector<AffineExpr> dims = info.tensors[a.tensor].dims;
    std::vector<std::string> texts = info.tensors[a.tensor].dimTexts;
    DType readType = info.tensors[a.tensor].readType();
    if (a.indices.size() != dims.size()) {
      auto diag = error(a.getPos());
      diag << "tensor '" << name << "' has " << dims.size() << " dimension"
           << (dims.size() == 1 ? "" : "s") << " [";
      for (size_t i = 0; i < texts.size(); ++i)
        diag << (i ? ", " : "") << texts[i];
      diag << "] but is indexed with " << a.indices.size() << " ind"
           << (a.indices.size() == 1 ? "ex" : "ices");
      return failure();
    }
    if (readType == DType::f64)
      stmt->sawF64 = true;
    ++stmt->accessDepth;
    bool affine = true;
    for (size_t i = 0; i < a.indices.size(); ++i) {
      ExprAST &ie = *a.indices[i];
      if (failed(resolve(ie))) {
        --stmt->accessDepth;
        return failure();
      }
      if (auto *n = llvm::dyn_cast<NameExprAST>(&ie);
          n && n->resolved == NameKind::Index)
        stmt->uses[n->name].push_back(
            {dims[i], texts[i],
             "dimension " + std::to_string(i) + " of '" + name + "'",
             n->getPos(), /*read=*/true});
      if (!ie.integral) {
        --stmt->accessDepth;
        auto diag = error(ie.getPos());
        diag << "expected an integer index expression in '" << name
             << "[...]', found " << quoted(ie);
        if (auto *r = llvm::dyn_cast<AccessExprAST>(&ie))
          diag << " (an index read from a tensor needs an i32 or i64 "
                  "tensor; '"
               << r->name << "' holds "
               << dtypeName(info.tensors[r->tensor].readType()) << ")";
        return failure();
      }
      if (ie.readsData) {
        affine = false;
        if (failed(checkIntegerOps(ie))) {
          --stmt->accessDepth;
          return failure();
        }
      } else {
        double mag = 0;
        std::string why;
        const ExprAST *at = nullptr;
        if (!isAffine(ie, mag, why, at)) {
          --stmt->accessDepth;
          error(at->getPos()) << "index expression " << quoted(ie) << " of '"
                              << name << "' is not affine: " << why;
          return failure();
        }
      }
    }
    --stmt->accessDepth;
    a.affine = affine;
    a.integral = isIntegerDType(readType);
    a.readsData = true;
    return success();
  }

  LogicalResult resolveCall(CallExprAST &c) {
    std::optional<unsigned> arity = functionArity(c.callee);
    if (!arity) {
      auto diag = error(c.getPos());
      diag << "unknown function '" << c.callee
           << "': expected one of exp, log, tanh, sigmoid, relu, softplus, "
              "sqrt, rsqrt, abs, min, max, select";
      if (c.callee == "sum" || c.callee == "prod" || c.callee == "max" ||
          c.callee == "min")
        diag << " (a reduction is written '" << c.callee
             << "(i, ...) EXPR' at the start of the right-hand side)";
      else if (info.tensorByName.count(c.callee))
        diag << " (a tensor is read with brackets: '" << c.callee << "[...]')";
      return failure();
    }
    if (c.args.size() != *arity) {
      error(c.getPos()) << "function '" << c.callee << "' takes " << *arity
                        << " argument" << (*arity == 1 ? "" : "s") << ", found "
                        << c.args.size();
      return failure();
    }
    for (ExprPtr &arg : c.args) {
      if (failed(resolve(*arg)))
        return failure();
      c.readsData |= arg->readsData;
      c.mentionsIndex |= arg->mentionsIndex;
    }
    return success();
  }

  /// Resolves names and computes the facts of `e` (any context).
  LogicalResult resolve(ExprAST &e) {
    switch (e.getKind()) {
    case ExprAST::Kind::Number:
      e.integral = llvm::cast<NumberExprAST>(e).value.isInteger;
      return success();
    case ExprAST::Kind::Name:
      return resolveName(llvm::cast<NameExprAST>(e));
    case ExprAST::Kind::Access:
      return resolveAccess(llvm::cast<AccessExprAST>(e));
    case ExprAST::Kind::Call:
      return resolveCall(llvm::cast<CallExprAST>(e));
    case ExprAST::Kind::Unary: {
      auto &u = llvm::cast<UnaryExprAST>(e);
      if (failed(resolve(*u.operand)))
        return failure();
      u.integral = u.op == UnaryOp::Neg && u.operand->integral;
      u.readsData = u.operand->readsData;
      u.mentionsIndex = u.operand->mentionsIndex;
      return success();
    }
    case ExprAST::Kind::Binary: {
      auto &b = llvm::cast<BinaryExprAST>(e);
      if (failed(resolve(*b.lhs)) || failed(resolve(*b.rhs)))
        return failure();
      bool arith = b.op == BinaryOp::Add || b.op == BinaryOp::Sub ||
                   b.op == BinaryOp::Mul || b.op == BinaryOp::Div ||
                   b.op == BinaryOp::Mod;
      b.integral = arith && b.lhs->integral && b.rhs->integral;
      b.readsData = b.lhs->readsData || b.rhs->readsData;
      b.mentionsIndex = b.lhs->mentionsIndex || b.rhs->mentionsIndex;
      return success();
    }
    }
    return success();
  }

  //===--------------------------------------------------------------------===//
  // Context rules
  //===--------------------------------------------------------------------===//

  /// Whether `d` may divide in an index expression: a positive integer
  /// literal, a size symbol, an integer param or scalar input.
  bool isDivisor(const ExprAST &d, std::string &why, double &mag) {
    if (auto *n = llvm::dyn_cast<NumberExprAST>(&d)) {
      if (n->value.isInteger && n->value.intValue > 0) {
        mag = static_cast<double>(n->value.intValue);
        return true;
      }
    } else if (auto *n = llvm::dyn_cast<NameExprAST>(&d)) {
      if (n->resolved == NameKind::Param) {
        const ParamInfo &p = info.params[info.paramByName.lookup(n->name)];
        if (p.value.isInteger && p.value.intValue > 0) {
          mag = static_cast<double>(p.value.intValue);
          return true;
        }
        if (p.value.isInteger) {
          why = "param '" + p.name + "' is " +
                std::to_string(p.value.intValue) +
                ", and '/' and '%' need a positive divisor";
          return false;
        }
      } else if (n->resolved == NameKind::SizeSymbol ||
                 (n->resolved == NameKind::Scalar && n->integral)) {
        mag = 1;
        if (auto it = options.binds.find(n->name); it != options.binds.end()) {
          if (it->second <= 0) {
            why = "size '" + n->name + "' is bound to " +
                  std::to_string(it->second) +
                  ", and '/' and '%' need a positive divisor";
            return false;
          }
          mag = static_cast<double>(it->second);
        }
        return true;
      }
    }
    why = "it divides by " + quoted(d) +
          ", but '/' and '%' in an index take a positive integer literal, a "
          "size symbol or an integer param";
    return false;
  }

  /// Whether integral `e`, which reads nothing, is affine (products keep a
  /// factor without indices, divisors per isDivisor, small coefficients).
  bool isAffine(const ExprAST &e, double &mag, std::string &why,
                const ExprAST *&at) {
    at = &e;
    switch (e.getKind()) {
    case ExprAST::Kind::Number:
      mag = std::fabs(llvm::cast<NumberExprAST>(e).value.asDouble());
      break;
    case ExprAST::Kind::Name: {
      auto &n = llvm::cast<NameExprAST>(e);
      mag = 1;
      if (n.resolved == NameKind::Param)
        mag = std::fabs(
            info.params[info.paramByName.lookup(n.name)].value.asDouble());
      else if (auto it = options.binds.find(n.name);
               n.resolved == NameKind::SizeSymbol && it != options.binds.end())
        mag = static_cast<double>(it->second);
      break;
    }
    case ExprAST::Kind::Unary:
      if (!isAffine(*llvm::cast<UnaryExprAST>(e).operand, mag, why, at))
        return false;
      break;
    case ExprAST::Kind::Binary: {
      auto &b = llvm::cast<BinaryExprAST>(e);
      double ml = 0, mr = 0;
      if (!isAffine(*b.lhs, ml, why, at))
        return false;
      if (b.op == BinaryOp::Div || b.op == BinaryOp::Mod) {
        if (!isDivisor(*b.rhs, why, mr)) {
          at = b.rhs.get();
          return false;
        }
        mag = ml + mr;
        break;
      }
      if (!isAffine(*b.rhs, mr, why, at))
        return false;
      if (b.op == BinaryOp::Mul) {
        if (b.lhs->mentionsIndex && b.rhs->mentionsIndex) {
          at = &e;
          why = "the product " + quoted(e) +
                " multiplies two expressions of indices (a factor must be a "
                "literal, a size symbol or a param)";
          return false;
        }
        mag = ml * mr;
      } else {
        mag = ml + mr;
      }
      break;
    }
    default:
      why = quoted(e) + " is not an integer expression of indices";
      return false;
    }
    at = &e;
    if (mag > kMaxAffineMagnitude) {
      why = "its constants are too large (more than 2^40)";
      return false;
    }
    return true;
  }

  /// Integer arithmetic computed at run time (around tensor reads): only
  /// the divisors are restricted.
  LogicalResult checkIntegerOps(const ExprAST &e) {
    if (auto *u = llvm::dyn_cast<UnaryExprAST>(&e))
      return checkIntegerOps(*u->operand);
    auto *b = llvm::dyn_cast<BinaryExprAST>(&e);
    if (!b)
      return success();
    if (failed(checkIntegerOps(*b->lhs)))
      return failure();
    if (b->op == BinaryOp::Div || b->op == BinaryOp::Mod) {
      std::string why;
      double mag;
      if (!isDivisor(*b->rhs, why, mag)) {
        error(b->rhs->getPos())
            << "index expression " << quoted(e) << " is not valid: " << why;
        return failure();
      }
      return success();
    }
    return checkIntegerOps(*b->rhs);
  }

  /// Rules of a value expression (the right-hand side, float comparisons):
  /// no '%', no conditions.
  LogicalResult checkValue(const ExprAST &e) {
    switch (e.getKind()) {
    case ExprAST::Kind::Call:
      for (const ExprPtr &a : llvm::cast<CallExprAST>(e).args)
        if (failed(checkValue(*a)))
          return failure();
      return success();
    case ExprAST::Kind::Unary: {
      auto &u = llvm::cast<UnaryExprAST>(e);
      if (u.op == UnaryOp::Not) {
        error(e.getPos()) << "'not' negates a condition and can only appear "
                             "in a where clause; in an expression write "
                             "'1 - (c)' or select(c, 0, 1)";
        return failure();
      }
      return checkValue(*u.operand);
    }
    case ExprAST::Kind::Binary: {
      auto &b = llvm::cast<BinaryExprAST>(e);
      if (isLogical(b.op)) {
        error(e.getPos()) << "'" << binaryOpSpelling(b.op)
                          << "' combines conditions and can only appear in a "
                             "where clause";
        return failure();
      }
      if (b.op == BinaryOp::Mod) {
        error(e.getPos()) << "'%' is floor modulo of integers and can only "
                             "appear in index expressions (and integer "
                             "comparisons of a where clause), found "
                          << quoted(e);
        return failure();
      }
      if (failed(checkValue(*b.lhs)))
        return failure();
      return checkValue(*b.rhs);
    }
    default:
      return success();
    }
  }

  /// One comparison (or bare value) of a where clause.
  LogicalResult checkWhereLeaf(const ExprAST &leaf) {
    const ExprAST *lhs = &leaf, *rhs = nullptr;
    if (auto *b = llvm::dyn_cast<BinaryExprAST>(&leaf);
        b && isComparison(b->op)) {
      lhs = b->lhs.get();
      rhs = b->rhs.get();
    }
    bool integral = lhs->integral && (!rhs || rhs->integral);
    if (leaf.readsData) {
      if (integral) {
        if (failed(checkIntegerOps(*lhs)) ||
            (rhs && failed(checkIntegerOps(*rhs))))
          return failure();
        return success();
      }
      if (failed(checkValue(*lhs)) || (rhs && failed(checkValue(*rhs))))
        return failure();
      return success();
    }
    std::string why;
    const ExprAST *at = nullptr;
    double mag = 0;
    if (!integral) {
      const ExprAST *side = lhs->integral ? rhs : lhs;
      why = quoted(*side) + " is not an integer expression of indices, size "
                            "symbols and integer params";
      at = side;
    } else if (isAffine(*lhs, mag, why, at) &&
               (!rhs || isAffine(*rhs, mag, why, at))) {
      return success();
    }
    error(at ? at->getPos() : leaf.getPos())
        << "where condition " << quoted(leaf)
        << " is not affine and reads no tensor: " << why;
    return failure();
  }

  LogicalResult checkCondition(const ExprAST &e) {
    if (auto *u = llvm::dyn_cast<UnaryExprAST>(&e); u && u->op == UnaryOp::Not)
      return checkCondition(*u->operand);
    if (auto *b = llvm::dyn_cast<BinaryExprAST>(&e); b && isLogical(b->op)) {
      if (failed(checkCondition(*b->lhs)))
        return failure();
      return checkCondition(*b->rhs);
    }
    return checkWhereLeaf(e);
  }

  //===--------------------------------------------------------------------===//
  // Statements
  //===--------------------------------------------------------------------===//

  /// `cumsum(t) EXPR`: one index, kept on the left, nothing reduced.
  LogicalResult checkScan(const StatementAST &s, StatementInfo &si,
                          const llvm::StringSet<> &onLeft,
                          ArrayRef<std::string> reduced) {
    const ReduceAST &r = *s.reduce;
    if (r.indices.size() != 1) {
      error(r.pos) << "'" << r.spelling << "(...)' scans exactly one index, "
                   << "found " << r.indices.size();
      return failure();
    }
    const IndexRefAST &t = r.indices.front();
    if (!onLeft.count(t.name)) {
      error(t.pos) << "index '" << t.name << "' in '" << r.spelling
                   << "(...)' must appear on the left-hand side of '" << s.name
                   << "': a scan keeps the index it runs along";
      return failure();
    }
    if (!reduced.empty()) {
      error(r.pos) << "a scan reduces no index, but '" << reduced.front()
                   << "' appears on the right-hand side and not on the left: "
                      "reduce it in a statement of its own first";
      return failure();
    }
    si.scanKind = r.kind;
    si.scanDim = si.dimOf.lookup(t.name);
    return success();
  }

  LogicalResult checkStatement(StatementAST &s) {
    info.statements.emplace_back();
    StatementInfo &si = info.statements.back();
    si.ast = &s;
    StatementState state;
    state.info = &si;
    state.lhsName = s.name;
    stmt = &state;
    LogicalResult result = checkStatementImpl(s, si, state);
    stmt = nullptr;
    return result;
  }

  LogicalResult checkStatementImpl(StatementAST &s, StatementInfo &si,
                                   StatementState &state) {
    // The tensor assigned.
    int target = -1;
    if (info.paramByName.count(s.name) || info.scalarByName.count(s.name)) {
      error(s.pos) << "cannot assign to '" << s.name
                   << "': it is a param or a scalar input, not a tensor";
      return failure();
    }
    if (auto it = info.tensorByName.find(s.name);
        it != info.tensorByName.end()) {
      const TensorInfo &t = info.tensors[it->second];
      if (t.role == TensorInfo::Role::Input) {
        error(s.pos) << "cannot assign to input '" << s.name
                     << "': inputs are read-only; assign a new tensor or an "
                        "output";
        return failure();
      }
      if (t.assigned) {
        error(s.pos) << "tensor '" << s.name
                     << "' is assigned twice (single assignment): it was "
                        "first assigned at "
                     << posText(t.assignedPos);
        return failure();
      }
      target = it->second;
    }

    // Left-hand side: distinct bare indices.
    if (s.lhs.size() > kMaxRank) {
      error(s.lhs[kMaxRank]->getPos())
          << "a tensor has at most " << kMaxRank
          << " dimensions (the targets' limit), found " << s.lhs.size();
      return failure();
    }
    for (size_t i = 0; i < s.lhs.size(); ++i) {
      auto *n = llvm::dyn_cast<NameExprAST>(s.lhs[i].get());
      if (!n || isUpperName(n->name) || info.paramByName.count(n->name) ||
          info.scalarByName.count(n->name) ||
          info.tensorByName.count(n->name)) {
        error(s.lhs[i]->getPos())
            << "expected an index (a lower-case name) on the left-hand side "
               "of '"
            << s.name << "[...]', found " << quoted(*s.lhs[i]);
        return failure();
      }
      if (si.dimOf.count(n->name)) {
        error(n->getPos()) << "index '" << n->name
                           << "' appears twice on the left-hand side of '"
                           << s.name << "': expected distinct indices";
        return failure();
      }
      n->resolved = NameKind::Index;
      n->integral = true;
      n->mentionsIndex = true;
      noteIndex(n->name, n->getPos());
      state.inAccess.insert(n->name);
    }
    if (target >= 0) {
      const TensorInfo &t = info.tensors[target];
      const std::vector<AffineExpr> &dims =
          t.letDims.empty() ? t.dims : t.letDims;
      const std::vector<std::string> &texts =
          t.letDims.empty() ? t.dimTexts : t.letDimTexts;
      bool hasShape = t.role == TensorInfo::Role::Output || !t.letDims.empty();
      if (hasShape && dims.size() != s.lhs.size()) {
        error(s.pos) << "tensor '" << s.name << "' has " << dims.size()
                     << " dimensions but is assigned with " << s.lhs.size()
                     << " indices";
        return failure();
      }
      if (hasShape)
        for (size_t i = 0; i < s.lhs.size(); ++i) {
          auto *n = llvm::cast<NameExprAST>(s.lhs[i].get());
          state.uses[n->name].push_back(
              {dims[i], texts[i],
               "dimension " + std::to_string(i) + " of '" + s.name + "'",
               n->getPos()});
        }
    }

    // REDUCE(i, ...): numbered in textual order, checked below.
    if (s.reduce)
      for (const IndexRefAST &r : s.reduce->indices)
        if (!isUpperName(r.name) && !info.paramByName.count(r.name) &&
            !info.scalarByName.count(r.name) &&
            !info.tensorByName.count(r.name) && !si.dimOf.count(r.name))
          noteIndex(r.name, r.pos);

    if (failed(resolve(*s.rhs)) || failed(checkValue(*s.rhs)))
      return failure();
    if (s.where) {
      if (failed(resolve(*s.where)) || failed(checkCondition(*s.where)))
        return failure();
    }

    // Ranges.
    for (IterationDim &d : si.dims) {
      std::vector<RangeUse> uses = state.uses.lookup(d.name);
      if (auto it = forRanges.find(d.name); it != forRanges.end())
        uses.insert(uses.begin(), {it->second.range, it->second.text,
                                   "the range 'for " + d.name + " in 0.." +
                                       it->second.text + "'",
                                   it->second.pos});
      if (uses.empty()) {
        SourcePos pos = state.firstPos.lookup(d.name);
        if (s.reduce && !state.onRight.count(d.name) &&
            !state.inAccess.count(d.name))
          continue; // reported with the REDUCE checks
        if (state.inAccess.count(d.name))
          error(pos) << "index '" << d.name
                     << "' has no range: it never indexes a tensor dimension "
                        "directly (as a bare index); declare one with 'for "
                     << d.name << " in 0..N'";
        else
          error(pos) << "unknown index '" << d.name
                     << "': it indexes no tensor in this statement and is "
                        "not a param or scalar input of kernel '"
                     << kernel.name << "'";
        return failure();
      }
      bool hasFor = forRanges.count(d.name);
      for (size_t i = 1; i < uses.size(); ++i) {
        // A `for` range reads part of a dimension through a bare index,
        // as it does through `r + 0`; a range provably larger than the
        // extent is refused here, other reads past it fail at run time.
        if (hasFor && uses[i].read) {
          AffineExpr excess = simplifyAffineExpr(uses[0].range - uses[i].range,
                                                 0, info.symbols.size());
          if (excess != getAffineConstantExpr(0, excess.getContext()) &&
              nonNegative(excess)) {
            error(uses[i].pos)
                << "index '" << d.name << "' reads past " << uses[i].origin
                << ": its range " << uses[0].rangeText << " (" << uses[0].origin
                << ") is larger than the extent " << uses[i].rangeText;
            return failure();
          }
          continue;
        }
        if (uses[i].range != uses[0].range) {
          auto diag = error(uses[i].pos);
          diag << "conflicting ranges for index '" << d.name
               << "': " << uses[0].rangeText << " (" << uses[0].origin
               << ") and " << uses[i].rangeText << " (" << uses[i].origin
               << ")";
          if (uses[i].read || uses[0].read)
            diag << "; to read part of a dimension, give the index its "
                    "range with 'for "
                 << d.name << " in 0..N'";
          return failure();
        }
      }
      d.range = uses[0].range;
      d.rangeText = uses[0].rangeText;
    }

    // Reduction.
    llvm::StringSet<> onLeft;
    for (const ExprPtr &e : s.lhs)
      onLeft.insert(llvm::cast<NameExprAST>(e.get())->name);
    std::vector<std::string> reduced;
    for (const IterationDim &d : si.dims)
      if (!onLeft.count(d.name) && state.onRight.count(d.name))
        reduced.push_back(d.name);
    if (s.reduce && s.reduce->scan) {
      if (failed(checkScan(s, si, onLeft, reduced)))
        return failure();
    } else if (s.reduce) {
      const ReduceAST &r = *s.reduce;
      llvm::StringSet<> listed;
      for (const IndexRefAST &ref : r.indices) {
        if (!listed.insert(ref.name).second) {
          error(ref.pos) << "index '" << ref.name << "' is listed twice in '"
                         << r.spelling << "(...)'";
          return failure();
        }
        if (onLeft.count(ref.name)) {
          error(ref.pos) << "index '" << ref.name << "' in '" << r.spelling
                         << "(...)' is not reduced: it appears on the "
                            "left-hand side of '"
                         << s.name << "'";
          return failure();
        }
        if (!state.onRight.count(ref.name)) {
          error(ref.pos) << "unknown index '" << ref.name << "' in '"
                         << r.spelling
                         << "(...)': it does not appear in the statement's "
                            "expression or where clause";
          return failure();
        }
      }
      for (const std::string &name : reduced)
        if (!listed.count(name)) {
          error(r.pos) << "'" << r.spelling
                       << "(...)' must list every reduced index: '" << name
                       << "' is reduced too (it appears on the right-hand "
                          "side and not on the left)";
          return failure();
        }
      si.kind = r.kind;
    } else if (!reduced.empty()) {
      si.kind = ReduceKind::Sum;
    }

    // The where clause: affine conjuncts to the filter, the rest to the
    // guard.
    if (s.where) {
      std::vector<Conjunct> conjuncts, affine;
      splitConjuncts(s.where.get(), conjuncts);
      for (const Conjunct &c : conjuncts)
        (c.expr->readsData ? si.guard : affine).push_back(c);
      if (!affine.empty()) {
        auto dnf = toDisjunctiveNormalForm(affine, kMaxFilterDisjuncts);
        if (!dnf) {
          error(s.wherePos)
              << "the where clause has more than " << kMaxFilterDisjuncts
              << " disjuncts in disjunctive normal form (each "
                 "'!=' and 'or' multiplies them): simplify it";
          return failure();
        }
        si.filter = std::move(*dnf);
      }
    }

    // The tensor: its shape, element type, and assignment.
    if (target < 0) {
      TensorInfo fresh;
      fresh.name = s.name;
      fresh.pos = s.pos;
      fresh.role = TensorInfo::Role::Intermediate;
      info.tensorByName[s.name] = info.tensors.size();
      info.tensors.push_back(fresh);
      target = info.tensors.size() - 1;
    }
    TensorInfo &t = info.tensors[target];
    if (t.role == TensorInfo::Role::Intermediate) {
      t.dims.clear();
      t.dimTexts.clear();
      for (size_t i = 0; i < s.lhs.size(); ++i) {
        t.dims.push_back(si.dims[i].range);
        t.dimTexts.push_back(si.dims[i].rangeText);
      }
    }
    if (s.otherwise)
      si.otherwise = s.otherwise->asDouble();
    si.computeType = t.letType      ? *t.letType
                     : state.sawF64 ? DType::f64
                                    : DType::f32;
    t.computeType = si.computeType;
    t.assigned = true;
    t.assignedPos = s.pos;
    si.tensor = target;
    return success();
  }
};

LogicalResult KernelChecker::check() {
  info.ast = &kernel;
  if (failed(collectParams()) || failed(collectSignature()))
    return failure();
  for (KernelItemAST &item : kernel.items) {
    LogicalResult r = success();
    if (auto *let = std::get_if<LetAST>(&item))
      r = checkLet(*let);
    else if (auto *loop = std::get_if<ForAST>(&item))
      r = checkFor(*loop);
    else if (auto *s = std::get_if<StatementAST>(&item))
      r = checkStatement(*s);
    if (failed(r))
      return failure();
  }
  for (int o : info.outputTensors)
    if (!info.tensors[o].assigned) {
      error(info.tensors[o].pos) << "output '" << info.tensors[o].name
                                 << "' is never assigned: expected a "
                                    "statement '"
                                 << info.tensors[o].name << "[...] = ...'";
      return failure();
    }
  for (const TensorInfo &t : info.tensors)
    if (t.role == TensorInfo::Role::Intermediate && !t.assigned) {
      error(t.letPos) << "'let " << t.name
                      << "' declares a tensor that no "
                         "statement assigns";
      return failure();
    }
  return success();
}

} // namespace

std::optional<std::vector<KernelInfo>>
mlir::attn::checkFile(FileAST &file, const FrontendOptions &options,
                      DiagnosticEmitter &diags) {
  // Every --param must name a param of some kernel.
  llvm::StringSet<> allParams;
  for (const KernelAST &k : file.kernels)
    for (const KernelItemAST &item : k.items)
      if (auto *p = std::get_if<ParamAST>(&item))
        allParams.insert(p->name);
  for (const auto &[name, value] : options.params)
    if (!allParams.count(name)) {
      std::string known;
      for (const auto &p : allParams)
        known += (known.empty() ? "" : ", ") + p.getKey().str();
      diags.error(SourcePos{1, 1})
          << "unknown param '" << name << "' given with --param: "
          << (known.empty() ? std::string("the file declares no params")
                            : "expected one of " + known);
      return std::nullopt;
    }

  std::vector<KernelInfo> kernels(file.kernels.size());
  llvm::StringSet<> usedBinds;
  llvm::StringMap<SourcePos> kernelNames;
  bool ok = true;
  for (size_t i = 0; i < file.kernels.size(); ++i) {
    KernelAST &k = file.kernels[i];
    auto [it, inserted] = kernelNames.try_emplace(k.name, k.pos);
    if (!inserted) {
      diags.error(k.pos) << "duplicate kernel '" << k.name
                         << "': already declared at " << posText(it->second);
      ok = false;
      continue;
    }
    KernelChecker checker(k, options, diags, kernels[i]);
    if (failed(checker.check()))
      ok = false;
    for (const auto &b : checker.usedBinds())
      usedBinds.insert(b.getKey());
  }
  if (!ok)
    return std::nullopt;
  // Every --bind must fix a size symbol some kernel uses (as --param).
  for (const auto &[name, value] : options.binds)
    if (value > kMaxExtent) {
      diags.error(SourcePos{1, 1})
          << "--bind " << name << "=" << value
          << " is too large: the targets take sizes up to 2^31-1";
      return std::nullopt;
    } else if (!usedBinds.count(name)) {
      diags.error(SourcePos{1, 1})
          << "unknown size symbol '" << name
          << "' given with --bind: no kernel of the file uses it";
      return std::nullopt;
    }
  return kernels;
}
