// A filter's tiles classified with the tile-interval analysis in int64: a
// linear constraint is first rewritten with each dimension once (its interval
// over a box is then exact); any other constraint is bounded as written.
#include "passes/FilterTileClassifier.h"
#include "passes/TileIntervals.h"

#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn;

const char *mlir::attn::tileClassName(TileClass c) {
  switch (c) {
  case TileClass::Empty:
    return "empty";
  case TileClass::Partial:
    return "partial";
  case TileClass::Full:
    return "full";
  }
  return "?";
}

/// Adds `scale * e` to `f` (a LinearForm, private to the classifier); false
/// when `e` is not linear.
template <typename Form>
static bool linearize(AffineExpr e, int64_t scale, Form &f) {
  if (auto d = dyn_cast<AffineDimExpr>(e)) {
    return !llvm::AddOverflow(f.dims[d.getPosition()], scale,
                              f.dims[d.getPosition()]);
  }
  if (auto s = dyn_cast<AffineSymbolExpr>(e)) {
    return !llvm::AddOverflow(f.syms[s.getPosition()], scale,
                              f.syms[s.getPosition()]);
  }
  if (auto k = dyn_cast<AffineConstantExpr>(e)) {
    int64_t term;
    return !llvm::MulOverflow(scale, k.getValue(), term) &&
           !llvm::AddOverflow(f.constant, term, f.constant);
  }
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin)
    return false;
  if (bin.getKind() == AffineExprKind::Add)
    return linearize(bin.getLHS(), scale, f) &&
           linearize(bin.getRHS(), scale, f);
  if (bin.getKind() == AffineExprKind::Mul) {
    int64_t scaled;
    if (auto k = dyn_cast<AffineConstantExpr>(bin.getRHS()))
      return !llvm::MulOverflow(scale, k.getValue(), scaled) &&
             linearize(bin.getLHS(), scaled, f);
    if (auto k = dyn_cast<AffineConstantExpr>(bin.getLHS()))
      return !llvm::MulOverflow(scale, k.getValue(), scaled) &&
             linearize(bin.getRHS(), scaled, f);
  }
  return false; // floordiv, mod, products of dimensions
}

/// `f` as an affine expression that names each dimension and symbol once.
template <typename Form>
static AffineExpr linearExpr(const Form &f, MLIRContext *ctx) {
  AffineExpr e = getAffineConstantExpr(f.constant, ctx);
  for (auto [d, k] : llvm::enumerate(f.dims))
    if (k)
      e = e + getAffineDimExpr(d, ctx) * k;
  for (auto [s, k] : llvm::enumerate(f.syms))
    if (k)
      e = e + getAffineSymbolExpr(s, ctx) * k;
  return e;
}

FailureOr<FilterTileClassifier>
FilterTileClassifier::build(EinsumOp einsum, ArrayRef<int64_t> tileSizes) {
  FilterTileClassifier fc;
  unsigned numDims = einsum.getNumDims();
  unsigned numSyms = einsum.getSymbols().size();
  fc.tiles.assign(tileSizes.begin(), tileSizes.end());
  fc.tiles.resize(numDims, 0);
  fc.guarded = einsum.hasGuard();
  std::optional<ArrayAttr> filter = einsum.getFilter();
  if (!filter)
    return fc;
  fc.filtered = true;
  // Whether a constraint can be bounded depends only on its divisions, not
  // on the box: probe it on one point with nonzero symbols.
  Int64IntervalDomain int64;
  SmallVector<std::optional<Interval<int64_t>>> point(numDims,
                                                      Interval<int64_t>{0, 0});
  SmallVector<int64_t> ones(numSyms, 1);
  for (Attribute a : *filter) {
    IntegerSet set = cast<IntegerSetAttr>(a).getValue();
    SmallVector<AffineExpr> constraints;
    SmallVector<bool> eqFlags;
    SmallVector<std::optional<LinearForm>> forms;
    for (unsigned i = 0; i < set.getNumConstraints(); ++i) {
      AffineExpr c = set.getConstraint(i);
      if (!intervalOf(c, point, ones, int64) || int64.overflowed)
        return failure();
      LinearForm f;
      f.dims.assign(numDims, 0);
      f.syms.assign(numSyms, 0);
      if (linearize(c, 1, f)) {
        c = linearExpr(f, einsum.getContext());
        forms.push_back(std::move(f));
      } else {
        forms.push_back(std::nullopt);
      }
      constraints.push_back(c);
      eqFlags.push_back(set.isEq(i));
    }
    fc.sets.push_back(constraints.empty()
                          ? set
                          : IntegerSet::get(set.getNumDims(),
                                            set.getNumSymbols(), constraints,
                                            eqFlags));
    fc.linear.push_back(std::move(forms));
  }
  return fc;
}

TileClass FilterTileClassifier::classify(ArrayRef<int64_t> origins,
                                         ArrayRef<int64_t> extents,
                                         ArrayRef<int64_t> symbols) const {
  // The box: [lo, hi] per dimension, clipped to the extents.
  SmallVector<std::optional<Interval<int64_t>>> box;
  for (unsigned d = 0; d < tiles.size(); ++d) {
    int64_t l = tiles[d] ? origins[d] : 0;
    int64_t h = tiles[d] ? std::min(origins[d] + tiles[d], extents[d]) - 1
                         : extents[d] - 1;
    if (l > h || l < 0)
      return TileClass::Empty;
    box.push_back(Interval<int64_t>{l, h});
  }
  TileClass result = TileClass::Full;
  if (filtered) {
    Int64IntervalDomain int64;
    FilterClass<bool> c =
        classifyFilter(ArrayRef<IntegerSet>(sets), {}, {}, box, symbols, int64);
    result = int64.overflowed ? TileClass::Partial
             : c.full          ? TileClass::Full
             : c.empty         ? TileClass::Empty
                               : TileClass::Partial;
  }
  if (guarded && result == TileClass::Full)
    return TileClass::Partial;
  return result;
}

/// `e` as text with the given names ("(p floordiv 4) - m").
static void printExpr(llvm::raw_ostream &os, AffineExpr e,
                      ArrayRef<std::string> dimNames,
                      ArrayRef<std::string> symNames) {
  if (auto d = dyn_cast<AffineDimExpr>(e)) {
    os << dimNames[d.getPosition()];
    return;
  }
  if (auto s = dyn_cast<AffineSymbolExpr>(e)) {
    os << symNames[s.getPosition()];
    return;
  }
  if (auto k = dyn_cast<AffineConstantExpr>(e)) {
    os << k.getValue();
    return;
  }
  auto bin = cast<AffineBinaryOpExpr>(e);
  const char *op = " floordiv ";
  switch (e.getKind()) {
  case AffineExprKind::Add:
    op = " + ";
    break;
  case AffineExprKind::Mul:
    op = " * ";
    break;
  case AffineExprKind::CeilDiv:
    op = " ceildiv ";
    break;
  case AffineExprKind::Mod:
    op = " mod ";
    break;
  default:
    break;
  }
  auto printSide = [&](AffineExpr side) {
    bool nested = isa<AffineBinaryOpExpr>(side);
    os << (nested ? "(" : "");
    printExpr(os, side, dimNames, symNames);
    os << (nested ? ")" : "");
  };
  printSide(bin.getLHS());
  os << op;
  printSide(bin.getRHS());
}

/// `k * name` terms and a constant, as text ("p0 - m0 - 63").
static void printLinear(llvm::raw_ostream &os,
                        ArrayRef<std::pair<int64_t, std::string>> terms,
                        int64_t constant) {
  bool first = true;
  for (auto &[k, name] : terms) {
    if (k == 0)
      continue;
    if (first)
      os << (k < 0 ? "-" : "");
    else
      os << (k < 0 ? " - " : " + ");
    if (std::abs(k) != 1)
      os << std::abs(k) << "*";
    os << name;
    first = false;
  }
  if (first)
    os << constant;
  else if (constant)
    os << (constant < 0 ? " - " : " + ") << std::abs(constant);
}

std::string
FilterTileClassifier::describe(ArrayRef<std::string> dimNames,
                               ArrayRef<std::string> symNames) const {
  std::string text;
  llvm::raw_string_ostream os(text);
  for (auto [ci, set] : llvm::enumerate(sets)) {
    if (ci)
      os << "; or ";
    for (auto [k, form] : llvm::enumerate(linear[ci])) {
      if (k)
        os << ", and ";
      const char *relation = set.isEq(k) ? " == 0" : " >= 0";
      if (!form) {
        printExpr(os, set.getConstraint(k), dimNames, symNames);
        os << relation << " (checked per tile)";
        continue;
      }
      const LinearForm &c = *form;
      SmallVector<std::pair<int64_t, std::string>> terms, minTerms, maxTerms;
      int64_t minConst = c.constant, maxConst = c.constant;
      bool untiled = false;
      for (unsigned d = 0; d < c.dims.size(); ++d) {
        if (!c.dims[d])
          continue;
        terms.push_back({c.dims[d], dimNames[d]});
        if (!tiles[d]) {
          untiled = true;
          continue;
        }
        int64_t span;
        int64_t &bound = c.dims[d] > 0 ? maxConst : minConst;
        if (llvm::MulOverflow(c.dims[d], tiles[d] - 1, span) ||
            llvm::AddOverflow(bound, span, bound))
          untiled = true; // too large to print the tile's bounds
        minTerms.push_back({c.dims[d], dimNames[d] + "0"});
        maxTerms.push_back({c.dims[d], dimNames[d] + "0"});
      }
      for (unsigned s = 0; s < c.syms.size(); ++s)
        if (c.syms[s]) {
          terms.push_back({c.syms[s], symNames[s]});
          minTerms.push_back({c.syms[s], symNames[s]});
          maxTerms.push_back({c.syms[s], symNames[s]});
        }
      printLinear(os, terms, c.constant);
      os << relation;
      if (untiled || set.isEq(k)) {
        os << " (checked per tile)";
        continue;
      }
      os << " holds on the whole tile when ";
      printLinear(os, minTerms, minConst);
      os << " >= 0 and nowhere when ";
      printLinear(os, maxTerms, maxConst);
      os << " < 0";
    }
  }
  return text;
}
