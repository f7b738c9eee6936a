// Func names from the statements' names, and the roles of dimensions in the
// one-pass form (tile index, tile element, tiled rank, rows, key side) from
// the IR's structure: union-find over op dimensions and tensor dimensions.
#include "codegen/halide/HalideStructure.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <cctype>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

std::string halide::statementName(Operation *op) {
  if (auto n = dyn_cast<NameLoc>(op->getLoc()))
    return n.getName().str();
  return "";
}

std::string FuncNames::unique(const std::string &base) {
  std::string s;
  for (char c : base)
    s += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0])))
    s = "f" + s;
  // Halide names its temporaries t123, b4, ...
  if (s.size() > 1 && std::islower(static_cast<unsigned char>(s[0])) &&
      std::all_of(s.begin() + 1, s.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      }))
    s += "_";
  std::string name = s;
  for (int k = 2; used.count(name); ++k)
    name = s + "_" + std::to_string(k);
  used.insert(name);
  return name;
}

int DimensionRoles::slot(const void *owner, int pos) {
  auto [it, inserted] = slots.try_emplace({owner, pos}, parent.size());
  if (inserted)
    parent.push_back(parent.size());
  return it->second;
}

int DimensionRoles::find(int x) {
  while (parent[x] != x)
    x = parent[x] = parent[parent[x]];
  return x;
}

void DimensionRoles::unite(int a, int b) {
  a = find(a);
  b = find(b);
  if (a != b)
    parent[std::max(a, b)] = std::min(a, b);
}

void DimensionRoles::link(Operation *op, Value tensor, AffineMap map) {
  for (auto [pos, expr] : llvm::enumerate(map.getResults()))
    if (auto d = dyn_cast<AffineDimExpr>(expr))
      unite(slot(op, d.getPosition()), tensorRank(tensor, pos));
}

int DimensionRoles::rankOf(Operation *op, unsigned d) {
  return find(slot(op, static_cast<int>(d)));
}

int64_t DimensionRoles::tiledSize(int rank) const {
  auto it = tiled.find(rank);
  return it == tiled.end() ? 0 : it->second;
}

bool DimensionRoles::isPadded(int rank) const {
  return tiled.count(rank) || rows.count(rank) || values.count(rank);
}

DimensionRoles::DimensionRoles(func::FuncOp kernel) {
  SmallVector<EinsumOp> einsums;
  SmallVector<OnlineOp> onlines;
  for (Operation &op : kernel.getBody().front()) {
    if (auto e = dyn_cast<EinsumOp>(op)) {
      einsums.push_back(e);
      for (auto [i, in] : llvm::enumerate(e.getInputs()))
        link(e, in, e.getInputMap(i));
      link(e, e.getResult(), e.getResultMap());
    } else if (auto o = dyn_cast<OnlineOp>(op)) {
      onlines.push_back(o);
      link(o, o.getRef(), o.getRefMap());
      link(o, o.getMax(), o.getMaxMap());
      for (unsigned i = 0; i < o.getNumParts(); ++i) {
        link(o, o.getParts()[i], o.getPartMap(i));
        link(o, o.getSums()[i], o.getSumMap(i));
      }
    } else if (auto f = dyn_cast<FillOp>(op)) {
      auto type = cast<RankedTensorType>(f.getInput().getType());
      for (unsigned pos = 0; pos < type.getRank(); ++pos)
        unite(tensorRank(f.getInput(), pos), tensorRank(f.getResult(), pos));
    }
  }
  // Tile indices, rows, and tile elements (of a constant size).
  for (OnlineOp o : onlines) {
    for (unsigned r : o.getReducedDims())
      tileIndices.insert(rankOf(o, r));
    for (AffineExpr e : o.getMaxMap().getResults())
      rows.insert(rankOf(o, cast<AffineDimExpr>(e).getPosition()));
    for (unsigned i = 0; i < o.getNumParts(); ++i)
      for (AffineExpr e : o.getSumMap(i).getResults())
        if (!rows.count(rankOf(o, cast<AffineDimExpr>(e).getPosition())))
          values.insert(rankOf(o, cast<AffineDimExpr>(e).getPosition()));
    auto ref = o.getRef().getDefiningOp<EinsumOp>();
    for (unsigned r : ref ? ref.getReducedDims() : SmallVector<unsigned>())
      if (std::optional<int64_t> t = getConstantIntValue(ref.getSizes()[r])) {
        if (!tiled.count(rankOf(ref, r)))
          sizes.push_back(*t);
        tiled[rankOf(ref, r)] = *t;
      }
  }
  auto ranksIn = [&](EinsumOp e, AffineExpr coord) {
    std::set<int> ranks;
    coord.walk([&](AffineExpr x) {
      if (auto d = dyn_cast<AffineDimExpr>(x))
        ranks.insert(rankOf(e, d.getPosition()));
    });
    return ranks;
  };
  // A coordinate that involves a tile index (m1 * T + m0) reads a tiled
  // rank; its other dimensions are tile elements (of constant size T).
  std::map<int, int64_t> tiledRanks;
  for (EinsumOp e : einsums)
    for (auto [i, in] : llvm::enumerate(e.getInputs()))
      for (auto [k, coord] : llvm::enumerate(e.getInputMap(i).getResults())) {
        SmallVector<unsigned> elements;
        bool readsTile = false;
        coord.walk([&](AffineExpr x) {
          if (auto d = dyn_cast<AffineDimExpr>(x)) {
            if (isTileIndex(rankOf(e, d.getPosition())))
              readsTile = true;
            else
              elements.push_back(d.getPosition());
          }
        });
        if (isa<AffineDimExpr>(coord) || !readsTile)
          continue;
        for (unsigned d : elements)
          if (std::optional<int64_t> t = getConstantIntValue(e.getSizes()[d])) {
            tiled[rankOf(e, d)] = *t;
            tiledRanks[tensorRank(in, k)] = *t;
          }
      }
  tiled.insert(tiledRanks.begin(), tiledRanks.end());
  // Key side: arguments read along a tiled rank, the other coordinates (a
  // relative position p - m couples the rows with the keys, it does not make
  // p a key-side dimension).
  for (EinsumOp e : einsums)
    for (auto [i, in] : llvm::enumerate(e.getInputs())) {
      std::set<int> others;
      bool alongTiled = false;
      for (AffineExpr coord : e.getInputMap(i).getResults()) {
        std::set<int> ranks = ranksIn(e, coord);
        if (llvm::any_of(ranks, [&](int r) {
              return isTileIndex(r) || tiledSize(r) > 0;
            }))
          alongTiled = true;
        else
          others.insert(ranks.begin(), ranks.end());
      }
      if (isa<BlockArgument>(in) && alongTiled)
        keySide.insert(others.begin(), others.end());
    }
}
