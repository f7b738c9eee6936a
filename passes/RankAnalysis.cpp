// Union-find over dimension slots. An iteration dimension and a tensor
// dimension are one rank when a map names the dimension bare at that tensor
// position; a read `t * T + e` (the extent of `e` being T) makes `t` the tile
// index and `e` the element of the tensor dimension's rank. Two such reads
// with one tile size have the same tile and element ranks when they read one
// rank, and read one rank when their tile and element ranks are the same.
#include "passes/RankAnalysis.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/ADT/DenseSet.h"

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

bool RankAnalysis::unite(unsigned a, unsigned b) {
  a = find(a);
  b = find(b);
  if (a == b)
    return false;
  parent[std::max(a, b)] = std::min(a, b);
  return true;
}

void RankAnalysis::linkBareAccesses(IterationSpaceOpInterface op) {
  // A tensor dimension that the op reads through two of its dimensions (a
  // per-position value read at the query and at the key, F[p] - F[m]) is
  // shared by two ranks and links neither.
  DenseMap<std::pair<const void *, unsigned>, unsigned> dimOfSlot;
  DenseSet<std::pair<const void *, unsigned>> shared;
  for (auto [tensor, map] :
       llvm::zip(op.getIndexedTensors(), op.getIndexingMapsArray()))
    for (auto [pos, expr] : llvm::enumerate(map.getResults()))
      if (auto d = dyn_cast<AffineDimExpr>(expr)) {
        std::pair<const void *, unsigned> key(tensor.getAsOpaquePointer(), pos);
        auto [it, inserted] = dimOfSlot.try_emplace(key, d.getPosition());
        if (!inserted && it->second != d.getPosition())
          shared.insert(key);
      }
  for (auto [tensor, map] :
       llvm::zip(op.getIndexedTensors(), op.getIndexingMapsArray()))
    for (auto [pos, expr] : llvm::enumerate(map.getResults()))
      if (auto d = dyn_cast<AffineDimExpr>(expr))
        if (!shared.count({tensor.getAsOpaquePointer(), pos}))
          unite(slot(op.getOperation(), d.getPosition()),
                slot(tensor.getAsOpaquePointer(), pos));
}

void RankAnalysis::linkTiledAccesses(IterationSpaceOpInterface op) {
  OperandRange sizes = op.getSizes();
  OperandRange symbols = op.getSymbols();
  for (auto [tensor, map] :
       llvm::zip(op.getIndexedTensors(), op.getIndexingMapsArray())) {
    for (auto [pos, expr] : llvm::enumerate(map.getResults())) {
      // t * T + e, in either order.
      auto sum = dyn_cast<AffineBinaryOpExpr>(expr);
      if (!sum || sum.getKind() != AffineExprKind::Add)
        continue;
      for (auto [scaled, elementExpr] : {std::pair(sum.getLHS(), sum.getRHS()),
                                         std::pair(sum.getRHS(), sum.getLHS())}) {
        auto product = dyn_cast<AffineBinaryOpExpr>(scaled);
        auto element = dyn_cast<AffineDimExpr>(elementExpr);
        if (!product || product.getKind() != AffineExprKind::Mul || !element)
          continue;
        auto tile = dyn_cast<AffineDimExpr>(product.getLHS());
        if (!tile || tile.getPosition() >= sizes.size() ||
            element.getPosition() >= sizes.size())
          continue;
        Value extent = sizes[element.getPosition()];
        TiledRead read{slot(tensor.getAsOpaquePointer(), pos),
                       slot(op.getOperation(), tile.getPosition()),
                       slot(op.getOperation(), element.getPosition()), 0,
                       Value()};
        AffineExpr factor = product.getRHS();
        if (auto k = dyn_cast<AffineConstantExpr>(factor)) {
          if (getConstantIntValue(extent) != k.getValue() || k.getValue() <= 0)
            continue;
          read.constantSize = k.getValue();
        } else if (auto s = dyn_cast<AffineSymbolExpr>(factor)) {
          if (s.getPosition() >= symbols.size() ||
              symbols[s.getPosition()] != extent)
            continue;
          read.symbolicSize = extent;
        } else {
          continue;
        }
        tiledReads.push_back(read);
        break;
      }
    }
  }
}

/// Tiled reads of one rank with one tile size share their tile and element
/// ranks, and the converse. Returns whether a class changed (then further
/// reads may have become equal: run again).
bool RankAnalysis::closeTilings() {
  bool changed = false;
  for (unsigned i = 0; i < tiledReads.size(); ++i)
    for (unsigned j = i + 1; j < tiledReads.size(); ++j) {
      TiledRead &a = tiledReads[i], &b = tiledReads[j];
      if (a.constantSize != b.constantSize || a.symbolicSize != b.symbolicSize)
        continue;
      // One rank read in tiles of one size: one tile and one element rank.
      if (find(a.tensorDim) == find(b.tensorDim)) {
        changed |= unite(a.tile, b.tile);
        changed |= unite(a.element, b.element);
      }
      // Conversely, t * T + e over the same tile and element ranks is one
      // coordinate: the tensor dimensions read so are one rank.
      if (find(a.tile) == find(b.tile) && find(a.element) == find(b.element))
        changed |= unite(a.tensorDim, b.tensorDim);
    }
  return changed;
}

RankAnalysis::RankAnalysis(func::FuncOp kernel) {
  SmallVector<IterationSpaceOpInterface> ops;
  kernel.walk([&](Operation *op) {
    if (auto space = dyn_cast<IterationSpaceOpInterface>(op)) {
      ops.push_back(space);
      for (unsigned d = 0; d < space.getNumDims(); ++d)
        slot(op, d);
      linkBareAccesses(space);
      linkTiledAccesses(space);
    } else if (isa<FillOp, ScanOp>(op)) {
      // The result's dimensions are the input's.
      Value input = op->getOperand(0), result = op->getResult(0);
      auto type = cast<RankedTensorType>(input.getType());
      for (int64_t pos = 0; pos < type.getRank(); ++pos)
        unite(slot(input.getAsOpaquePointer(), pos),
              slot(result.getAsOpaquePointer(), pos));
    }
  });
  while (closeTilings()) {
  }
  // Name the ranks in order of first appearance.
  auto rankOfSlot = [&](unsigned s, StringRef fallback) {
    unsigned root = find(s);
    auto [it, inserted] = rankOfRoot.try_emplace(root, names.size());
    if (inserted)
      names.push_back(fallback.str());
    return it->second;
  };
  for (IterationSpaceOpInterface op : ops)
    for (unsigned d = 0; d < op.getNumDims(); ++d)
      rankOfSlot(slot(op.getOperation(), d), op.getIndexName(d));
  for (const TiledRead &read : tiledReads) {
    unsigned tile = rankOfSlot(read.tile, "");
    unsigned element = rankOfSlot(read.element, "");
    // A tiled rank that no op iterates bare any more (the max read its input
    // through m1 * T + m0) is named after its tiles: m1 -> m.
    StringRef tileName = names[tile];
    StringRef stem = tileName.substr(0, tileName.find('_'));
    std::string fallback = stem.size() > 1 && stem.ends_with("1")
                               ? stem.drop_back().str()
                               : "r" + std::to_string(names.size());
    Tiling t{rankOfSlot(read.tensorDim, fallback), tile, element,
             read.constantSize};
    if (!llvm::any_of(tilingList, [&](const Tiling &o) {
          return o.tile == t.tile && o.element == t.element;
        }))
      tilingList.push_back(t);
  }
}

unsigned RankAnalysis::rankOf(Operation *op, unsigned dim) {
  return rankOfRoot.lookup(find(slot(op, dim)));
}

std::optional<RankAnalysis::Tiling>
RankAnalysis::tilingOfTile(unsigned rank) const {
  for (const Tiling &t : tilingList)
    if (t.tile == rank)
      return t;
  return std::nullopt;
}

std::optional<RankAnalysis::Tiling>
RankAnalysis::tilingOfElement(unsigned rank) const {
  for (const Tiling &t : tilingList)
    if (t.element == rank)
      return t;
  return std::nullopt;
}
