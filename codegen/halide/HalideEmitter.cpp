// The algorithm half of the CPU code generator: each attn.einsum becomes a
// Halide Func over its result dimensions (reduced dimensions an RDom, the
// affine filter and the guard its where-clause), carrying, where the semantics
// need it, a presence flag (absent points, LANGUAGE.md). Reads that may fall
// outside a tensor are clamped, so nothing is ever loaded out of bounds, and
// checked by a computation of their own (the error code of an out-of-range
// read at a contributing point; skipped when the sizes prove the reads in
// range). No schedule here: see HalideSchedule.cpp.
#include "codegen/halide/HalideDomain.h"
#include "codegen/halide/HalidePipeline.h"
#include "codegen/halide/HalideScalarOps.h"
#include "dialect/RuntimeDType.h"

#include "dialect/AttnOps.h"
#include "passes/RankAnalysis.h"
#include "runtime/DType.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/IntegerSet.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallBitVector.h"

#include <cmath>
#include <limits>
#include <numeric>
#include <map>
#include <set>

using namespace mlir;
using namespace mlir::attn;
namespace H = Halide;
namespace HI = Halide::Internal;
namespace rt = ::attn::rt;

//===----------------------------------------------------------------------===//
// Scalar parameters and types
//===----------------------------------------------------------------------===//

H::Expr HalideScalarParam::expr() const {
  H::Expr e;
  if (f32)
    e = *f32;
  else if (f64)
    e = *f64;
  else if (i32)
    e = *i32;
  else if (i64)
    e = *i64;
  else
    e = *u8;
  if (type.is_bool())
    return e != 0;
  return e.type() == type ? e : H::cast(type, e);
}

void HalideScalarParam::bind(H::ParamMap &map, double value) const {
  if (f32)
    map.set(*f32, static_cast<float>(value));
  else if (f64)
    map.set(*f64, value);
  else if (i32)
    map.set(*i32, static_cast<int32_t>(value));
  else if (i64)
    map.set(*i64, static_cast<int64_t>(value));
  else
    map.set(*u8, static_cast<uint8_t>(value != 0));
}

std::optional<H::Type> mlir::attn::halideStorageType(Type type) {
  if (type.isInteger(1))
    return H::UInt(8);
  if (type.isIndex())
    return std::nullopt;
  return halideValueType(type, H::Int(64));
}


//===----------------------------------------------------------------------===//
// Expression helpers
//===----------------------------------------------------------------------===//

namespace {

bool isTrue(const H::Expr &e) { return HI::is_const_one(e); }
bool isFalse(const H::Expr &e) { return HI::is_const_zero(e); }

H::Expr andE(const H::Expr &a, const H::Expr &b) {
  if (isTrue(a))
    return b;
  if (isTrue(b))
    return a;
  return a && b;
}
H::Expr orE(const H::Expr &a, const H::Expr &b) {
  if (isFalse(a))
    return b;
  if (isFalse(b))
    return a;
  return a || b;
}
H::Expr notE(const H::Expr &a) {
  if (isTrue(a))
    return HI::const_false();
  if (isFalse(a))
    return HI::const_true();
  return !a;
}

/// The first nonzero error code of `first` (checked first) and `second`.
H::Expr firstError(const H::Expr &first, const H::Expr &second) {
  if (isFalse(first))
    return second;
  if (isFalse(second))
    return first;
  return H::select(first != 0, first, second);
}

/// `code` where `cond` holds, else 0.
H::Expr errorIf(const H::Expr &cond, const H::Expr &code) {
  if (isFalse(cond) || isFalse(code))
    return HI::make_zero(H::Int(32));
  if (isTrue(cond))
    return code;
  return H::select(cond, code, 0);
}

H::Expr negInf(H::Type t) {
  return HI::make_const(t, -std::numeric_limits<double>::infinity());
}
H::Expr posInf(H::Type t) {
  return HI::make_const(t, std::numeric_limits<double>::infinity());
}

//===----------------------------------------------------------------------===//
// How a tensor value is seen in Halide
//===----------------------------------------------------------------------===//

struct TensorView {
  bool isImage = false;
  H::ImageParam image;
  H::Func func;
  int stage = -1;               // index into HalidePipeline::stages
  Type elementType;             // MLIR element type
  unsigned numElements = 1;     // tuple size of `func`
  int presentIndex = -1;        // tuple element of the presence flag, or -1
  /// Presence when presentIndex < 0: uniformPresent (a condition on sizes)
  /// and, when set, membership of the coordinates in `domain`.
  H::Expr uniformPresent;
  std::optional<AffineDomain> domain;
  std::vector<H::Expr> extents; // tensor order, Int(32)
  std::string description;      // for messages
  int argument = -1;            // the kernel argument it is, or -1
  /// Presence as an expression that reads no stage (only arguments), for
  /// the run-time tile classification (visitOnline): `expr` over the
  /// variables named `dims` (one per tensor dimension, tensor order).
  struct PresenceExpr {
    H::Expr expr;
    std::vector<std::string> dims;
  };
  std::optional<PresenceExpr> presenceExpr;
  /// For a reduction einsum: whether one iteration point contributes, as
  /// such an expression over the op's dimensions (`dims`: one per op
  /// dimension, reduced ones included), with the op's sizes.
  std::optional<PresenceExpr> pointPresence;
  SmallVector<H::Expr> pointSizes;
  SmallVector<unsigned> pointReduced;
  SmallVector<unsigned> pointResultDims; // the op dimension of each tensor one

  unsigned rank() const { return extents.size(); }

  /// Loads the element at `coords` (tensor order, Int(32), in range): its
  /// value (as a computation value: bool for i1) and presence.
  std::pair<H::Expr, H::Expr> load(const std::vector<H::Expr> &coords) const {
    std::vector<H::Expr> args(coords.rbegin(), coords.rend());
    H::Expr value, present = uniformPresent;
    if (domain)
      present = andE(present, domain->contains(coords));
    if (isImage) {
      value = image(args);
    } else {
      H::FuncRef ref = func(args);
      if (numElements == 1) {
        value = ref;
      } else {
        value = ref[0];
        if (presentIndex >= 0)
          present = ref[presentIndex] != 0;
      }
    }
    if (elementType.isInteger(1))
      value = value != 0;
    return {value, present};
  }
  /// Presence varies from element to element (a stored flag or a domain).
  bool hasElementPresence() const {
    return presentIndex >= 0 || (domain && !domain->isEverywhere());
  }
};

/// What a region (guard or body) evaluates to at one point.
struct RegionValue {
  H::Expr value;
  /// Every table element read is present.
  H::Expr present = HI::const_true();
  /// Evaluation got to the end: every read was present and in range.
  H::Expr reached = HI::const_true();
  /// The error code of the first out-of-range read (0: none).
  H::Expr error = HI::make_zero(H::Int(32));
  bool elementPresence = false; // some read has a per-element presence
  bool checked = false;         // some read is range-checked
};

//===----------------------------------------------------------------------===//
// The builder
//===----------------------------------------------------------------------===//

class PipelineBuilder {
public:
  PipelineBuilder(func::FuncOp kernel, HalidePipeline &pipeline,
                  int blockRows)
      : kernel(kernel), p(pipeline), blockRows(blockRows) {}

  LogicalResult build() {
    if (kernel.getBody().getBlocks().size() != 1)
      return kernel.emitError("the Halide code generator expects a kernel "
                              "with one block");
    for (const HalidePipeline::Tiling &t : p.tilings)
      paddedNames.insert({t.rank, t.element});
    for (OnlineOp o : kernel.getBody().getOps<OnlineOp>())
      for (AffineExpr e : o.getMaxMap().getResults())
        paddedNames.insert(
            indexName(o, cast<AffineDimExpr>(e).getPosition()));
    paddedNames.erase("");
    // Key-side indices: those of arguments read along a tiled rank (K, V),
    // in the coordinates that do not involve the tiled rank (a relative
    // position p - m couples the query rows with the keys, it does not make
    // p a key-side index).
    auto isTiled = [&](const std::string &n) {
      return llvm::any_of(p.tilings, [&](const HalidePipeline::Tiling &t) {
        return n == t.rank || n == t.element || n == t.index;
      });
    };
    for (EinsumOp e : kernel.getBody().getOps<EinsumOp>())
      for (auto [i, input] : llvm::enumerate(e.getInputs())) {
        std::set<std::string> names;
        bool alongTiled = false;
        for (AffineExpr coord : e.getInputMap(i).getResults()) {
          std::set<std::string> coordNames;
          coord.walk([&](AffineExpr x) {
            if (auto d = dyn_cast<AffineDimExpr>(x))
              coordNames.insert(indexName(e, d.getPosition()));
          });
          if (llvm::any_of(coordNames, isTiled))
            alongTiled = true;
          else
            names.insert(coordNames.begin(), coordNames.end());
        }
        if (isa<BlockArgument>(input) && alongTiled)
          keySideNames.insert(names.begin(), names.end());
      }
    keySideNames.insert("");
    if (failed(addArguments()))
      return failure();
    for (Operation &op : kernel.getBody().front())
      if (failed(visit(&op)))
        return failure();
    buildErrorCheck();
    return success();
  }

private:
  //===--------------------------------------------------------------------===//
  // Arguments
  //===--------------------------------------------------------------------===//

  LogicalResult addArguments() {
    Block &entry = kernel.getBody().front();
    for (BlockArgument arg : entry.getArguments()) {
      unsigned i = arg.getArgNumber();
      HalideArgument a;
      a.type = arg.getType();
      if (auto n = kernel.getArgAttrOfType<StringAttr>(i, kNameAttr))
        a.name = n.str();
      else
        a.name = "arg" + std::to_string(i);
      if (auto dims = kernel.getArgAttrOfType<ArrayAttr>(i, kDimsAttr))
        for (Attribute d : dims)
          if (auto s = dyn_cast<StringAttr>(d))
            a.dims.push_back(s.str());
      std::string hname = "in_" + std::to_string(i);
      if (auto tensor = dyn_cast<RankedTensorType>(a.type)) {
        std::optional<H::Type> st = halideStorageType(tensor.getElementType());
        if (!st || !toRuntimeDType(tensor.getElementType()))
          return kernel.emitError("argument ")
                 << i << " has element type " << tensor.getElementType()
                 << ", which the Halide code generator does not support";
        int rank = tensor.getRank();
        a.image = H::ImageParam(*st, rank, hname);
        TensorView view;
        view.isImage = true;
        view.image = a.image;
        view.elementType = tensor.getElementType();
        view.uniformPresent = HI::const_true();
        view.description = a.name;
        view.argument = i;
        for (int k = 0; k < rank; ++k) {
          HI::Dimension dim = a.image.dim(rank - 1 - k);
          dim.set_min(0);
          if (!tensor.isDynamicDim(k))
            dim.set_extent(static_cast<int>(tensor.getDimSize(k)));
          view.extents.push_back(dim.extent());
        }
        if (rank > 0)
          a.image.dim(0).set_stride(1);
        tensors[arg] = view;
      } else {
        std::optional<H::Type> vt = halideValueType(a.type, H::Int(64));
        if (!vt || !toRuntimeDType(a.type))
          return kernel.emitError("argument ")
                 << i << " has type " << a.type
                 << ", which the Halide code generator does not support";
        a.isScalar = true;
        HalideScalarParam &s = a.scalar;
        s.type = *vt;
        if (vt->is_float() && vt->bits() <= 32)
          s.f32.emplace(hname);
        else if (vt->is_float())
          s.f64.emplace(hname);
        else if (vt->is_bool())
          s.u8.emplace(hname);
        else if (vt->bits() == 64)
          s.i64.emplace(hname);
        else
          s.i32.emplace(hname);
        scalars[arg] = s.expr();
      }
      p.arguments.push_back(std::move(a));
    }
    return success();
  }

  //===--------------------------------------------------------------------===//
  // Function-level ops
  //===--------------------------------------------------------------------===//

  LogicalResult visit(Operation *op) {
    if (auto e = dyn_cast<EinsumOp>(op))
      return visitEinsum(e);
    if (auto o = dyn_cast<OnlineOp>(op))
      return visitOnline(o);
    if (auto f = dyn_cast<FillOp>(op))
      return visitFill(f);
    if (auto r = dyn_cast<func::ReturnOp>(op))
      return visitReturn(r);
    if (auto d = dyn_cast<tensor::DimOp>(op)) {
      std::optional<int64_t> k = d.getConstantIndex();
      auto it = tensors.find(d.getSource());
      if (!k || it == tensors.end() || *k < 0 ||
          *k >= static_cast<int64_t>(it->second.rank()))
        return op->emitOpError("needs a constant dimension of a known "
                               "tensor in the Halide code generator");
      scalars[d.getResult()] = it->second.extents[*k];
      return success();
    }
    if (op->getNumResults() != 1 || isa<ShapedType>(op->getResult(0).getType()))
      return op->emitOpError("is not supported by the Halide code generator");
    FailureOr<H::Expr> e = translateScalarOp(
        op, [&](Value v) { return scalars.lookup(v); }, H::Int(32));
    if (failed(e))
      return failure();
    scalars[op->getResult(0)] = *e;
    return success();
  }

  /// `e` evaluated with IEEE semantics where the options ask for them
  /// (strictFloat: every definition is wrapped, see buildHalidePipeline).
  H::Expr strict(const H::Expr &e) const {
    return p.strictFloat && e.type().is_float() ? H::strict_float(e) : e;
  }
  std::vector<H::Expr> strict(std::vector<H::Expr> es) const {
    for (H::Expr &e : es)
      e = strict(e);
    return es;
  }

  /// `acc + value` for a sum: where `value` is a product, the multiply and
  /// the add stay outside strict_float so that LLVM contracts them into an
  /// FMA (an IEEE operation: one rounding; infinities and NaNs propagate as
  /// they do through the product and the sum).
  H::Expr accumulate(const H::Expr &acc, const H::Expr &value) const {
    if (const auto *m = value.as<HI::Mul>(); m && p.strictFloat)
      return acc + strict(m->a) * strict(m->b);
    return acc + strict(value);
  }

  /// Whether `name` is a tile index (m1 of attn.tiled).
  bool isTileIndex(const std::string &name) const {
    return llvm::any_of(p.tilings, [&](const HalidePipeline::Tiling &t) {
      return !name.empty() && t.index == name;
    });
  }

  /// The source name of dimension `d` of `op` (attn.indices), or "".
  static std::string indexName(Operation *op, unsigned d) {
    auto names = op->getAttrOfType<ArrayAttr>(kIndicesAttr);
    if (names && d < names.size())
      if (auto s = dyn_cast<StringAttr>(names[d]))
        return s.str();
    return "";
  }

  //===--------------------------------------------------------------------===//
  // Keys that prove two extents equal (the runner checks that dimensions
  // with the same size symbol agree, so equal keys mean equal values).
  //===--------------------------------------------------------------------===//

  std::optional<std::string> tensorDimKey(Value t, unsigned k) {
    auto type = cast<RankedTensorType>(t.getType());
    if (!type.isDynamicDim(k))
      return "#" + std::to_string(type.getDimSize(k));
    if (auto arg = dyn_cast<BlockArgument>(t)) {
      if (arg.getOwner() != &kernel.getBody().front())
        return std::nullopt;
      const HalideArgument &a = p.arguments[arg.getArgNumber()];
      if (k < a.dims.size()) {
        long long lit;
        if (!StringRef(a.dims[k]).getAsInteger(10, lit))
          return "#" + std::to_string(lit);
        return "$" + a.dims[k];
      }
      return "@" + std::to_string(arg.getArgNumber()) + "." + std::to_string(k);
    }
    if (auto e = t.getDefiningOp<EinsumOp>()) {
      auto d = cast<AffineDimExpr>(e.getResultMap().getResult(k));
      return sizeKey(e.getSizes()[d.getPosition()]);
    }
    if (auto f = t.getDefiningOp<FillOp>())
      return tensorDimKey(f.getInput(), k);
    if (auto o = t.getDefiningOp<OnlineOp>()) {
      unsigned r = cast<OpResult>(t).getResultNumber();
      AffineMap map = r == 0 ? o.getMaxMap() : o.getSumMap(r - 1);
      auto d = cast<AffineDimExpr>(map.getResult(k));
      return sizeKey(o.getSizes()[d.getPosition()]);
    }
    return std::nullopt;
  }

  std::optional<std::string> sizeKey(Value v) {
    if (auto c = v.getDefiningOp<arith::ConstantOp>())
      if (auto i = dyn_cast<IntegerAttr>(c.getValue()))
        return "#" + std::to_string(i.getInt());
    if (auto d = v.getDefiningOp<tensor::DimOp>())
      if (std::optional<int64_t> k = d.getConstantIndex())
        return tensorDimKey(d.getSource(), *k);
    // A size read from a scalar argument is equal only to itself.
    if (auto c = v.getDefiningOp<arith::IndexCastOp>())
      if (auto arg = dyn_cast<BlockArgument>(c.getIn()))
        if (arg.getOwner() == &kernel.getBody().front())
          return "%" + std::to_string(arg.getArgNumber());
    // Any other size (the tile count ceildiv(M, T)) is equal to itself.
    if (v.getDefiningOp() && v.getParentBlock() == &kernel.getBody().front())
      return "=" + std::to_string(reinterpret_cast<uintptr_t>(
                       v.getAsOpaquePointer()));
    return std::nullopt;
  }

  /// Whether dimension `d` of `op` (ranging over sizes[d]) always indexes
  /// dimension `k` of `tensor` in range.
  bool provablyInRange(Operation *op, unsigned d, Value tensor, unsigned k) {
    Value size = isa<EinsumOp>(op) ? cast<EinsumOp>(op).getSizes()[d]
                                   : cast<OnlineOp>(op).getSizes()[d];
    std::optional<std::string> a = sizeKey(size), b = tensorDimKey(tensor, k);
    return a && b && *a == *b;
  }

  //===--------------------------------------------------------------------===//
  // Affine maps and sets
  //===--------------------------------------------------------------------===//

  FailureOr<H::Expr> affine(AffineExpr e, ArrayRef<H::Expr> dims,
                            ArrayRef<H::Expr> syms, Operation *op) {
    switch (e.getKind()) {
    case AffineExprKind::Constant: {
      int64_t c = cast<AffineConstantExpr>(e).getValue();
      if (c < std::numeric_limits<int32_t>::min() ||
          c > std::numeric_limits<int32_t>::max()) {
        op->emitOpError("has an affine constant outside the 32-bit range");
        return failure();
      }
      return H::Expr(static_cast<int32_t>(c));
    }
    case AffineExprKind::DimId:
      return dims[cast<AffineDimExpr>(e).getPosition()];
    case AffineExprKind::SymbolId:
      return syms[cast<AffineSymbolExpr>(e).getPosition()];
    default:
      break;
    }
    auto bin = cast<AffineBinaryOpExpr>(e);
    FailureOr<H::Expr> l = affine(bin.getLHS(), dims, syms, op);
    FailureOr<H::Expr> r = affine(bin.getRHS(), dims, syms, op);
    if (failed(l) || failed(r))
      return failure();
    switch (e.getKind()) {
    case AffineExprKind::Add:
      return *l + *r;
    case AffineExprKind::Mul:
      return *l * *r;
    case AffineExprKind::FloorDiv:
      return halideFloorDiv(*l, *r);
    case AffineExprKind::CeilDiv:
      return -halideFloorDiv(-*l, *r);
    case AffineExprKind::Mod:
      return halideFloorMod(*l, *r);
    default:
      op->emitOpError("has an affine expression the Halide code generator "
                      "does not support");
      return failure();
    }
  }

  /// The range [lo, hi] (Int(64), evaluated at run time) of affine `e` over
  /// the box where every dimension d ranges over [0, sizes[d] - 1]; nothing
  /// where it cannot be bounded (a division or modulo by a dimension). Used
  /// to prove before the run that a checked read stays in range at every
  /// point (then the error check has nothing to do). Floor and ceiling
  /// division by a fixed k are monotone in the dividend (Halide's x / 0 is
  /// 0, a constant), so the ends map to the ends.
  struct Interval64 {
    H::Expr lo, hi;
  };
  std::optional<Interval64> boxInterval(AffineExpr e, ArrayRef<H::Expr> sizes,
                                        ArrayRef<H::Expr> syms) {
    auto i64 = [](const H::Expr &x) { return H::cast(H::Int(64), x); };
    switch (e.getKind()) {
    case AffineExprKind::Constant: {
      H::Expr c(int64_t(cast<AffineConstantExpr>(e).getValue()));
      return Interval64{c, c};
    }
    case AffineExprKind::DimId:
      return Interval64{H::Expr(int64_t(0)),
                        i64(sizes[cast<AffineDimExpr>(e).getPosition()]) - 1};
    case AffineExprKind::SymbolId: {
      H::Expr s = i64(syms[cast<AffineSymbolExpr>(e).getPosition()]);
      return Interval64{s, s};
    }
    default:
      break;
    }
    auto bin = cast<AffineBinaryOpExpr>(e);
    std::optional<Interval64> a = boxInterval(bin.getLHS(), sizes, syms);
    std::optional<Interval64> b = boxInterval(bin.getRHS(), sizes, syms);
    if (!a || !b)
      return std::nullopt;
    auto hull = [](const H::Expr &x, const H::Expr &y) {
      return Interval64{H::min(x, y), H::max(x, y)};
    };
    switch (e.getKind()) {
    case AffineExprKind::Add:
      return Interval64{a->lo + b->lo, a->hi + b->hi};
    case AffineExprKind::Mul: {
      H::Expr p0 = a->lo * b->lo, p1 = a->lo * b->hi, p2 = a->hi * b->lo,
              p3 = a->hi * b->hi;
      return Interval64{H::min(H::min(p0, p1), H::min(p2, p3)),
                        H::max(H::max(p0, p1), H::max(p2, p3))};
    }
    default:
      break;
    }
    // Divisions and modulo: by a fixed value (a constant or a symbol) only.
    if (!b->lo.same_as(b->hi))
      return std::nullopt;
    H::Expr k = b->lo;
    switch (e.getKind()) {
    case AffineExprKind::FloorDiv:
      return hull(halideFloorDiv(a->lo, k), halideFloorDiv(a->hi, k));
    case AffineExprKind::CeilDiv:
      return hull(-halideFloorDiv(-a->lo, k), -halideFloorDiv(-a->hi, k));
    case AffineExprKind::Mod:
      // halideFloorMod: in [0, k - 1] for k > 0, [k + 1, 0] for k < 0, the
      // dividend itself for k = 0.
      return Interval64{
          H::select(k > 0, H::Expr(int64_t(0)), H::select(k < 0, k + 1, a->lo)),
          H::select(k > 0, k - 1, H::select(k < 0, H::Expr(int64_t(0)), a->hi))};
    default:
      return std::nullopt;
    }
  }

  /// `pe.expr` with its dimension variables replaced by `coords`.
  static H::Expr substituteDims(const TensorView::PresenceExpr &pe,
                                const std::vector<H::Expr> &coords) {
    std::map<std::string, H::Expr> at;
    for (unsigned k = 0; k < pe.dims.size(); ++k)
      at[pe.dims[k]] = coords[k];
    return HI::substitute(at, pe.expr);
  }

  /// The names of the Funcs `e` calls (not arguments).
  static std::set<std::string> funcsCalled(const H::Expr &e) {
    struct Calls : HI::IRGraphVisitor {
      std::set<std::string> names;
      using HI::IRGraphVisitor::visit;
      void visit(const HI::Call *c) override {
        if (c->call_type == HI::Call::Halide)
          names.insert(c->name);
        HI::IRGraphVisitor::visit(c);
      }
    } calls;
    e.accept(&calls);
    return calls.names;
  }

  /// Whether `e` reads a stage of the pipeline (a clamped copy of an
  /// argument is not one).
  bool readsStage(const H::Expr &e) const {
    std::set<std::string> names = funcsCalled(e);
    return llvm::any_of(p.stages, [&](const HalideStage &s) {
      return names.count(s.func.name());
    });
  }

  //===--------------------------------------------------------------------===//
  // Regions
  //===--------------------------------------------------------------------===//

  /// The iteration point of one einsum, as the regions see it.
  struct Point {
    EinsumOp op;
    SmallVector<H::Expr> dims; // Int(32): a Var, an RVar
    SmallVector<H::Expr> sizes;
    SmallVector<H::Expr> syms;
    unsigned stage; // the stage being defined (for uses)
  };

  /// A new error code for a read of dimension `dim` of `t` out of range.
  H::Expr newReadError(const TensorView &t, unsigned dim, EinsumOp op,
                       const std::string &how) {
    HalideRunError e;
    e.what = "out-of-range read of " + t.description;
    e.argument = t.argument;
    e.dimension = dim;
    e.where = how + " in the attn.einsum at " + locationText(op.getLoc());
    p.runErrors.push_back(e);
    return H::Expr(static_cast<int32_t>(p.runErrors.size()));
  }

  /// Argument `t` read with the coordinates of `dims` (bits, tensor order)
  /// clamped to the extents.
  H::Func clampedImage(const TensorView &t, uint64_t dims) {
    H::Func &f = clampedImages[{t.argument, dims}];
    if (f.defined())
      return f;
    f = H::Func(t.image.name() + "_clamped" + std::to_string(dims));
    unsigned rank = t.rank();
    std::vector<H::Var> vars;
    std::vector<H::Expr> args;
    for (unsigned v = 0; v < rank; ++v) {
      vars.push_back(H::Var(f.name() + "_v" + std::to_string(v)));
      unsigned k = rank - 1 - v;
      args.push_back(dims >> k & 1 ? H::clamp(vars.back(), 0, t.extents[k] - 1)
                                   : H::Expr(vars.back()));
    }
    f(vars) = t.image(args);
    return f;
  }

  /// Records that the stage being defined at `pt` reads `tensor`: for the
  /// scheduler. `links[v]` gives the consumer var of each tensor var.
  void addUse(const TensorView &tensor, unsigned consumer,
              std::vector<int> links) {
    if (tensor.stage < 0)
      return;
    p.stages[tensor.stage].uses.push_back({consumer, std::move(links)});
  }

  /// Translates a guard or body block at `pt`; `args` are the block
  /// arguments' values (inputs, then dimensions). Reads are lazy: a read
  /// after an absent or out-of-range one is not checked.
  FailureOr<RegionValue> translateRegion(Block &block, ArrayRef<H::Expr> args,
                                         unsigned firstDimArg,
                                         const Point &pt) {
    RegionValue rv;
    llvm::DenseMap<Value, H::Expr> local;
    for (auto [i, a] : llvm::enumerate(block.getArguments()))
      local[a] = args[i];
    auto lookup = [&](Value v) -> H::Expr {
      auto it = local.find(v);
      if (it != local.end())
        return it->second;
      return scalars.lookup(v);
    };
    for (Operation &op : block.without_terminator()) {
      if (auto read = dyn_cast<ReadOp>(&op)) {
        auto it = tensors.find(read.getTensor());
        if (it == tensors.end())
          return read.emitOpError("reads a tensor the Halide code generator "
                                  "does not know"),
                 failure();
        const TensorView &t = it->second;
        std::vector<H::Expr> coords;
        H::Expr oobAny = HI::const_false();
        H::Expr code = HI::make_zero(H::Int(32));
        for (auto [k, idx] : llvm::enumerate(read.getIndices())) {
          auto barg = dyn_cast<BlockArgument>(idx);
          if (barg && barg.getOwner() == &block &&
              barg.getArgNumber() >= firstDimArg) {
            unsigned d = barg.getArgNumber() - firstDimArg;
            if (provablyInRange(pt.op, d, read.getTensor(), k)) {
              // Per-tile stages compute whole tiles and blocks of rows:
              // past the extent, the read repeats the edge (never used).
              coords.push_back(
                  t.isImage && paddedNames.count(indexName(pt.op, d))
                      ? H::min(pt.dims[d], t.extents[k] - 1)
                      : pt.dims[d]);
              continue;
            }
          }
          H::Expr i64 = lookup(idx);
          if (!i64.defined())
            return read.emitOpError("uses an index the Halide code "
                                    "generator cannot see"),
                   failure();
          i64 = H::cast(H::Int(64), i64);
          H::Expr ext = t.extents[k];
          H::Expr ext64 = H::cast(H::Int(64), ext);
          H::Expr oob = i64 < 0 || i64 >= ext64;
          // Clamped twice: in 64 bits (no wrap-around), then in 32 bits so
          // that Halide's bounds inference sees [0, extent).
          coords.push_back(
              H::clamp(H::cast(H::Int(32),
                               H::clamp(i64, H::Expr(int64_t(0)), ext64 - 1)),
                       0, ext - 1));
          code = firstError(
              code, errorIf(oob, newReadError(t, k, pt.op, "by attn.read")));
          oobAny = orE(oobAny, oob);
          rv.checked = true;
        }
        auto [value, present] = t.load(coords);
        std::vector<int> links(t.rank(), -1);
        addUse(t, pt.stage, links);
        rv.error = firstError(rv.error, errorIf(rv.reached, code));
        rv.reached = andE(rv.reached, andE(notE(oobAny), present));
        rv.present = andE(rv.present, present);
        rv.elementPresence |= t.hasElementPresence();
        local[read.getResult()] = value;
        continue;
      }
      FailureOr<H::Expr> e = translateScalarOp(&op, lookup, H::Int(64));
      if (failed(e))
        return failure();
      local[op.getResult(0)] = *e;
      // Integer division by zero is an error where it is evaluated.
      if (isa<arith::DivSIOp, arith::DivUIOp, arith::FloorDivSIOp,
              arith::CeilDivSIOp, arith::RemSIOp, arith::RemUIOp>(op)) {
        H::Expr divisor = lookup(op.getOperand(1));
        const int64_t *c = HI::as_const_int(divisor);
        if (!c || *c == 0) {
          HalideRunError err;
          err.what = "integer division by zero";
          err.where = "by " + op.getName().getStringRef().str() +
                      " in the attn.einsum at " + locationText(pt.op->getLoc());
          p.runErrors.push_back(err);
          H::Expr code(static_cast<int32_t>(p.runErrors.size()));
          rv.error = firstError(rv.error,
                                errorIf(andE(rv.reached, divisor == 0), code));
          rv.checked = true;
        }
      }
    }
    auto yield = cast<YieldOp>(block.getTerminator());
    rv.value = lookup(yield.getValues()[0]);
    if (!rv.value.defined())
      return yield.emitOpError("yields a value the Halide code generator "
                               "cannot see"),
             failure();
    return rv;
  }

  /// Whether every point that passes the filter of `op` has 0 <= e <
  /// extent of dimension `k` of `tensor`: e has no negative part and each
  /// disjunct holds a constraint S - 1 - e >= 0 with S a symbol or constant
  /// whose key is the extent's (the bound of the last tile, m1 * T + m0 < M).
  bool filterBounds(EinsumOp op, AffineExpr e, Value tensor, unsigned k,
                    ArrayRef<H::Expr> syms) {
    std::optional<ArrayAttr> sets = op.getFilter();
    std::optional<LinearForm> f = linearize(e, op.getNumDims(), syms);
    const int64_t *low = f ? HI::as_const_int(HI::simplify(f->rest)) : nullptr;
    std::optional<std::string> key = tensorDimKey(tensor, k);
    if (!sets || !low || *low < 0 || !key ||
        llvm::any_of(f->coeffs, [](int64_t c) { return c < 0; }))
      return false;
    return llvm::all_of(*sets, [&](Attribute a) {
      IntegerSet set = cast<IntegerSetAttr>(a).getValue();
      for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
        if (set.isEq(c))
          continue;
        AffineExpr bound = simplifyAffineExpr(set.getConstraint(c) + e + 1,
                                              set.getNumDims(),
                                              set.getNumSymbols());
        std::optional<std::string> boundKey;
        if (auto s = dyn_cast<AffineSymbolExpr>(bound))
          boundKey = sizeKey(op.getSymbols()[s.getPosition()]);
        else if (auto n = dyn_cast<AffineConstantExpr>(bound))
          boundKey = "#" + std::to_string(n.getValue());
        if (boundKey == key)
          return true;
      }
      return false;
    });
  }

  /// The iteration points of `op` that pass its filter and read present
  /// elements through every map, as an affine domain over its dimensions;
  /// nothing where presence is not affine (a guard, tables, an input with
  /// stored flags, a map or filter that is not affine where it matters).
  /// `uniform` receives the inputs' size conditions.
  std::optional<AffineDomain> contributionDomain(EinsumOp op, const Point &pt,
                                                 H::Expr &uniform) {
    if (op.hasGuard() || !op.getTables().empty())
      return std::nullopt;
    std::optional<AffineDomain> d = AffineDomain::fromIntegerSets(
        op.getFilter() ? *op.getFilter() : ArrayAttr(), op.getNumDims(),
        pt.syms);
    for (auto [i, input] : llvm::enumerate(op.getInputs())) {
      const TensorView &t = tensors.find(input)->second;
      if (!d || t.presentIndex >= 0)
        return std::nullopt;
      uniform = andE(uniform, t.uniformPresent);
      if (!t.domain)
        continue;
      std::optional<AffineDomain> pulled =
          t.domain->pullBack(op.getInputMap(i), pt.syms);
      d = pulled ? d->intersect(*pulled) : std::nullopt;
    }
    return d;
  }

  //===--------------------------------------------------------------------===//
  // Einsum
  //===--------------------------------------------------------------------===//

  LogicalResult visitEinsum(EinsumOp op) {
    unsigned n = op.getNumDims();
    unsigned stageIndex = p.stages.size();
    std::string name = "e" + std::to_string(stageIndex);
    Point pt;
    pt.op = op;
    pt.stage = stageIndex;
    for (Value s : llvm::concat<Value>(op.getSizes(), op.getSymbols())) {
      H::Expr e = scalars.lookup(s);
      if (!e.defined())
        return op.emitOpError("has a size or symbol the Halide code "
                              "generator cannot compute");
      (pt.sizes.size() < n ? pt.sizes : pt.syms)
          .push_back(e.type() == H::Int(32) ? e : H::cast(H::Int(32), e));
    }
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    std::optional<H::Type> vt =
        halideValueType(resultType.getElementType(), H::Int(64));
    std::optional<H::Type> st = halideStorageType(resultType.getElementType());
    if (!vt || !st)
      return op.emitOpError("has a result element type the Halide code "
                            "generator does not support");
    ReductionKind kind = op.getKind();
    if (vt->is_bool() && kind != ReductionKind::none)
      return op.emitOpError("reduces i1 values, which the Halide code "
                            "generator does not support");

    // Result dimensions are pure Vars (Halide order: innermost first);
    // reduced dimensions an RDom, innermost = the last reduced dimension.
    AffineMap resultMap = op.getResultMap();
    unsigned rank = resultMap.getNumResults();
    std::vector<H::Var> vars(rank);
    pt.dims.resize(n);
    SmallVector<int> dimToVar(n, -1);
    for (unsigned j = 0; j < rank; ++j) {
      unsigned d = cast<AffineDimExpr>(resultMap.getResult(j)).getPosition();
      H::Var v(name + "_d" + std::to_string(d));
      vars[rank - 1 - j] = v;
      pt.dims[d] = v;
      dimToVar[d] = rank - 1 - j;
    }
    SmallVector<unsigned> reduced = op.getReducedDims();
    std::optional<H::RDom> rdom;
    std::vector<H::RVar> rvars;
    SmallVector<int> dimToRVar(n, -1);
    H::Expr volumePositive = HI::const_true();
    if (!reduced.empty()) {
      H::Region region;
      for (auto it = reduced.rbegin(); it != reduced.rend(); ++it)
        region.push_back(H::Range(0, pt.sizes[*it]));
      rdom = H::RDom(region, name + "_r");
      for (unsigned i = 0; i < reduced.size(); ++i) {
        unsigned d = reduced[reduced.size() - 1 - i];
        H::RVar r = (*rdom)[i];
        rvars.push_back(r);
        pt.dims[d] = r;
        dimToRVar[d] = i;
        volumePositive = andE(volumePositive, pt.sizes[d] > 0);
      }
    }

    HalideStage stage;
    stage.name = name;
    stage.func = H::Func(name);
    stage.vars = vars;
    stage.rvars = rvars;
    stage.elementwise = kind == ReductionKind::none;
    stage.varNames.resize(rank);
    stage.extents.resize(rank);
    for (unsigned j = 0; j < rank; ++j) {
      unsigned d = cast<AffineDimExpr>(resultMap.getResult(j)).getPosition();
      stage.varNames[rank - 1 - j] = indexName(op, d);
      stage.extents[rank - 1 - j] = pt.sizes[d];
    }
    p.stages.push_back(stage);

    SmallVector<H::Expr> dims64;
    for (const H::Expr &d : pt.dims)
      dims64.push_back(H::cast(H::Int(64), d));

    // The filter: a union of conjunctions of affine constraints.
    H::Expr filter = HI::const_true();
    if (std::optional<ArrayAttr> sets = op.getFilter()) {
      filter = HI::const_false();
      for (Attribute a : *sets) {
        IntegerSet set = cast<IntegerSetAttr>(a).getValue();
        H::Expr conj = HI::const_true();
        for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
          FailureOr<H::Expr> e =
              affine(set.getConstraint(c), pt.dims, pt.syms, op);
          if (failed(e))
            return failure();
          conj = andE(conj, set.isEq(c) ? (*e == 0) : (*e >= 0));
        }
        filter = orE(filter, conj);
      }
    }

    // The guard, evaluated where the filter holds.
    RegionValue guard;
    guard.value = HI::const_true();
    if (op.hasGuard()) {
      FailureOr<RegionValue> g =
          translateRegion(op.getGuard().front(), dims64, 0, pt);
      if (failed(g))
        return failure();
      guard = *g;
    }
    H::Expr guardPass = andE(guard.reached, guard.value);

    // Inputs read through the indexing maps.
    SmallVector<H::Expr> bodyArgs;
    H::Expr mapOob = HI::const_false(), mapError = HI::make_zero(H::Int(32));
    H::Expr mapPresent = HI::const_true();
    // Every input read in range is present: an input read out of range is an
    // error only then (the point would otherwise contribute).
    H::Expr mapPresentInRange = HI::const_true();
    // The inputs' presence without reading a stage's flag (nothing where an
    // input's presence is a flag with no such expression).
    std::optional<H::Expr> mapPresentExpr = HI::const_true();
    bool elementPresence =
        guard.elementPresence || op.hasFilter() || op.hasGuard();
    bool checked = guard.checked;
    // Whether no point can read out of range, as a run-time condition on
    // the sizes and symbols (every checked map coordinate bounded over the
    // whole iteration box); false where a region reads or divides.
    H::Expr provablyNoError = guard.checked ? HI::const_false()
                                            : HI::const_true();
    for (auto [i, input] : llvm::enumerate(op.getInputs())) {
      auto it = tensors.find(input);
      if (it == tensors.end())
        return op.emitOpError("reads a tensor the Halide code generator "
                              "does not know");
      const TensorView &t = it->second;
      AffineMap map = op.getInputMap(i);
      std::vector<H::Expr> coords;
      std::vector<int> links(t.rank(), -1);
      HalideMapRead read;
      read.consumer = stageIndex;
      read.isImage = t.isImage;
      read.image = t.image;
      read.producer = t.stage;
      read.pureVar.assign(t.rank(), -1);
      read.reductionVar.assign(t.rank(), -1);
      H::Expr inputOob = HI::const_false();
      uint64_t padded = 0; // tensor dims read past the extent when padded
      for (unsigned k = 0; k < map.getNumResults(); ++k) {
        AffineExpr e = map.getResult(k);
        if (auto d = dyn_cast<AffineDimExpr>(e)) {
          read.pureVar[t.rank() - 1 - k] = dimToVar[d.getPosition()];
          read.reductionVar[t.rank() - 1 - k] = dimToRVar[d.getPosition()];
        }
        // The scheduler's link: a coordinate that depends on one result
        // dimension of this einsum only.
        llvm::SmallBitVector used(n);
        e.walk([&](AffineExpr sub) {
          if (auto d = dyn_cast<AffineDimExpr>(sub))
            used.set(d.getPosition());
        });
        if (used.count() == 1 && dimToVar[used.find_first()] >= 0)
          links[t.rank() - 1 - k] = dimToVar[used.find_first()];
        if (auto d = dyn_cast<AffineDimExpr>(e))
          if (provablyInRange(op, d.getPosition(), input, k)) {
            coords.push_back(pt.dims[d.getPosition()]);
            if (t.isImage && paddedNames.count(indexName(op, d.getPosition())))
              padded |= uint64_t(1) << k;
            continue;
          }
        FailureOr<H::Expr> c = affine(e, pt.dims, pt.syms, op);
        if (failed(c))
          return failure();
        H::Expr ext = t.extents[k];
        H::Expr oob = *c < 0 || *c >= ext;
        coords.push_back(H::clamp(*c, 0, ext - 1));
        // In range wherever the filter holds (the last tile's bound,
        // m1 * T + m0 < M): never an error; bounded above for the points
        // outside it (never below 0).
        if (filterBounds(op, e, input, k, pt.syms)) {
          coords.back() = H::min(*c, ext - 1);
          continue;
        }
        mapError = firstError(
            mapError, errorIf(oob, newReadError(t, k, op,
                                                "through the map of input " +
                                                    std::to_string(i))));
        inputOob = orE(inputOob, oob);
        checked = true;
        std::optional<Interval64> range = boxInterval(e, pt.sizes, pt.syms);
        provablyNoError =
            range ? andE(provablyNoError,
                         range->lo >= 0 &&
                             range->hi <= H::cast(H::Int(64), ext) - 1)
                  : HI::const_false();
      }
      addUse(t, stageIndex, links);
      // Per-tile stages are computed over whole tiles and blocks of rows
      // (HalideSchedule.cpp): past the extent, argument reads repeat the
      // edge (values that are never read).
      TensorView source = t;
      if (padded) {
        source.isImage = false;
        source.func = clampedImage(t, padded);
        read.isImage = false;
        read.source = source.func;
      }
      p.mapReads.push_back(read);
      auto [value, present] = source.load(coords);
      if (t.presentIndex < 0)
        mapPresentExpr = mapPresentExpr ? andE(*mapPresentExpr, present)
                                        : mapPresentExpr;
      else if (t.presenceExpr && mapPresentExpr)
        mapPresentExpr = andE(*mapPresentExpr,
                              substituteDims(*t.presenceExpr, coords));
      else
        mapPresentExpr = std::nullopt;
      bodyArgs.push_back(value);
      mapOob = orE(mapOob, inputOob);
      mapPresent = andE(mapPresent, present);
      mapPresentInRange = andE(mapPresentInRange, orE(inputOob, present));
      elementPresence |= t.hasElementPresence();
    }
    for (const H::Expr &d : dims64)
      bodyArgs.push_back(d);

    FailureOr<RegionValue> body = translateRegion(
        op.getBody().front(), bodyArgs, op.getInputs().size(), pt);
    if (failed(body))
      return failure();
    elementPresence |= body->elementPresence;
    checked |= body->checked;
    if (body->checked)
      provablyNoError = HI::const_false();
    H::Expr value = body->value;
    if (value.type() != *vt)
      return op.emitOpError("body yields a value of an unexpected type");

    // Presence as an affine domain where it is one (no guard or tables,
    // every input so; a range-checked read fails the run where it matters,
    // see the error check): no flag is stored, the value is computed
    // unconditionally (absent values are never read), and a reduction's
    // where-clause keeps only what decides its contributions.
    std::optional<AffineDomain> contribution, resultDomain;
    H::Expr inputsUniform = HI::const_true();
    contribution = contributionDomain(op, pt, inputsUniform);
    if (contribution) {
      std::optional<AffineDomain> d = contribution;
      for (unsigned r : llvm::reverse(reduced))
        if (d)
          d = d->eliminate(r, pt.sizes[r]);
      if (d) {
        SmallVector<unsigned> keep, kept;
        for (unsigned k = 0; k < n; ++k)
          if (!llvm::is_contained(reduced, k))
            kept.push_back(k);
        for (AffineExpr e : resultMap.getResults())
          keep.push_back(llvm::find(kept, cast<AffineDimExpr>(e).getPosition()) -
                         kept.begin());
        resultDomain = d->select(keep);
        elementPresence = false;
      }
    }

    // Where the point exists and contributes (ignoring out-of-range reads,
    // which fail the run anyway), and the error code of the point.
    H::Expr contributes =
        andE(andE(guard.present, guard.value), andE(mapPresent, body->present));
    auto pointError = [&](const H::Expr &inFilter) {
      H::Expr atMaps = andE(inFilter, guardPass);
      H::Expr atBody = andE(atMaps, andE(notE(mapOob), mapPresent));
      return firstError(
          errorIf(inFilter, guard.error),
          firstError(errorIf(andE(atMaps, mapPresentInRange), mapError),
                     errorIf(atBody, body->error)));
    };

    // The error check is a computation of its own (buildErrorCheck), over
    // the iteration space, so that this stage can be scheduled like any
    // other (per tile, inlined): the error code of a point, where it passes
    // the filter.
    if (checked)
      addErrorCheck(name, pointError(filter), pt, provablyNoError);

    // Tuple layout: value [, presence].
    unsigned numElements = 1;
    int presentIndex = elementPresence ? numElements++ : -1;
    auto tuple = [&](H::Expr v, H::Expr present) {
      std::vector<H::Expr> elems{v.type().is_bool() ? H::cast(H::UInt(8), v)
                                                    : v};
      if (presentIndex >= 0)
        elems.push_back(H::cast(H::UInt(8), present));
      return elems;
    };
    std::vector<H::Expr> pureArgs(vars.begin(), vars.end());
    H::Func &f = p.stages[stageIndex].func;

    if (kind == ReductionKind::none) {
      H::Expr present = andE(filter, contributes);
      std::vector<H::Expr> def =
          strict(tuple(value, present));
      if (def.size() == 1)
        f(pureArgs) = def[0];
      else
        f(pureArgs) = H::Tuple(def);
    } else {
      H::Type t = *vt;
      H::Expr identity;
      switch (kind) {
      case ReductionKind::sum:
        identity = HI::make_zero(t);
        break;
      case ReductionKind::prod:
        identity = HI::make_one(t);
        break;
      case ReductionKind::max:
        identity = t.is_float() ? negInf(t) : t.min();
        break;
      case ReductionKind::min:
        identity = t.is_float() ? posInf(t) : t.max();
        break;
      case ReductionKind::none:
        break;
      }
      std::vector<H::Expr> init = tuple(identity, HI::const_false());
      if (init.size() == 1)
        f(pureArgs) = init[0];
      else
        f(pureArgs) = H::Tuple(init);

      // The filter (and the guard, so that nothing the guard excludes is
      // loaded) restrict the reduction domain (a guard read out of range
      // fails the run: the error check).
      H::Expr where = filter;
      if (op.hasGuard())
        where = andE(where, guardPass);
      // With one conjunction, constraints that involve no reduced dimension
      // only decide the result's presence (recorded in its domain). In a
      // per-tile partial (a dimension is a tile index), those that bound a
      // reduced dimension by another one that varies within a tile (the
      // rows of a causal diagonal) select the reduction's identity instead,
      // so that the rows stay free to be vectorized; the others (the last
      // tile's bound) bound the reduction loops.
      H::Expr masked = HI::const_true();
      bool perTile = false;
      for (unsigned d = 0; d < n; ++d)
        perTile |= isTileIndex(indexName(op, d));
      if (resultDomain && contribution->isConjunction()) {
        auto usesReduced = [&](const AffineConstraint &c) {
          return llvm::any_of(reduced, [&](unsigned r) { return c.coeffs[r]; });
        };
        auto usesRow = [&](const AffineConstraint &c) {
          if (!perTile)
            return false;
          for (unsigned d = 0; d < n; ++d)
            if (c.coeffs[d] && !llvm::is_contained(reduced, d) &&
                !isTileIndex(indexName(op, d)))
              return true;
          return false;
        };
        where = contribution->containsIf(pt.dims, [&](const AffineConstraint &c) {
          return usesReduced(c) && !usesRow(c);
        });
        masked = contribution->containsIf(pt.dims, [&](const AffineConstraint &c) {
          return usesReduced(c) && usesRow(c);
        });
      } else if (resultDomain) {
        where = contribution->contains(pt.dims);
      }
      if (!isTrue(where))
        rdom->where(where);
      for (unsigned v = 0; v < rank; ++v)
        if (HI::expr_uses_var(where, vars[v].name()))
          p.stages[stageIndex].whereVars |= uint64_t(1) << v;
      // Every reduction variable must appear in the update, or Halide drops
      // its loop (a body that ignores a reduced index, like a count, would
      // then run once): a condition the simplifier later proves true.
      H::Expr rvarsUsed = HI::const_true();
      for (const H::RVar &r : rvars)
        rvarsUsed = rvarsUsed && H::Expr(r) >= 0;

      H::FuncRef self = f(pureArgs);
      H::Expr acc = numElements == 1 ? H::Expr(self) : H::Expr(self[0]);
      H::Expr combined;
      switch (kind) {
      case ReductionKind::sum:
        combined = acc + value; // see accumulate() below
        break;
      case ReductionKind::prod:
        combined = acc * value;
        break;
      case ReductionKind::max:
        combined = H::max(acc, value);
        break;
      case ReductionKind::min:
        combined = H::min(acc, value);
        break;
      case ReductionKind::none:
        break;
      }
      combined = H::select(rvarsUsed, strict(combined), acc);
      std::vector<H::Expr> upd;
      if (presentIndex >= 0) {
        upd.push_back(strict(H::select(contributes, combined, acc)));
        upd.push_back(
            H::select(contributes, H::Expr(uint8_t(1)), self[presentIndex]));
      } else {
        // A masked term keeps the accumulator (a blend after the FMA).
        // The mask holds on most of the tiles a block sees (all of them but
        // the diagonal for causal): `likely` makes Halide split the
        // reduction loop into the range of keys where it holds for every
        // row of the block, without the blend, and the ranges around it.
        H::Expr next = kind == ReductionKind::sum ? accumulate(acc, value)
                                                  : strict(combined);
        if (!isTrue(masked))
          next = H::likely_if_innermost(next);
        upd.push_back(H::select(andE(rvarsUsed, masked), next, acc));
      }
      if (upd.size() == 1)
        f(pureArgs) = upd[0];
      else
        f(pureArgs) = H::Tuple(upd);
    }

    TensorView view;
    // Presence as an expression of the arguments only, where it is one.
    if (mapPresentExpr) {
      H::Expr point = andE(filter, andE(andE(guard.present, guard.value),
                                        andE(*mapPresentExpr, body->present)));
      if (!readsStage(point)) {
        std::vector<std::string> all, result;
        for (const H::Expr &d : pt.dims)
          all.push_back(d.as<HI::Variable>()->name);
        for (AffineExpr e : resultMap.getResults())
          result.push_back(all[cast<AffineDimExpr>(e).getPosition()]);
        bool usesReduced = llvm::any_of(reduced, [&](unsigned r) {
          return HI::expr_uses_var(point, all[r]);
        });
        if (!usesReduced)
          view.presenceExpr = TensorView::PresenceExpr{
              kind == ReductionKind::none ? point
                                          : andE(volumePositive, point),
              result};
        if (kind != ReductionKind::none) {
          view.pointPresence = TensorView::PresenceExpr{point, all};
          view.pointSizes = pt.sizes;
          view.pointReduced.assign(reduced.begin(), reduced.end());
          for (AffineExpr e : resultMap.getResults())
            view.pointResultDims.push_back(
                cast<AffineDimExpr>(e).getPosition());
        }
      }
    }
    view.func = f;
    view.stage = stageIndex;
    view.elementType = resultType.getElementType();
    view.numElements = numElements;
    view.presentIndex = presentIndex;
    if (resultDomain) {
      view.uniformPresent = inputsUniform;
      view.domain = resultDomain;
    } else if (presentIndex < 0) {
      view.uniformPresent = kind == ReductionKind::none
                                ? contributes
                                : andE(contributes, volumePositive);
    }
    for (unsigned j = 0; j < rank; ++j)
      view.extents.push_back(
          pt.sizes[cast<AffineDimExpr>(resultMap.getResult(j)).getPosition()]);
    view.description =
        "the intermediate defined at " + locationText(op.getLoc());
    tensors[op.getResult()] = view;
    return success();
  }

  //===--------------------------------------------------------------------===//
  // attn.online: the combine step of the one-pass rewrite
  //===--------------------------------------------------------------------===//

  /// The domain of a view read through `map` (over the op's dimensions), or
  /// nothing when its presence is a stored flag or the map is not affine.
  std::optional<AffineDomain> domainThrough(const TensorView &t, AffineMap map,
                                            ArrayRef<H::Expr> syms) {
    if (t.presentIndex >= 0)
      return std::nullopt;
    if (!t.domain)
      return AffineDomain::everywhere(map.getNumDims());
    return t.domain->pullBack(map, syms);
  }

  /// `d` with the dimensions `reduced` eliminated, on the coordinates of
  /// `map` (whose dimensions are among `kept`, the others).
  std::optional<AffineDomain> resultDomainOf(std::optional<AffineDomain> d,
                                             ArrayRef<unsigned> reduced,
                                             ArrayRef<unsigned> kept,
                                             AffineMap map,
                                             ArrayRef<H::Expr> sizes) {
    for (unsigned r : llvm::reverse(reduced))
      if (d)
        d = d->eliminate(r, sizes[r]);
    if (!d)
      return std::nullopt;
    SmallVector<unsigned> keep;
    for (AffineExpr e : map.getResults())
      keep.push_back(llvm::find(kept, cast<AffineDimExpr>(e).getPosition()) -
                     kept.begin());
    return d->select(keep);
  }

  /// The dimensions of the last tileClasses Func, outermost last: the
  /// online's dimension and whether it stands for the block of rows.
  std::vector<std::pair<unsigned, bool>> tileClassDims;

  /// The run-time tile classes of an attn.online whose `ref` (a reduction
  /// einsum over the elements of a tile) has a stored presence flag that
  /// depends on the arguments only (a filter that reads a tensor: a
  /// block-sparse layout, per-sequence lengths): a Func, computed before
  /// the main loops, over the block of rows `q` (or the row), the tiles and
  /// the other dimensions the presence reads, that is 1 where some point of
  /// the block's rows and the tile's elements contributes (exact: the
  /// presence expression itself is evaluated over the whole tile), else 0.
  /// Nothing where the presence is not such an expression.
  std::optional<H::Func>
  tileClasses(OnlineOp op, const TensorView &ref, int q,
              ArrayRef<unsigned> reduced,
              ArrayRef<H::Expr> sizes, ArrayRef<H::Expr> syms,
              const std::string &name) {
    if (!ref.pointPresence || ref.pointResultDims.empty())
      return std::nullopt;
    const TensorView::PresenceExpr &pp = *ref.pointPresence;
    unsigned n = op.getNumDims();
    // The online's point: a Var per dimension, the row of a block q * B + qi.
    std::string cname = name + "_tile_class";
    std::vector<H::Var> vars(n);
    SmallVector<H::Expr> coords(n);
    H::Region region;
    for (unsigned d = 0; d < n; ++d) {
      vars[d] = H::Var(cname + "_d" + std::to_string(d));
      coords[d] = vars[d];
    }
    if (q >= 0)
      region.push_back(H::Range(0, blockRows));
    // ref's reduced dimensions (the elements of the tile) are the RDom's.
    SmallVector<unsigned> refReduced(ref.pointReduced.begin(),
                                     ref.pointReduced.end());
    for (unsigned r : llvm::reverse(refReduced))
      region.push_back(H::Range(0, ref.pointSizes[r]));
    if (region.empty())
      return std::nullopt;
    H::RDom r(region, cname + "_r");
    unsigned next = 0;
    if (q >= 0)
      coords[q] = H::min(vars[q] * blockRows + r[next++], sizes[q] - 1);
    // ref's dimensions: its result through the online's map, its reduced
    // ones the tile's elements.
    AffineMap refMap = op.getRefMap();
    std::map<std::string, H::Expr> at;
    for (unsigned j = 0; j < refMap.getNumResults(); ++j) {
      FailureOr<H::Expr> c = affine(refMap.getResult(j), coords, syms, op);
      if (failed(c))
        return std::nullopt;
      at[pp.dims[ref.pointResultDims[j]]] = *c;
    }
    H::Expr used = HI::const_true();
    for (unsigned i = 0; i < refReduced.size(); ++i) {
      unsigned d = refReduced[refReduced.size() - 1 - i];
      at[pp.dims[d]] = r[next];
      used = used && r[next] >= 0; // every RVar in the update (see visitEinsum)
      ++next;
    }
    H::Expr point = HI::substitute(at, pp.expr);
    // The class's dimensions: the block, the tiles, and those it reads.
    tileClassDims.clear();
    std::vector<H::Var> args;
    for (unsigned d = 0; d < n; ++d) {
      bool isTile = llvm::is_contained(reduced, d);
      if (static_cast<int>(d) == q || isTile ||
          HI::expr_uses_var(point, vars[d].name())) {
        args.push_back(vars[d]);
        tileClassDims.push_back({d, static_cast<int>(d) == q});
      }
    }
    std::reverse(args.begin(), args.end()); // Halide order: innermost first
    std::reverse(tileClassDims.begin(), tileClassDims.end());
    H::Func cls(cname);
    std::vector<H::Expr> self(args.begin(), args.end());
    cls(self) = H::Expr(uint8_t(0));
    cls(self) = H::select(used && point, H::Expr(uint8_t(1)), cls(self));
    p.tileClasses.push_back(cls);
    return cls;
  }

  /// One Tuple-valued Func over the union of the result dimensions holds the
  /// running state (sum_0, ..., [presence flags,] max); its update over an
  /// RDom on the reduced dimensions (the tiles m1) is the online step
  ///   new = max(old, ref)
  ///   sum_i = sum_i * exp(c_i (new - old)) + part_i * exp(c_i (new - ref))
  /// where `ref` is present (and part_i too, for its term): the sums are
  /// kept relative to the running maximum, so they are final at the end.
  /// Each result projects the state (the dimensions it does not name at 0,
  /// present only where those extents are positive, as in the interpreter).
  ///
  /// Where presence is affine the loop over the tiles is bounded by it: the
  /// result dimension whose presence `ref` couples with the tiles (the query
  /// rows of a causal or windowed filter) is split into blocks of
  /// `blockRows` rows, so that "some row of the block sees the tile" depends
  /// on the block and the tile only and becomes the bound of the tile loop;
  /// the exact condition selects per row. Rows of the last block beyond the
  /// extent repeat its last row (computed, never read).
  LogicalResult visitOnline(OnlineOp op) {
    unsigned n = op.getNumDims();
    unsigned stageIndex = p.stages.size();
    std::string name = "o" + std::to_string(stageIndex);
    SmallVector<H::Expr> sizes, syms;
    for (Value v : llvm::concat<Value>(op.getSizes(), op.getSymbols())) {
      H::Expr e = scalars.lookup(v);
      if (!e.defined())
        return op.emitOpError("has a size or symbol the Halide code "
                              "generator cannot compute");
      (sizes.size() < n ? sizes : syms)
          .push_back(e.type() == H::Int(32) ? e : H::cast(H::Int(32), e));
    }
    Type elementType =
        cast<RankedTensorType>(op.getMax().getType()).getElementType();
    std::optional<H::Type> vt = halideValueType(elementType, H::Int(64));
    if (!vt || !vt->is_float())
      return op.emitOpError("has a non-float result, which the Halide code "
                            "generator does not support");
    H::Type t = *vt;
    SmallVector<const TensorView *> inputs;
    for (Value v : op->getOperands().take_front(1 + op.getNumParts())) {
      auto it = tensors.find(v);
      if (it == tensors.end())
        return op.emitOpError("reads a tensor the Halide code generator "
                              "does not know");
      inputs.push_back(&it->second);
    }
    unsigned numParts = op.getNumParts();
    auto inputMap = [&](unsigned i) {
      return i == 0 ? op.getRefMap() : op.getPartMap(i - 1);
    };
    auto resultMap = [&](unsigned k) {
      return k == 0 ? op.getMaxMap() : op.getSumMap(k - 1);
    };
    SmallVector<unsigned> reduced = op.getReducedDims(), kept;
    for (unsigned d = 0; d < n; ++d)
      if (!llvm::is_contained(reduced, d))
        kept.push_back(d);

    // Presence: affine domains of every result, or flags in the state.
    std::optional<AffineDomain> refDomain =
        domainThrough(*inputs[0], inputMap(0), syms);
    SmallVector<std::optional<AffineDomain>> resultDomains;
    bool affinePresence = refDomain.has_value();
    for (unsigned k = 0; affinePresence && k <= numParts; ++k) {
      std::optional<AffineDomain> d = refDomain;
      if (k > 0) {
        std::optional<AffineDomain> part =
            domainThrough(*inputs[k], inputMap(k), syms);
        d = part ? d->intersect(*part) : std::nullopt;
      }
      resultDomains.push_back(
          resultDomainOf(d, reduced, kept, resultMap(k), sizes));
      affinePresence = resultDomains.back().has_value();
    }

    // The blocked dimension, one of the maximum's: one that ref's presence
    // couples with a reduced dimension, or else the query rows (a dimension
    // no key-side argument has), so that the blocks' rows share each tile.
    int q = -1;
    for (AffineExpr e : op.getMaxMap().getResults()) {
      unsigned d = cast<AffineDimExpr>(e).getPosition();
      if (blockRows > 1 && !keySideNames.count(indexName(op, d)))
        q = d;
    }
    if (refDomain && blockRows > 1)
      for (AffineExpr e : op.getMaxMap().getResults()) {
        unsigned d = cast<AffineDimExpr>(e).getPosition();
        for (const AffineDomain::Conjunction &conj :
             refDomain->getDisjuncts())
          for (const AffineConstraint &c : conj)
            if (c.coeffs[d] != 0 && llvm::any_of(reduced, [&](unsigned r) {
                  return c.coeffs[r] != 0;
                }))
              q = d;
      }

    // The state's variables (tensor order) and the point's dimensions.
    std::vector<H::Var> tvars;
    std::vector<std::string> tnames;
    std::vector<H::Expr> textents;
    SmallVector<H::Expr> dims(n);
    H::Var qo, qi;
    for (unsigned d : kept) {
      std::string vn = name + "_d" + std::to_string(d);
      if (static_cast<int>(d) == q) {
        qo = H::Var(vn + "_block");
        qi = H::Var(vn);
        tvars.insert(tvars.end(), {qo, qi});
        tnames.insert(tnames.end(), {"", indexName(op, d)});
        textents.insert(textents.end(),
                        {(sizes[d] + blockRows - 1) / blockRows,
                         H::Expr(blockRows)});
        dims[d] = H::min(qo * blockRows + qi, sizes[d] - 1);
        continue;
      }
      tvars.push_back(H::Var(vn));
      tnames.push_back(indexName(op, d));
      textents.push_back(sizes[d]);
      dims[d] = tvars.back();
    }
    H::Region region;
    for (unsigned r : llvm::reverse(reduced))
      region.push_back(H::Range(0, sizes[r]));
    H::RDom rdom(region, name + "_r");
    std::vector<H::RVar> rvars;
    for (unsigned i = 0; i < reduced.size(); ++i) {
      rvars.push_back(rdom[i]);
      dims[reduced[reduced.size() - 1 - i]] = rdom[i];
    }

    // The tiles a point (or a block of rows) sees bound the tile loop
    // (also where the results' presence is not affine and is stored).
    if (refDomain) {
      H::Expr where = refDomain->contains(dims);
      if (q >= 0) {
        // Some row qo * B + qi (0 <= qi < B) of the block sees the point:
        // coordinate q of the op becomes the block, a new one the row.
        std::vector<LinearForm> forms;
        for (unsigned d = 0; d < n; ++d) {
          LinearForm lf{std::vector<int64_t>(n + 1, 0), H::Expr(0)};
          lf.coeffs[d] = static_cast<int>(d) == q ? blockRows : 1;
          if (static_cast<int>(d) == q)
            lf.coeffs[n] = 1;
          forms.push_back(lf);
        }
        std::optional<AffineDomain> block =
            refDomain->pullBack(forms, n + 1).eliminate(n, blockRows);
        if (block) {
          SmallVector<H::Expr> blockDims(dims);
          blockDims[q] = qo;
          where = block->contains(blockDims);
        }
      }
      if (!isTrue(where))
        rdom.where(where);
    } else if (std::optional<H::Func> cls = tileClasses(op, *inputs[0], q,
                                                        reduced, sizes,
                                                        syms, name)) {
      // Run-time classification: the tiles no point of the block can see
      // are skipped; the others keep the per-element presence.
      std::vector<H::Expr> at;
      for (const auto &[d, isBlock] : tileClassDims)
        at.push_back(isBlock ? H::Expr(qo) : dims[d]);
      rdom.where((*cls)(at) != 0);
    }

    // Inputs at the point (coordinates clamped where not provably in range:
    // the op is the pass's, its sizes are its operands').
    auto load = [&](unsigned i) -> FailureOr<std::pair<H::Expr, H::Expr>> {
      AffineMap map = inputMap(i);
      Value input = op->getOperand(i);
      std::vector<H::Expr> coords;
      for (unsigned k = 0; k < map.getNumResults(); ++k) {
        AffineExpr e = map.getResult(k);
        if (auto d = dyn_cast<AffineDimExpr>(e))
          if (provablyInRange(op, d.getPosition(), input, k)) {
            coords.push_back(dims[d.getPosition()]);
            continue;
          }
        FailureOr<H::Expr> c = affine(e, dims, syms, op);
        if (failed(c))
          return failure();
        coords.push_back(H::clamp(*c, 0, inputs[i]->extents[k] - 1));
      }
      return inputs[i]->load(coords);
    };

    // The state: sums, [flags: max, sums], max (last, read by the others
    // only through `old`).
    unsigned maxIndex = affinePresence ? numParts : 2 * numParts + 1;
    auto flagIndex = [&](unsigned k) { return numParts + k; };
    std::vector<H::Expr> init(maxIndex + 1, HI::make_zero(t));
    for (unsigned k = 0; !affinePresence && k <= numParts; ++k)
      init[flagIndex(k)] = H::Expr(uint8_t(0));
    init[maxIndex] = negInf(t);
    std::vector<H::Expr> args(tvars.rbegin(), tvars.rend());
    H::Func f(name);
    f(args) = H::Tuple(init);

    FailureOr<std::pair<H::Expr, H::Expr>> ref = load(0);
    if (failed(ref))
      return failure();
    auto [r, rp] = *ref;
    H::FuncRef self = f(args);
    H::Expr old = self[maxIndex];
    H::Expr next = H::select(rp, H::max(old, r), old);
    std::vector<H::Expr> update(maxIndex + 1);
    update[maxIndex] = next;
    if (!affinePresence)
      update[flagIndex(0)] = H::select(rp, H::Expr(uint8_t(1)),
                                       self[flagIndex(0)]);
    H::Expr one = HI::make_one(t), zero = HI::make_zero(t);
    for (unsigned i = 0; i < numParts; ++i) {
      FailureOr<std::pair<H::Expr, H::Expr>> part = load(i + 1);
      if (failed(part))
        return failure();
      auto [v, vp] = *part;
      H::Expr c = HI::make_const(
          t, cast<FloatAttr>(op.getRescale()[i]).getValueAsDouble());
      // exp(c * 0) is 1 also where both are infinite.
      H::Expr alpha = H::select(next == old, one, H::exp(c * (next - old)));
      H::Expr beta = H::select(next == r, one, H::exp(c * (next - r)));
      H::Expr contributes = andE(rp, vp);
      update[i] = self[i] * alpha + H::select(contributes, v * beta, zero);
      if (!affinePresence)
        update[flagIndex(i + 1)] = H::select(
            contributes, H::Expr(uint8_t(1)), self[flagIndex(i + 1)]);
    }
    f(args) = H::Tuple(strict(update));
    HalideStage stage;
    stage.name = name;
    stage.func = f;
    stage.vars.assign(tvars.rbegin(), tvars.rend());
    stage.varNames.assign(tnames.rbegin(), tnames.rend());
    stage.extents.assign(textents.rbegin(), textents.rend());
    stage.rvars = rvars;
    stage.online = true;
    if (q >= 0)
      for (unsigned v = 0; v < stage.vars.size(); ++v)
        if (stage.vars[v].same_as(qi))
          stage.blockVar = v;
    p.stages.push_back(stage);
    // Halide var index of each kept dimension (q: its row var).
    auto varOf = [&](unsigned d) {
      unsigned pos = 0;
      for (unsigned k : kept) {
        if (k == d)
          break;
        pos += static_cast<int>(k) == q ? 2 : 1;
      }
      if (static_cast<int>(d) == q)
        ++pos;
      return static_cast<int>(tvars.size() - 1 - pos);
    };
    for (unsigned i = 0; i < inputs.size(); ++i) {
      AffineMap map = inputMap(i);
      std::vector<int> links(map.getNumResults(), -1);
      for (unsigned k = 0; k < map.getNumResults(); ++k)
        if (auto d = dyn_cast<AffineDimExpr>(map.getResult(k)))
          if (llvm::is_contained(kept, d.getPosition()) &&
              static_cast<int>(d.getPosition()) != q)
            links[map.getNumResults() - 1 - k] = varOf(d.getPosition());
      addUse(*inputs[i], stageIndex, links);
    }

    // The results: projections of the state.
    for (unsigned k = 0; k <= numParts; ++k) {
      if (op->getResult(k).use_empty())
        continue;
      AffineMap map = resultMap(k);
      unsigned rank = map.getNumResults();
      unsigned resultStage = p.stages.size();
      std::string rname = name + "_result" + std::to_string(k);
      std::vector<H::Var> rvarsOut(rank);
      std::vector<H::Expr> stateArgs(tvars.size(), H::Expr(0));
      std::vector<int> links(tvars.size(), -1);
      H::Expr uniform = HI::const_true();
      for (unsigned d : kept) {
        auto named = llvm::find_if(map.getResults(), [&](AffineExpr e) {
          return cast<AffineDimExpr>(e).getPosition() == d;
        });
        if (named == map.getResults().end()) {
          uniform = andE(uniform, sizes[d] > 0);
          continue;
        }
        unsigned j = named - map.getResults().begin();
        H::Var v(rname + "_d" + std::to_string(d));
        rvarsOut[rank - 1 - j] = v;
        int sv = varOf(d);
        if (static_cast<int>(d) == q) {
          stateArgs[sv] = v % blockRows;
          stateArgs[sv + 1] = v / blockRows;
          links[sv + 1] = rank - 1 - j;
        } else {
          stateArgs[sv] = v;
        }
        links[sv] = rank - 1 - j;
      }
      unsigned index = k == 0 ? maxIndex : k - 1;
      H::Func g(rname);
      std::vector<H::Expr> gargs(rvarsOut.begin(), rvarsOut.end());
      if (affinePresence)
        g(gargs) = f(stateArgs)[index];
      else
        g(gargs) = H::Tuple(f(stateArgs)[index], f(stateArgs)[flagIndex(k)]);
      HalideStage rs;
      rs.name = rname;
      rs.func = g;
      rs.vars = rvarsOut;
      rs.elementwise = true;
      for (unsigned j = 0; j < rank; ++j)
        rs.varNames.push_back(stage.varNames[varOf(cast<AffineDimExpr>(
            map.getResult(rank - 1 - j)).getPosition())]);
      p.stages.push_back(rs);
      p.stages[stageIndex].uses.push_back({resultStage, links});

      TensorView view;
      view.func = g;
      view.stage = resultStage;
      view.elementType = elementType;
      view.numElements = affinePresence ? 1 : 2;
      view.presentIndex = affinePresence ? -1 : 1;
      view.uniformPresent = uniform;
      if (affinePresence) {
        view.uniformPresent = andE(uniform, inputs[0]->uniformPresent);
        if (k > 0)
          view.uniformPresent =
              andE(view.uniformPresent, inputs[k]->uniformPresent);
        view.domain = resultDomains[k];
      }
      for (AffineExpr e : map.getResults())
        view.extents.push_back(sizes[cast<AffineDimExpr>(e).getPosition()]);
      view.description = "the result " + std::to_string(k) +
                         " of the attn.online at " +
                         locationText(op.getLoc());
      tensors[op->getResult(k)] = view;
    }
    return success();
  }

  //===--------------------------------------------------------------------===//
  // Fill and return
  //===--------------------------------------------------------------------===//

  /// A new stage holding `in` where present and `fill` elsewhere, converted
  /// to `elementType`.
  FailureOr<TensorView> makeFilled(const TensorView &in, Type elementType,
                                   double fill, Operation *op) {
    std::optional<H::Type> vt = halideValueType(elementType, H::Int(64));
    std::optional<H::Type> st = halideStorageType(elementType);
    std::optional<rt::DType> dt = toRuntimeDType(elementType);
    if (!vt || !st || !dt) {
      op->emitOpError("has an element type the Halide code generator does "
                      "not support");
      return failure();
    }
    unsigned stageIndex = p.stages.size();
    std::string name = "f" + std::to_string(stageIndex);
    unsigned rank = in.rank();
    std::vector<H::Var> vars;
    std::vector<H::Expr> coords(rank);
    for (unsigned v = 0; v < rank; ++v) {
      vars.push_back(H::Var(name + "_v" + std::to_string(v)));
      coords[rank - 1 - v] = vars.back();
    }
    auto [value, present] = in.load(coords);
    double rounded = rt::roundToDType(fill, *dt);
    H::Expr fillValue =
        vt->is_bool()
            ? H::Expr(rounded != 0 ? HI::const_true() : HI::const_false())
        : vt->is_float() ? HI::make_const(*vt, rounded)
                         : HI::make_const(*vt, static_cast<int64_t>(rounded));
    H::Expr out = halideConvert(value, *vt);
    if (!isTrue(present))
      out = H::select(present, out, fillValue);
    if (vt->is_bool())
      out = H::cast(H::UInt(8), out);

    HalideStage stage;
    stage.name = name;
    stage.func = H::Func(name);
    stage.vars = vars;
    stage.elementwise = true;
    stage.func(std::vector<H::Expr>(vars.begin(), vars.end())) = strict(out);
    p.stages.push_back(stage);
    std::vector<int> links(rank);
    for (unsigned v = 0; v < rank; ++v)
      links[v] = v;
    addUse(in, stageIndex, links);

    TensorView view;
    view.func = p.stages[stageIndex].func;
    view.stage = stageIndex;
    view.elementType = elementType;
    view.uniformPresent = HI::const_true();
    view.extents = in.extents;
    view.description =
        "the filled tensor defined at " + locationText(op->getLoc());
    return view;
  }

  LogicalResult visitFill(FillOp op) {
    auto it = tensors.find(op.getInput());
    if (it == tensors.end())
      return op.emitOpError("fills a tensor the Halide code generator does "
                            "not know");
    FailureOr<TensorView> v = makeFilled(
        it->second,
        cast<RankedTensorType>(op.getResult().getType()).getElementType(),
        op.getValue().convertToDouble(), op);
    if (failed(v))
      return failure();
    tensors[op.getResult()] = *v;
    return success();
  }

  LogicalResult visitReturn(func::ReturnOp op) {
    for (auto [i, value] : llvm::enumerate(op.getOperands())) {
      auto type = dyn_cast<RankedTensorType>(value.getType());
      auto it = tensors.find(value);
      if (!type || it == tensors.end())
        return op.emitOpError("returns a value that is not a tensor the "
                              "Halide code generator knows");
      TensorView view = it->second;
      // An output is a fill stage of its own; a result that is not one (an
      // unfilled einsum, an argument, a value returned twice) gets one, with
      // the default fill 0.
      bool ownStage = value.getDefiningOp<FillOp>() && view.stage >= 0 &&
                      p.stages[view.stage].output < 0;
      if (!ownStage) {
        FailureOr<TensorView> filled =
            makeFilled(view, type.getElementType(), 0.0, op);
        if (failed(filled))
          return failure();
        view = *filled;
      }
      HalideOutput out;
      out.func = view.func;
      out.elementType = type.getElementType();
      out.storageType = *halideStorageType(type.getElementType());
      out.stage = view.stage;
      p.stages[view.stage].output = p.outputs.size();
      H::OutputImageParam buffer = out.func.output_buffer();
      for (unsigned v = 0; v < view.rank(); ++v)
        buffer.dim(v).set_min(0);
      if (view.rank() > 0)
        buffer.dim(0).set_stride(1);
      p.outputs.push_back(out);
      (void)i;
    }
    return success();
  }

  //===--------------------------------------------------------------------===//
  // The error check: the largest error code over the iteration space of
  // every einsum with a checked read or division, computed apart from the
  // einsum's values (which are then scheduled like any other stage).
  //===--------------------------------------------------------------------===//

  /// One einsum's check: `code` (the error code of a point, 0 where it has
  /// none) over the dimensions it reads, `dims` (outermost first: the
  /// variable's name in `code`, the extent). The check is skipped where
  /// `skip` holds: the reads are proven in range before the run, or the
  /// iteration space is empty.
  struct ErrorCheck {
    std::string name;
    H::Expr code;
    std::vector<std::pair<std::string, H::Expr>> dims;
    H::Expr skip;
  };

  /// Records the check of the einsum defined at `pt` (stage `name`): `code`
  /// at a point, `provablyNoError` a condition on sizes and symbols under
  /// which no point can fail. The stages `code` reads (presence flags,
  /// tables) are materialized, as it reads them over the whole space.
  void addErrorCheck(const std::string &name, H::Expr code, const Point &pt,
                     H::Expr provablyNoError) {
    ErrorCheck check;
    check.name = name + "_errors";
    check.code = code;
    // Only the dimensions the code depends on are iterated; another one only
    // matters through its emptiness.
    H::Expr empty = HI::const_false();
    for (unsigned d = 0; d < pt.dims.size(); ++d) {
      const auto *v = pt.dims[d].as<HI::Variable>();
      if (v && HI::expr_uses_var(code, v->name))
        check.dims.push_back({v->name, pt.sizes[d]});
      else
        empty = orE(empty, pt.sizes[d] <= 0);
    }
    check.skip = orE(empty, provablyNoError);
    std::set<std::string> called = funcsCalled(code);
    for (HalideStage &s : p.stages)
      if (called.count(s.func.name()))
        s.mustBeRoot = true;
    errorChecks.push_back(std::move(check));
  }

  /// The kernel's error code: per check, the largest code over one row (the
  /// outermost dimension) at a time, then over the rows. A skipped check
  /// iterates over nothing.
  void buildErrorCheck() {
    if (errorChecks.empty())
      return;
    H::Func code("error_code");
    code() = 0;
    for (const ErrorCheck &c : errorChecks) {
      if (c.dims.empty()) {
        code() = H::max(code(), H::select(c.skip, 0, c.code));
        continue;
      }
      auto extent = [&](const H::Expr &size) {
        return H::select(c.skip, 0, size);
      };
      H::Func rows(c.name);
      H::Var o(c.name + "_o");
      std::map<std::string, H::Expr> at{{c.dims[0].first, o}};
      if (c.dims.size() == 1) {
        rows(o) = HI::substitute(at, c.code);
      } else {
        H::Region region;
        for (unsigned v = c.dims.size(); v-- > 1;)
          region.push_back(H::Range(0, extent(c.dims[v].second)));
        H::RDom r(region, c.name + "_r");
        for (unsigned v = 1; v < c.dims.size(); ++v)
          at[c.dims[v].first] = r[c.dims.size() - 1 - v];
        rows(o) = 0;
        rows(o) = H::max(rows(o), HI::substitute(at, c.code));
      }
      H::RDom ro(0, extent(c.dims[0].second), c.name + "_ro");
      code() = H::max(code(), rows(ro));
      p.errorStages.push_back(rows);
    }
    p.errorCode = code;
  }

  func::FuncOp kernel;
  HalidePipeline &p;
  int blockRows; // rows per block of an attn.online's blocked dimension
  /// Index names (attn.indices) whose range per-tile stages may exceed:
  /// the tiled ranks and the rows of attn.online ops.
  std::set<std::string> paddedNames;
  /// Index names of arguments read along a tiled rank (keys, values).
  std::set<std::string> keySideNames;
  std::map<std::pair<int, uint64_t>, H::Func> clampedImages;
  llvm::DenseMap<Value, H::Expr> scalars;
  llvm::DenseMap<Value, TensorView> tensors;
  std::vector<ErrorCheck> errorChecks;
};

} // namespace

LogicalResult mlir::attn::buildHalidePipeline(
    func::FuncOp kernel, HalidePipeline &pipeline,
    const HalideCodegenOptions &options, const H::Target &target) {
  int width = options.vectorWidth > 0
                  ? options.vectorWidth
                  : target.natural_vector_size(H::Float(32));
  pipeline.vectorWidth = std::max(1, width);
  pipeline.strictFloat = options.strictFloat;
  bool online = !kernel.getBody().getOps<OnlineOp>().empty();
  pipeline.rowTile = options.rowTile > 0 ? options.rowTile
                                         : pipeline.vectorWidth * (online ? 2 : 1);
  // The ranks attn-one-pass tiled (m = m1 * T + m0), found from the maps.
  RankAnalysis ranks(kernel);
  for (const RankAnalysis::Tiling &tiling : ranks.tilings()) {
    if (tiling.size <= 0) // a split across workers (not on the CPU)
      continue;
    HalidePipeline::Tiling t;
    t.index = ranks.name(tiling.tile);
    t.rank = ranks.name(tiling.base);
    t.element = ranks.name(tiling.element);
    t.size = tiling.size;
    pipeline.tilings.push_back(t);
    // A block of rows divides a tile: the rows of a block that see a tile
    // start at the block (per-tile regions are whole blocks).
    if (t.size > 0 && options.rowTile <= 0)
      pipeline.rowTile = std::gcd<int64_t>(pipeline.rowTile, t.size);
  }
  try {
    PipelineBuilder builder(kernel, pipeline, pipeline.rowTile);
    return builder.build();
  } catch (const H::Error &e) {
    return kernel.emitError("Halide rejected the pipeline: ") << e.what();
  }
}
