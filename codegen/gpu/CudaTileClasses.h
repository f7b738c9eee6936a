// Internal to codegen/gpu: which key tiles of the fused attention launch
// contribute nothing (skipped) and which every filter covers (run without
// per-element filters), decided at run time by the tile-interval analysis
// (passes/TileIntervals.h) built as device arithmetic over a box of the
// canonical dimensions.
#ifndef ATTN_CODEGEN_GPU_CUDATILECLASSES_H
#define ATTN_CODEGEN_GPU_CUDATILECLASSES_H

#include "codegen/gpu/CudaEmitter.h"
#include "codegen/gpu/CudaFusedAttention.h"
#include "passes/TileIntervals.h"

#include <optional>

namespace mlir::attn::cuda {

/// The index interval [lo, hi] (device values) a canonical dimension spans.
using DimInterval = Interval<Value>;

/// A box's class: `full` (i1) when every filter of the launch holds on the
/// whole box; `empty` (i1) when a filter that the maximum's input X needs
/// (or the online op's) holds nowhere on it.
struct TileClass {
  Value full, empty;
};

/// Classifies `box` (per canonical dimension of `fa`, its interval, or
/// none where unknown) for the filters of the einsums `fa` covers and of
/// its online op; `symbols` are the canonical symbols' device values.
/// Unknown constraints are neither full nor empty.
TileClass classifyTile(emit::DeviceFunction &f, const FusedAttention &fa,
                       ArrayRef<Value> symbols,
                       ArrayRef<std::optional<DimInterval>> box);

} // namespace mlir::attn::cuda

#endif
