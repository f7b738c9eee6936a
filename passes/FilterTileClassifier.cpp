// Interval bounds of linear constraints over a tile (a box): a constraint
// holds on the whole box when its minimum is >= 0 and nowhere when its
// maximum is < 0; both bounds are exact for one linear form over a box.
// A conjunction is empty when one constraint is, full when all are; a union
// full when one conjunction is, empty when all are.
#include "passes/FilterTileClassifier.h"

#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn;

const char *mlir::attn::tileClassName(TileClass c) {
  switch (c) {
  case TileClass::Empty: return "empty";
  case TileClass::Partial: return "partial";
  case TileClass::Full: return "full";
  }
  return "?";
}

/// Adds `scale * e` to `c`; false when `e` is not linear.
static bool linearize(AffineExpr e, int64_t scale,
                      FilterTileClassifier::Constraint &c) {
  if (auto d = dyn_cast<AffineDimExpr>(e)) {
    c.dims[d.getPosition()] += scale;
    return true;
  }
  if (auto s = dyn_cast<AffineSymbolExpr>(e)) {
    c.syms[s.getPosition()] += scale;
    return true;
  }
  if (auto k = dyn_cast<AffineConstantExpr>(e)) {
    c.constant += scale * k.getValue();
    return true;
  }
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin)
    return false;
  if (bin.getKind() == AffineExprKind::Add)
    return linearize(bin.getLHS(), scale, c) &&
           linearize(bin.getRHS(), scale, c);
  if (bin.getKind() == AffineExprKind::Mul) {
    if (auto k = dyn_cast<AffineConstantExpr>(bin.getRHS()))
      return linearize(bin.getLHS(), scale * k.getValue(), c);
    if (auto k = dyn_cast<AffineConstantExpr>(bin.getLHS()))
      return linearize(bin.getRHS(), scale * k.getValue(), c);
  }
  return false; // floordiv, mod, products of dimensions
}

FailureOr<FilterTileClassifier>
FilterTileClassifier::build(EinsumOp einsum, ArrayRef<int64_t> tileSizes) {
  FilterTileClassifier fc;
  unsigned numDims = einsum.getNumDims();
  unsigned numSyms = einsum.getSymbols().size();
  fc.tiles.assign(tileSizes.begin(), tileSizes.end());
  fc.tiles.resize(numDims, 0);
  fc.guarded = einsum.hasGuard();
  if (std::optional<ArrayAttr> filter = einsum.getFilter()) {
    for (Attribute a : *filter) {
      IntegerSet set = cast<IntegerSetAttr>(a).getValue();
      SmallVector<Constraint> conj;
      for (unsigned i = 0; i < set.getNumConstraints(); ++i) {
        Constraint c;
        c.dims.assign(numDims, 0);
        c.syms.assign(numSyms, 0);
        c.isEq = set.isEq(i);
        if (!linearize(set.getConstraint(i), 1, c))
          return failure();
        conj.push_back(std::move(c));
      }
      fc.conjunctions.push_back(std::move(conj));
    }
  }
  return fc;
}

TileClass FilterTileClassifier::classify(ArrayRef<int64_t> origins,
                                         ArrayRef<int64_t> extents,
                                         ArrayRef<int64_t> symbols) const {
  // The box: [lo, hi] per dimension, clipped to the extents.
  SmallVector<int64_t> lo, hi;
  for (unsigned d = 0; d < tiles.size(); ++d) {
    int64_t l = tiles[d] ? origins[d] : 0;
    int64_t h = tiles[d] ? std::min(origins[d] + tiles[d], extents[d]) - 1
                         : extents[d] - 1;
    if (l > h || l < 0)
      return TileClass::Empty;
    lo.push_back(l);
    hi.push_back(h);
  }
  auto constraintClass = [&](const Constraint &c) {
    int64_t mn = c.constant, mx = c.constant;
    for (unsigned d = 0; d < c.dims.size(); ++d) {
      int64_t k = c.dims[d];
      mn += k * (k > 0 ? lo[d] : hi[d]);
      mx += k * (k > 0 ? hi[d] : lo[d]);
    }
    for (unsigned s = 0; s < c.syms.size(); ++s) {
      mn += c.syms[s] * symbols[s];
      mx += c.syms[s] * symbols[s];
    }
    if (c.isEq)
      return mn == 0 && mx == 0 ? TileClass::Full
             : (mn > 0 || mx < 0) ? TileClass::Empty
                                  : TileClass::Partial;
    return mn >= 0 ? TileClass::Full
                   : mx < 0 ? TileClass::Empty : TileClass::Partial;
  };
  TileClass result = TileClass::Full;
  if (!conjunctions.empty()) {
    bool anyFull = false, allEmpty = true;
    for (const auto &conj : conjunctions) {
      TileClass cc = TileClass::Full;
      for (const Constraint &c : conj) {
        TileClass k = constraintClass(c);
        if (k == TileClass::Empty) {
          cc = TileClass::Empty;
          break;
        }
        if (k == TileClass::Partial)
          cc = TileClass::Partial;
      }
      anyFull |= cc == TileClass::Full;
      allEmpty &= cc == TileClass::Empty;
    }
    result = anyFull ? TileClass::Full
                     : allEmpty ? TileClass::Empty : TileClass::Partial;
  }
  if (guarded && result == TileClass::Full)
    return TileClass::Partial;
  return result;
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

std::string FilterTileClassifier::describe(ArrayRef<std::string> dimNames,
                                           ArrayRef<std::string> symNames) const {
  std::string text;
  llvm::raw_string_ostream os(text);
  for (auto [ci, conj] : llvm::enumerate(conjunctions)) {
    if (ci)
      os << "; or ";
    for (auto [k, c] : llvm::enumerate(conj)) {
      if (k)
        os << ", and ";
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
        int64_t span = c.dims[d] * (tiles[d] - 1);
        minTerms.push_back({c.dims[d], dimNames[d] + "0"});
        maxTerms.push_back({c.dims[d], dimNames[d] + "0"});
        (c.dims[d] > 0 ? maxConst : minConst) += span;
      }
      for (unsigned s = 0; s < c.syms.size(); ++s)
        if (c.syms[s]) {
          terms.push_back({c.syms[s], symNames[s]});
          minTerms.push_back({c.syms[s], symNames[s]});
          maxTerms.push_back({c.syms[s], symNames[s]});
        }
      printLinear(os, terms, c.constant);
      os << (c.isEq ? " == 0" : " >= 0");
      if (untiled || c.isEq) {
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
