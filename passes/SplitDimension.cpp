// The filter of an op one of whose dimensions was split into two: the old
// sets restated over the new dimensions, each bounded to the old extent.
#include "passes/SplitDimension.h"

using namespace mlir;

SmallVector<IntegerSet> mlir::attn::splitFilter(std::optional<ArrayAttr> sets,
                                                ArrayRef<AffineExpr> dimRepl,
                                                ArrayRef<AffineExpr> symRepl,
                                                unsigned numDims,
                                                unsigned numSymbols,
                                                AffineExpr lastTileBound) {
  auto bounded = [&](SmallVector<AffineExpr> constraints,
                     SmallVector<bool> isEq) {
    if (lastTileBound) {
      constraints.push_back(lastTileBound);
      isEq.push_back(false);
    }
    return std::make_pair(constraints, isEq);
  };
  SmallVector<std::pair<SmallVector<AffineExpr>, SmallVector<bool>>> restated;
  if (sets) {
    for (Attribute a : *sets) {
      IntegerSet set = cast<IntegerSetAttr>(a).getValue();
      SmallVector<AffineExpr> constraints;
      SmallVector<bool> isEq;
      for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
        constraints.push_back(
            set.getConstraint(c).replaceDimsAndSymbols(dimRepl, symRepl));
        isEq.push_back(set.isEq(c));
      }
      restated.push_back(bounded(constraints, isEq));
    }
  } else {
    restated.push_back(bounded({}, {}));
  }
  SmallVector<IntegerSet> filter;
  for (auto &[constraints, isEq] : restated) {
    // A set without constraints holds every point: so does the union.
    if (constraints.empty())
      return {};
    filter.push_back(IntegerSet::get(numDims, numSymbols, constraints, isEq));
  }
  return filter;
}
