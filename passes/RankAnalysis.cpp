// Union-find over dimension slots: an einsum dimension and a tensor dimension
// are one rank when a map names the dimension bare at that tensor position.
#include "passes/RankAnalysis.h"

using namespace mlir;
using namespace mlir::attn;

unsigned RankAnalysis::slot(const void *owner, unsigned pos) {
  auto [it, inserted] = slots.try_emplace({owner, pos}, parent.size());
  if (inserted)
    parent.push_back(parent.size());
  return it->second;
}

unsigned RankAnalysis::find(unsigned x) {
  while (parent[x] != x)
    x = parent[x] = parent[parent[x]];
  return x;
}

void RankAnalysis::unite(unsigned a, unsigned b) {
  a = find(a);
  b = find(b);
  if (a != b)
    parent[std::max(a, b)] = std::min(a, b);
}

RankAnalysis::RankAnalysis(func::FuncOp kernel) {
  SmallVector<EinsumOp> einsums;
  kernel.walk([&](Operation *op) {
    if (auto e = dyn_cast<EinsumOp>(op)) {
      einsums.push_back(e);
      auto link = [&](Value tensor, AffineMap map) {
        for (auto [pos, expr] : llvm::enumerate(map.getResults()))
          if (auto d = dyn_cast<AffineDimExpr>(expr))
            unite(slot(e.getOperation(), d.getPosition()),
                  slot(tensor.getAsOpaquePointer(), pos));
      };
      for (auto [i, in] : llvm::enumerate(e.getInputs()))
        link(in, e.getInputMap(i));
      link(e.getResult(), e.getResultMap());
      for (unsigned d = 0; d < e.getNumDims(); ++d)
        slot(e.getOperation(), d);
    } else if (auto f = dyn_cast<FillOp>(op)) {
      auto type = cast<RankedTensorType>(f.getInput().getType());
      for (int64_t pos = 0; pos < type.getRank(); ++pos)
        unite(slot(f.getInput().getAsOpaquePointer(), pos),
              slot(f.getResult().getAsOpaquePointer(), pos));
    }
  });
  // Name the ranks in order of first appearance.
  for (EinsumOp e : einsums) {
    auto indices = e->getAttrOfType<ArrayAttr>(kIndicesAttr);
    for (unsigned d = 0; d < e.getNumDims(); ++d) {
      unsigned root = find(slot(e.getOperation(), d));
      if (rankOfRoot.count(root))
        continue;
      rankOfRoot[root] = names.size();
      if (indices && d < indices.size() && isa<StringAttr>(indices[d]))
        names.push_back(cast<StringAttr>(indices[d]).str());
      else
        names.push_back("d" + std::to_string(d));
    }
  }
}

unsigned RankAnalysis::rankOf(EinsumOp einsum, unsigned dim) {
  return rankOfRoot.lookup(find(slot(einsum.getOperation(), dim)));
}
