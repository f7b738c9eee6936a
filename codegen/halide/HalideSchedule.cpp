// The schedule half of the CPU code generator (Halide's algorithm/schedule
// split): how the Funcs that HalideEmitter.cpp defines are computed. Nothing
// here changes what is computed; tile sizes and widths come from the options.
//
// Outputs: the innermost dimension vectorized, the next one split into tiles
// of `rowTile` rows, the tile index fused with every outer dimension into one
// parallel loop. Intermediates, consumers first: an elementwise stage read only
// by elementwise stages is inlined; a stage read only inside one output's tile
// loop, whose coordinates follow every tiled output dimension, is computed per
// tile (compute_at); the rest are materialized (compute_root), parallel over
// their outermost dimension. Stages read by the error check are materialized.
// A vectorized reduction that reads a tensor whose contiguous coordinate is a
// reduction variable and another coordinate the vector lanes (Q[p, e] in
// S[m, p] = sum(e) Q[p, e] K[m, e]) reads it through a copy stored with the
// lane coordinate contiguous, made where the reduction is computed.
#include "codegen/halide/HalidePipeline.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::attn;
namespace H = Halide;

namespace {

enum class Placement { Inline, Tile, Root };

struct OutputTile {
  bool hasTile = false;
  H::Var tileVar;
  uint64_t tiledDims = 0; // bit v: output var v is tiled
};

/// Vectorizes `vars[0]` of one definition of a stage; in an update, moves the
/// vector lanes inside the reduction loops. Optionally makes the outermost
/// pure loop parallel.
void vectorizeDefinition(H::Stage stage, const HalideStage &s, int width,
                         bool parallel, bool isUpdate) {
  unsigned rank = s.vars.size();
  if (rank == 0)
    return;
  H::Var inner = s.vars[0];
  H::Var vo(s.name + "_vo" + (isUpdate ? "u" : "")),
      vi(s.name + "_vi" + (isUpdate ? "u" : ""));
  stage.split(inner, vo, vi, width, H::TailStrategy::GuardWithIf);
  stage.vectorize(vi);
  if (isUpdate && !s.rvars.empty()) {
    std::vector<H::VarOrRVar> order{vi};
    for (const H::RVar &r : s.rvars)
      order.push_back(r);
    order.push_back(vo);
    for (unsigned v = 1; v < rank; ++v)
      order.push_back(s.vars[v]);
    stage.reorder(order);
  }
  if (parallel)
    stage.parallel(rank >= 2 ? s.vars[rank - 1] : vo);
}

void scheduleStage(HalideStage &s, int width, bool parallel) {
  vectorizeDefinition(s.func, s, width, parallel, /*isUpdate=*/false);
  for (int u = 0; u < s.func.num_update_definitions(); ++u)
    vectorizeDefinition(s.func.update(u), s, width, parallel,
                        /*isUpdate=*/true);
}

OutputTile scheduleOutput(HalideStage &s, int width, int rowTile) {
  OutputTile tile;
  unsigned rank = s.vars.size();
  H::Func &f = s.func;
  if (rank == 0)
    return tile;
  H::Var v0 = s.vars[0];
  if (rank == 1) {
    H::Var o(s.name + "_t"), i(s.name + "_i");
    f.split(v0, o, i, width * rowTile, H::TailStrategy::GuardWithIf)
        .vectorize(i, width, H::TailStrategy::GuardWithIf)
        .parallel(o);
    tile.hasTile = true;
    tile.tileVar = o;
    tile.tiledDims = 1;
    return tile;
  }
  H::Var vo(s.name + "_vo"), vi(s.name + "_vi");
  f.split(v0, vo, vi, width, H::TailStrategy::GuardWithIf).vectorize(vi);
  H::Var ro(s.name + "_ro"), ri(s.name + "_ri");
  f.split(s.vars[1], ro, ri, rowTile, H::TailStrategy::GuardWithIf);
  H::Var fused = ro;
  for (unsigned v = 2; v < rank; ++v) {
    H::Var next(s.name + "_t" + std::to_string(v));
    f.fuse(fused, s.vars[v], next);
    fused = next;
  }
  f.parallel(fused);
  tile.hasTile = true;
  tile.tileVar = fused;
  for (unsigned v = 1; v < rank; ++v)
    tile.tiledDims |= uint64_t(1) << v;
  return tile;
}

} // namespace

void mlir::attn::scheduleHalidePipeline(HalidePipeline &p,
                                        const HalideCodegenOptions &options,
                                        const H::Target &target) {
  int width = options.vectorWidth > 0
                  ? options.vectorWidth
                  : target.natural_vector_size(H::Float(32));
  width = std::max(1, width);
  int rowTile = options.rowTile > 0 ? options.rowTile : width;
  unsigned numStages = p.stages.size();

  std::vector<OutputTile> tiles(p.outputs.size());
  for (const HalideOutput &out : p.outputs) {
    HalideStage &s = p.stages[out.stage];
    s.func.compute_root();
    tiles[s.output] = scheduleOutput(s, width, rowTile);
  }

  // Where each stage is computed: an output's tile (by index), or nowhere in
  // particular (-1: root, or inline into stages at different places).
  std::vector<int> tileOf(numStages, -1);
  std::vector<Placement> placement(numStages, Placement::Root);
  // For each stage var, the output vars (bits) that fix it.
  std::vector<std::vector<uint64_t>> linked(numStages);

  for (unsigned i = numStages; i-- > 0;) {
    HalideStage &s = p.stages[i];
    unsigned rank = s.vars.size();
    linked[i].assign(rank, 0);
    if (s.output >= 0) {
      tileOf[i] = tiles[s.output].hasTile ? s.output : -1;
      for (unsigned v = 0; v < rank; ++v)
        linked[i][v] = uint64_t(1) << v;
      continue;
    }
    if (s.uses.empty() || s.mustBeRoot || options.computeRoot) {
      placement[i] = Placement::Root;
      continue;
    }
    bool consumersElementwise = true;
    int commonTile = tileOf[s.uses.front().consumer];
    for (const HalideStage::Use &u : s.uses) {
      consumersElementwise &= p.stages[u.consumer].elementwise;
      if (tileOf[u.consumer] != commonTile)
        commonTile = -1;
    }
    // Output vars that fix each var, over every use (intersection).
    for (unsigned v = 0; v < rank; ++v) {
      uint64_t bits = ~uint64_t(0);
      for (const HalideStage::Use &u : s.uses) {
        int c = v < u.varLinks.size() ? u.varLinks[v] : -1;
        bits &= c >= 0 && c < static_cast<int>(linked[u.consumer].size())
                    ? linked[u.consumer][c]
                    : 0;
      }
      linked[i][v] = bits;
    }
    if (s.elementwise && consumersElementwise) {
      placement[i] = Placement::Inline;
      tileOf[i] = commonTile;
      continue;
    }
    uint64_t covered = 0;
    for (uint64_t bits : linked[i])
      covered |= bits;
    if (commonTile >= 0 && (covered & tiles[commonTile].tiledDims) ==
                               tiles[commonTile].tiledDims) {
      placement[i] = Placement::Tile;
      tileOf[i] = commonTile;
      continue;
    }
    placement[i] = Placement::Root;
  }

  for (unsigned i = 0; i < numStages; ++i) {
    HalideStage &s = p.stages[i];
    if (s.output >= 0)
      continue;
    switch (placement[i]) {
    case Placement::Inline:
      break;
    case Placement::Tile: {
      const HalideOutput &out = p.outputs[tileOf[i]];
      s.func.compute_at(out.func, tiles[tileOf[i]].tileVar);
      scheduleStage(s, width, /*parallel=*/false);
      break;
    }
    case Placement::Root:
      s.func.compute_root();
      scheduleStage(s, width, /*parallel=*/true);
      break;
    }
  }

  // Transposed copies for vectorized reductions.
  for (HalideMapRead &read : p.mapReads) {
    HalideStage &s = p.stages[read.consumer];
    Placement where = placement[read.consumer];
    if (s.rvars.empty() || s.vars.empty() || s.output >= 0 ||
        where == Placement::Inline || read.reductionVar.empty() ||
        read.reductionVar[0] < 0)
      continue;
    int lane = -1;
    for (unsigned v = 1; v < read.pureVar.size(); ++v)
      if (read.pureVar[v] == 0)
        lane = v;
    if (lane < 0)
      continue;
    H::Func copy = read.isImage ? read.image.in(s.func)
                                : p.stages[read.producer].func.in(s.func);
    std::vector<H::Var> args = copy.args();
    std::vector<H::Var> storage{args[lane]};
    std::vector<H::VarOrRVar> loops{args[lane]};
    for (unsigned v = 0; v < args.size(); ++v)
      if (static_cast<int>(v) != lane) {
        storage.push_back(args[v]);
        loops.push_back(args[v]);
      }
    copy.reorder_storage(storage).reorder(loops);
    copy.vectorize(args[lane], width, H::TailStrategy::GuardWithIf);
    if (where == Placement::Tile)
      copy.compute_at(p.outputs[tileOf[read.consumer]].func,
                      tiles[tileOf[read.consumer]].tileVar);
    else
      copy.compute_root().parallel(args.back());
  }

  for (H::Func &f : p.errorStages) {
    f.compute_root();
    if (f.dimensions() == 1) {
      H::Var o = f.args()[0];
      f.parallel(o);
      for (int u = 0; u < f.num_update_definitions(); ++u)
        f.update(u).parallel(o);
    }
  }
  if (p.errorCode.defined())
    p.errorCode.compute_root();
}
