// Affine expressions as Halide expressions; the read-range proof (the shared
// tile-interval analysis, passes/TileIntervals.h, in Halide expressions); the
// run-time tile classes of an attn.online (its tile loop's where-clause where
// presence reads tensors).
#include "codegen/halide/HalideIntervals.h"
#include "codegen/halide/HalideScalarOps.h"
#include "passes/TileIntervals.h"

#include <limits>
#include <map>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;
namespace H = Halide;
namespace HI = Halide::Internal;

FailureOr<H::Expr> halide::translateAffine(AffineExpr e, ArrayRef<H::Expr> dims,
                                           ArrayRef<H::Expr> syms,
                                           Operation *op) {
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
  FailureOr<H::Expr> l = translateAffine(bin.getLHS(), dims, syms, op);
  FailureOr<H::Expr> r = translateAffine(bin.getRHS(), dims, syms, op);
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

namespace {

/// The tile-interval analysis (passes/TileIntervals.h) in Int(64) Halide
/// expressions evaluated at run time. It divides by every constant and by a
/// symbol: halideFloorDiv is floor division for either sign, and Halide's
/// x / 0 is 0 (then x mod 0 is x), the semantics the analysis asks for.
struct HalideIntervalDomain {
  using Value = H::Expr;
  using Bool = H::Expr;
  static constexpr bool dividesBySymbol = true;
  Value constant(int64_t v) { return H::Expr(v); }
  Value add(const Value &x, const Value &y) { return x + y; }
  Value mul(const Value &x, const Value &y) { return x * y; }
  Value min(const Value &x, const Value &y) { return H::min(x, y); }
  Value max(const Value &x, const Value &y) { return H::max(x, y); }
  bool dividesBy(int64_t) { return true; }
  std::optional<int64_t> constantValue(const Value &) { return std::nullopt; }
  Value floorDiv(const Value &x, const Value &k) {
    return halideFloorDiv(x, k);
  }
  Value ceilDiv(const Value &x, const Value &k) {
    return -halideFloorDiv(-x, k);
  }
  Bool boolean(bool v) { return v ? HI::const_true() : HI::const_false(); }
  Bool andB(const Bool &x, const Bool &y) { return x && y; }
  Bool orB(const Bool &x, const Bool &y) { return x || y; }
  Bool isZero(const Value &x) { return x == 0; }
  Bool isPositive(const Value &x) { return x > 0; }
  Bool isNegative(const Value &x) { return x < 0; }
  Bool isNonNegative(const Value &x) { return x >= 0; }
  Value select(const Bool &c, const Value &x, const Value &y) {
    return H::select(c, x, y);
  }
};

} // namespace

std::optional<Interval64> halide::boxInterval(AffineExpr e,
                                              ArrayRef<H::Expr> sizes,
                                              ArrayRef<H::Expr> syms) {
  auto i64 = [](const H::Expr &x) { return H::cast(H::Int(64), x); };
  SmallVector<std::optional<Interval64>> box;
  for (const H::Expr &size : sizes)
    box.push_back(Interval64{H::Expr(int64_t(0)), i64(size) - 1});
  SmallVector<H::Expr> symbols;
  for (const H::Expr &s : syms)
    symbols.push_back(i64(s));
  HalideIntervalDomain domain;
  return intervalOf(e, ArrayRef<std::optional<Interval64>>(box),
                    ArrayRef<H::Expr>(symbols), domain);
}

std::optional<TileClasses>
halide::buildTileClasses(OnlineOp op, const PointPresence &ref, int q,
                         int blockRows, ArrayRef<unsigned> reduced,
                         ArrayRef<H::Expr> sizes, ArrayRef<H::Expr> syms,
                         const std::string &name) {
  if (ref.resultDims.empty())
    return std::nullopt;
  const PresenceExpr &pp = ref.presence;
  unsigned n = op.getNumDims();
  // The online's point: a Var per dimension, the row of a block q * B + qi.
  std::vector<H::Var> vars(n);
  SmallVector<H::Expr> coords(n);
  H::Region region;
  for (unsigned d = 0; d < n; ++d) {
    vars[d] = H::Var(name + "_d" + std::to_string(d));
    coords[d] = vars[d];
  }
  if (q >= 0)
    region.push_back(H::Range(0, blockRows));
  // ref's reduced dimensions (the elements of the tile) are the RDom's.
  SmallVector<unsigned> refReduced(ref.reduced.begin(), ref.reduced.end());
  for (unsigned r : llvm::reverse(refReduced))
    region.push_back(H::Range(0, ref.sizes[r]));
  if (region.empty())
    return std::nullopt;
  H::RDom r(region, name + "_r");
  unsigned next = 0;
  if (q >= 0)
    coords[q] = H::min(vars[q] * blockRows + r[next++], sizes[q] - 1);
  // ref's dimensions: its result through the online's map, its reduced
  // ones the tile's elements.
  AffineMap refMap = op.getRefMap();
  std::map<std::string, H::Expr> at;
  for (unsigned j = 0; j < refMap.getNumResults(); ++j) {
    FailureOr<H::Expr> c =
        translateAffine(refMap.getResult(j), coords, syms, op);
    if (failed(c))
      return std::nullopt;
    at[pp.dims[ref.resultDims[j]]] = *c;
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
  TileClasses classes;
  std::vector<H::Var> args;
  for (unsigned d = 0; d < n; ++d) {
    bool isTile = llvm::is_contained(reduced, d);
    if (static_cast<int>(d) == q || isTile ||
        HI::expr_uses_var(point, vars[d].name())) {
      args.push_back(vars[d]);
      classes.dims.push_back({d, static_cast<int>(d) == q});
    }
  }
  std::reverse(args.begin(), args.end()); // Halide order: innermost first
  std::reverse(classes.dims.begin(), classes.dims.end());
  H::Func cls(name);
  std::vector<H::Expr> self(args.begin(), args.end());
  cls(self) = H::Expr(uint8_t(0));
  cls(self) = H::select(used && point, H::Expr(uint8_t(1)), cls(self));
  classes.func = cls;
  return classes;
}
