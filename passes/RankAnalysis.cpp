// Union-find over dimension slots: an einsum dimension and a tensor dimension
// are one rank when a map names the dimension bare at that tensor position.
#include "passes/RankAnalysis.h"

#include "llvm/ADT/StringMap.h"

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
  SmallVector<OnlineOp> onlines;
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
    } else if (auto o = dyn_cast<OnlineOp>(op)) {
      onlines.push_back(o);
      auto link = [&](Value tensor, AffineMap map) {
        for (auto [pos, expr] : llvm::enumerate(map.getResults()))
          if (auto d = dyn_cast<AffineDimExpr>(expr))
            unite(slot(o.getOperation(), d.getPosition()),
                  slot(tensor.getAsOpaquePointer(), pos));
      };
      link(o.getRef(), o.getRefMap());
      link(o.getMax(), o.getMaxMap());
      for (unsigned i = 0; i < o.getNumParts(); ++i) {
        link(o.getParts()[i], o.getPartMap(i));
        link(o.getSums()[i], o.getSumMap(i));
      }
      for (unsigned d = 0; d < o.getNumDims(); ++d)
        slot(o.getOperation(), d);
    } else if (auto f = dyn_cast<FillOp>(op)) {
      auto type = cast<RankedTensorType>(f.getInput().getType());
      for (int64_t pos = 0; pos < type.getRank(); ++pos)
        unite(slot(f.getInput().getAsOpaquePointer(), pos),
              slot(f.getResult().getAsOpaquePointer(), pos));
    }
  });
  SmallVector<std::pair<Operation *, unsigned>> ops;
  for (EinsumOp e : einsums)
    ops.push_back({e, e.getNumDims()});
  for (OnlineOp o : onlines)
    ops.push_back({o, o.getNumDims()});
  // A rank tiled by attn-one-pass is read through `m1 * T + m0`, not bare:
  // its tile and in-tile indices are linked by name.
  if (auto tiled = kernel->getAttrOfType<DictionaryAttr>(kTiledAttr)) {
    llvm::StringMap<unsigned> first;
    for (NamedAttribute t : tiled) {
      first[t.getName().strref()] = ~0u;
      first[cast<StringAttr>(cast<ArrayAttr>(t.getValue())[1]).strref()] = ~0u;
    }
    for (auto [e, numDims] : ops) {
      auto indices = e->getAttrOfType<ArrayAttr>(kIndicesAttr);
      for (unsigned d = 0; indices && d < numDims && d < indices.size(); ++d) {
        auto name = dyn_cast<StringAttr>(indices[d]);
        auto it = name ? first.find(name.strref()) : first.end();
        if (it == first.end())
          continue;
        if (it->second == ~0u)
          it->second = slot(e, d);
        else
          unite(it->second, slot(e, d));
      }
    }
  }
  // Name the ranks in order of first appearance.
  for (auto [e, numDims] : ops) {
    auto indices = e->getAttrOfType<ArrayAttr>(kIndicesAttr);
    for (unsigned d = 0; d < numDims; ++d) {
      unsigned root = find(slot(e, d));
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

unsigned RankAnalysis::rankOf(Operation *op, unsigned dim) {
  return rankOfRoot.lookup(find(slot(op, dim)));
}
