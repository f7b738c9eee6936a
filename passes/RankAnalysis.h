// Ranks of a cascade: the classes of iteration dimensions and tensor
// dimensions that are the same axis (the keys `m`, the queries `p`, ...),
// linked through bare-dimension accesses.
#ifndef ATTN_PASSES_RANKANALYSIS_H
#define ATTN_PASSES_RANKANALYSIS_H

#include "dialect/AttnOps.h"
#include "llvm/ADT/DenseMap.h"

#include <string>

namespace mlir::attn {

class RankAnalysis {
public:
  explicit RankAnalysis(func::FuncOp kernel);

  /// The rank of dimension `dim` of the iteration space of `op` (an
  /// attn.einsum or attn.online).
  unsigned rankOf(Operation *op, unsigned dim);
  /// The rank's name: the source index name where the frontend recorded it
  /// (`attn.indices`), else `d<N>` of the first einsum that iterates it.
  const std::string &name(unsigned rank) { return names[rank]; }
  unsigned numRanks() const { return names.size(); }

private:
  unsigned slot(const void *owner, unsigned pos);
  unsigned find(unsigned x);
  void unite(unsigned a, unsigned b);

  llvm::DenseMap<std::pair<const void *, unsigned>, unsigned> slots;
  SmallVector<unsigned> parent;
  llvm::DenseMap<unsigned, unsigned> rankOfRoot;
  SmallVector<std::string> names;
};

} // namespace mlir::attn

#endif
