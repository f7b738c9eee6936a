// The schedule half of the CPU code generator (Halide's algorithm/schedule
// split): how the Funcs that the emitter (HalideEmitter.cpp and its parts)
// defines are computed. Nothing here changes what is computed; tile sizes and
// widths come from the options.
//
// Outputs: the innermost dimension vectorized, the next one split into tiles
// of `rowTile` rows, the tile index fused with every outer dimension into one
// parallel loop. Intermediates, consumers first: an elementwise stage read only
// by elementwise stages is inlined; a stage read only inside one output's tile
// loop, whose coordinates follow every tiled output dimension, is computed per
// tile (compute_at); the rest are materialized (compute_root), parallel over
// their outermost dimension; an attn.online state so materialized (read by
// several outputs) is computed per block of rows of a tiled copy. Stages read
// by the error check are materialized.
// A vectorized reduction that reads a tensor whose contiguous coordinate is a
// reduction variable and another coordinate the vector lanes (Q[p, e] in
// S[m, p] = sum(e) Q[p, e] K[m, e]) reads it through a copy stored with the
// lane coordinate contiguous, made where the reduction is computed.
#include "codegen/halide/HalidePipeline.h"

#include <algorithm>
#include <optional>

using namespace mlir;
using namespace mlir::attn;
namespace H = Halide;

namespace {

enum class Placement { Inline, Tile, PerTile, Root };

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

/// The rows of an output's parallel tile: `rowTile`, except where the output
/// reads attn.online states none of which has a blocked dimension (decode:
/// every row reads keys of its own, so rows in one tile share no tile of
/// keys): one row per task, the most parallelism.
int outputRowTile(const HalidePipeline &p, unsigned outputStage) {
  std::vector<bool> feeds(p.stages.size(), false);
  feeds[outputStage] = true;
  bool anyOnline = false, anyBlocked = false;
  for (unsigned i = outputStage + 1; i-- > 0;) {
    const HalideStage &s = p.stages[i];
    if (i != outputStage)
      feeds[i] = llvm::any_of(
          s.uses, [&](const HalideStage::Use &u) { return feeds[u.consumer]; });
    if (feeds[i] && s.online) {
      anyOnline = true;
      anyBlocked |= s.blockVar >= 0;
    }
  }
  return anyOnline && !anyBlocked ? 1 : p.rowTile;
}

/// For each stage, the attn.online stage whose tiles it is computed for, or
/// -1: the online's inputs (the per-tile partials) and, transitively, the
/// producers read only by such stages that carry a tiled index (m1, m0, or
/// the rank m they tile: the scores S[.., m, p] of a tile).
std::vector<int> perTileOwners(const HalidePipeline &p) {
  unsigned numStages = p.stages.size();
  std::vector<int> owner(numStages, -1);
  auto eligible = [&](const HalideStage &s) {
    return s.output < 0 && !s.mustBeRoot && !s.online && !s.uses.empty();
  };
  for (unsigned o = 0; o < numStages; ++o)
    if (p.stages[o].online)
      for (unsigned i = 0; i < o; ++i)
        for (const HalideStage::Use &u : p.stages[i].uses)
          if (u.consumer == o && eligible(p.stages[i]))
            owner[i] = o;
  for (unsigned i = numStages; i-- > 0;) {
    const HalideStage &s = p.stages[i];
    if (owner[i] >= 0 || !eligible(s) ||
        llvm::none_of(s.varRoles, [](const HalideVarRole &r) {
          return r.tileIndex || r.tiledSize > 0;
        }))
      continue;
    int o = owner[s.uses.front().consumer];
    if (o >= 0 && llvm::all_of(s.uses, [&](const HalideStage::Use &u) {
          return owner[u.consumer] == o;
        }))
      owner[i] = o;
  }
  // A stage read outside the tiles (by a stage that must be materialized,
  // say) is not computed per tile, nor are the stages it reads.
  for (bool changed = true; changed;) {
    changed = false;
    for (unsigned i = 0; i < numStages; ++i)
      if (owner[i] >= 0 &&
          llvm::any_of(p.stages[i].uses, [&](const HalideStage::Use &u) {
            return static_cast<int>(u.consumer) != owner[i] &&
                   owner[u.consumer] != owner[i];
          })) {
        owner[i] = -1;
        changed = true;
      }
  }
  return owner;
}

/// A per-tile stage: computed in the online update's loop over the tiles,
/// for the rows of the block and the keys of the tile it needs, in storage
/// of a fixed size (on the stack).
///
/// The vectorized var is one of fixed extent (the rows, else the keys) that
/// the where-clause does not read, else the innermost var that is not a tile
/// index. A reduction is register tiled: the consumers read a copy
/// computed per tile (`in()`), and the reduction is computed per block of 2
/// vectors x 4 values of a second var (keys, rows or the values'
/// dimension), or 4 vectors, with its reduction loops outside that block,
/// which LLVM keeps in registers. The block is computed whole along rows and
/// keys (reads of arguments past their extents repeat the edge,
/// HalideEinsum.cpp), and a run-time extent is specialized for multiples of
/// the block, so that it needs no guards. A var the where-clause reads (the
/// rows, at a causal diagonal) stays outside the reduction loops: one bound
/// per row.
/// Returns the vectorized var.
int schedulePerTile(HalideStage &s, const HalideStage &online,
                    const HalidePipeline &p, int width) {
  H::LoopLevel tile(online.func, online.rvars.back());
  const auto guard = H::TailStrategy::GuardWithIf;
  unsigned rank = s.vars.size();
  int rowRank =
      online.blockVar >= 0 ? online.varRoles[online.blockVar].rank : -1;
  auto sameRank = [](const HalideVarRole &a, const HalideVarRole &b) {
    return a.rank >= 0 && a.rank == b.rank;
  };
  std::vector<int> fixed(rank, 0); // extent per tile, 0 if not fixed
  for (unsigned v = 0; v < rank; ++v) {
    const HalideVarRole &r = s.varRoles[v];
    if (r.tileIndex)
      fixed[v] = 1;
    else if (r.tiledSize > 0)
      fixed[v] = static_cast<int>(r.tiledSize);
    else if (rowRank >= 0 && r.rank == rowRank)
      fixed[v] = p.rowTile;
  }
  auto inWhere = [&](int v) { return s.whereVars >> v & 1; };
  int v0 = -1, v1 = -1;
  for (unsigned v = 0; v < rank && v0 < 0; ++v)
    if (fixed[v] > 1 && !inWhere(v))
      v0 = v;
  for (unsigned v = 0; v < rank && v0 < 0; ++v)
    if (fixed[v] != 1)
      v0 = v;
  if (v0 < 0)
    return -1;
  // The second var of a register block: keys, rows, or the values'
  // dimension (the online state's innermost), never one with extent 1.
  for (unsigned v = 0; v < rank && v1 < 0; ++v)
    if (static_cast<int>(v) != v0 && !inWhere(v) &&
        (fixed[v] > 1 || sameRank(s.varRoles[v], online.varRoles[0])))
      v1 = v;

  // Vectors per register block along v0: 4 without a second var.
  int vectors = v1 >= 0 ? 2 : 4;
  if (fixed[v0] > 0)
    vectors = std::max(1, std::min(vectors, fixed[v0] / width));
  H::Expr extent0 = fixed[v0] > 0 ? H::Expr(fixed[v0])
                    : v0 < static_cast<int>(s.extents.size()) ? s.extents[v0]
                                                              : H::Expr();
  bool registerTile = !s.rvars.empty() && extent0.defined();
  H::Func computed = s.func;
  if (registerTile) {
    // The per-tile copy read by the consumers; the accumulator per block.
    computed = s.func.in();
    std::vector<H::Var> args = computed.args();
    H::Var o0(s.name + "_bo0"), w0(s.name + "_bw0"), u0(s.name + "_bu0"),
        i0(s.name + "_bi0"), o1(s.name + "_bo1"), i1(s.name + "_bi1");
    computed.split(args[v0], o0, w0, vectors * width, guard)
        .split(w0, u0, i0, width, guard)
        .vectorize(i0)
        .unroll(u0);
    std::vector<H::VarOrRVar> order{i0, u0};
    // A second var of run-time extent whose argument reads are clamped
    // (the values' dimension of P V): rounded up to the block, no guard.
    // (A guard would stay inside the reduction loop at masked tiles, which
    // loop partitioning does not reach, and keep the accumulators in
    // memory.)
    bool roundUp1 = v1 >= 0 && !fixed[v1] && s.varRoles[v1].padded;
    if (v1 >= 0) {
      computed
          .split(args[v1], o1, i1, 4,
                 roundUp1 ? H::TailStrategy::RoundUp : guard)
          .unroll(i1);
      order.push_back(i1);
    }
    order.push_back(o0);
    if (v1 >= 0)
      order.push_back(o1);
    for (unsigned v = 0; v < rank; ++v)
      if (static_cast<int>(v) != v0 && static_cast<int>(v) != v1)
        order.push_back(args[v]);
    computed.reorder(order);
    // An extent known at run time only: without guards (and with the
    // accumulators in registers) for multiples of the register block.
    if (!fixed[v0])
      computed.specialize(extent0 % (vectors * width) == 0);
    // The block is computed whole along rows and keys (past the extent,
    // reads of arguments repeat the edge); its storage has a fixed size.
    s.func.compute_at(computed, o0).bound_storage(s.vars[v0], vectors * width);
    if (fixed[v0] > 0)
      s.func.bound_extent(s.vars[v0], vectors * width);
    std::vector<H::Var> storage{s.vars[v0]};
    if (v1 >= 0) {
      s.func.bound_storage(s.vars[v1], 4);
      if (fixed[v1] > 0 || roundUp1)
        s.func.bound_extent(s.vars[v1], 4);
      storage.push_back(s.vars[v1]);
    }
    for (unsigned v = 0; v < rank; ++v)
      if (static_cast<int>(v) != v0 && static_cast<int>(v) != v1)
        storage.push_back(s.vars[v]);
    s.func.reorder_storage(storage);
  }
  // At most a tile of keys and a block of rows: a fixed allocation; one
  // tile along the tile index: no loop there (fewer loops for Halide's loop
  // partitioning to copy, a shorter compile).
  computed.compute_at(tile);
  for (unsigned v = 0; v < rank; ++v) {
    if (fixed[v] > 0)
      computed.bound_storage(computed.args()[v], fixed[v]);
    if (fixed[v] == 1)
      computed.bound_extent(computed.args()[v], 1);
  }

  // The stage itself: vectorized, and in a register block fully unrolled.
  if (!registerTile)
    s.func.vectorize(s.vars[v0], width, guard);
  else {
    H::Var o(s.name + "_po"), w(s.name + "_pw"), u(s.name + "_pu"),
        i(s.name + "_pi");
    s.func.split(s.vars[v0], o, w, vectors * width, guard)
        .split(w, u, i, width, guard)
        .vectorize(i)
        .unroll(u);
    if (v1 >= 0)
      s.func.unroll(s.vars[v1], 4, guard);
  }
  for (int k = 0; k < s.func.num_update_definitions(); ++k) {
    H::Stage st = s.func.update(k);
    std::string tag = s.name + "_u" + std::to_string(k);
    H::Var o0(tag + "_o0"), w0(tag + "_w0"), u0(tag + "_u0"), i0(tag + "_i0");
    H::Var o1(tag + "_o1"), i1(tag + "_i1");
    st.split(s.vars[v0], o0, w0, vectors * width, guard)
        .split(w0, u0, i0, width, guard)
        .vectorize(i0)
        .unroll(u0);
    std::vector<H::VarOrRVar> order{i0, u0};
    if (registerTile && v1 >= 0) {
      st.split(s.vars[v1], o1, i1, 4, guard).unroll(i1);
      order.push_back(i1);
    }
    for (const H::RVar &r : s.rvars)
      order.push_back(r);
    order.push_back(o0);
    if (registerTile && v1 >= 0)
      order.push_back(o1);
    for (unsigned v = 0; v < rank; ++v)
      if (static_cast<int>(v) != v0 &&
          !(registerTile && static_cast<int>(v) == v1))
        order.push_back(s.vars[v]);
    st.reorder(order);
  }
  return v0;
}

/// For each stage computed per tile of an attn.online without a blocked
/// dimension (no rows share a tile: decode), that reduces along the
/// contiguous coordinate of a tensor it reads (`e` of K[b, h, m, e] in
/// S[b, h, m] = sum(e) Q[b, h, e] K[b, h, m, e]): the index of that
/// reduction var in `rvars`, else -1. Such a reduction is vectorized along
/// it (horizontal sums), reading the tensor as it is stored: a transposed
/// copy that no other row reads costs more than the reduction.
std::vector<int> horizontalReductions(const HalidePipeline &p,
                                      const std::vector<Placement> &placement,
                                      const std::vector<int> &owner) {
  // Per stage: the reduction var, -1 none yet, -2 not so (a tensor read
  // contiguously along a pure var, or along different reduction vars).
  std::vector<int> rvar(p.stages.size(), -1);
  for (const HalideMapRead &read : p.mapReads) {
    unsigned c = read.consumer;
    const HalideStage &s = p.stages[c];
    if (placement[c] != Placement::PerTile || s.rvars.empty() ||
        p.stages[owner[c]].blockVar >= 0 || read.reductionVar.empty() ||
        s.func.num_update_definitions() != 1)
      rvar[c] = -2;
    bool argument = read.isImage || read.source.defined();
    if (rvar[c] == -2 || !argument)
      continue;
    int r = read.reductionVar[0];
    rvar[c] = r >= 0 && (rvar[c] == -1 || rvar[c] == r) ? r : -2;
  }
  for (int &r : rvar)
    r = std::max(r, -1);
  return rvar;
}

/// A per-tile reduction of `horizontalReductions`: the reduction var `r`
/// split into vectors (atomic: a horizontal sum per vector), innermost,
/// inside a block of 4 of the tile's keys (the reductions of 4 keys
/// interleaved); storage of one tile. Returns the var of the keys.
int scheduleHorizontalPerTile(HalideStage &s, const HalideStage &online, int r,
                              int width) {
  const auto guard = H::TailStrategy::GuardWithIf;
  unsigned rank = s.vars.size();
  int v0 = 0;
  for (unsigned v = rank; v-- > 0;)
    if (s.varRoles[v].tiledSize > 0)
      v0 = v;
  s.func.compute_at(H::LoopLevel(online.func, online.rvars.back()));
  for (unsigned v = 0; v < rank; ++v)
    if (s.varRoles[v].tileIndex)
      s.func.bound_storage(s.vars[v], 1);
    else if (s.varRoles[v].tiledSize > 0)
      s.func.bound_storage(s.vars[v],
                           static_cast<int>(s.varRoles[v].tiledSize));
  s.func.vectorize(s.vars[v0], width, guard);
  H::Stage st = s.func.update(0);
  std::string tag = s.name + "_h";
  H::RVar ro(tag + "_ro"), ri(tag + "_ri");
  H::Var ko(tag + "_ko"), ki(tag + "_ki");
  st.split(s.rvars[r], ro, ri, width, guard)
      .split(s.vars[v0], ko, ki, 4, guard);
  std::vector<H::VarOrRVar> order{ri, ki, ro};
  for (unsigned k = 0; k < s.rvars.size(); ++k)
    if (static_cast<int>(k) != r)
      order.push_back(s.rvars[k]);
  order.push_back(ko);
  for (unsigned v = 0; v < rank; ++v)
    if (static_cast<int>(v) != v0)
      order.push_back(s.vars[v]);
  st.reorder(order).atomic();
  st.vectorize(ri).unroll(ki);
  return v0;
}

/// The state of an attn.online: vectorized along its innermost var; in the
/// update, the loop over the tiles encloses the vars that vary within an
/// output tile (the innermost one and the row of the block), so that the
/// per-tile stages computed at it cover the whole block.
void scheduleOnline(HalideStage &s, int width) {
  const auto guard = H::TailStrategy::GuardWithIf;
  s.func.vectorize(s.vars[0], width, guard);
  H::Stage st = s.func.update(0);
  H::Var o(s.name + "_uo"), i(s.name + "_ui");
  st.split(s.vars[0], o, i, width, guard).vectorize(i);
  std::vector<H::VarOrRVar> order{i, o};
  unsigned row = s.blockVar > 0 ? s.blockVar : 1;
  if (row < s.vars.size())
    order.push_back(s.vars[row]);
  for (const H::RVar &r : s.rvars)
    order.push_back(r);
  for (unsigned v = 1; v < s.vars.size(); ++v)
    if (v != row)
      order.push_back(s.vars[v]);
  st.reorder(order);
}

/// An attn.online state that is not computed per output tile (read by
/// several outputs: O and the log-sum-exp L = GM + log(SD)) is materialized
/// through a copy tiled like an output: the innermost var vectorized, the
/// vars outside the block's rows parallel, and the state (with its per-tile
/// stages) computed per block of rows, in storage of one block, as it is per
/// output tile otherwise. The loops are nested, not fused: Halide 14 bounds a
/// state computed inside a fused loop by every later block. Returns the level
/// of one block, for the copies made per block.
H::LoopLevel scheduleMaterializedOnline(HalideStage &s, int width) {
  H::Func state = s.func.in();
  std::vector<H::Var> args = state.args();
  state.compute_root();
  unsigned row = s.blockVar > 0 ? s.blockVar : 1;
  std::optional<H::Var> block; // the innermost loop outside the rows
  for (unsigned v = 1; v < args.size(); ++v) {
    if (v == row)
      continue;
    s.func.bound_storage(s.vars[v], 1);
    state.parallel(args[v]);
    if (!block)
      block = args[v];
  }
  state.vectorize(args[0], width, H::TailStrategy::GuardWithIf);
  scheduleOnline(s, width);
  if (!block) {
    s.func.compute_root();
    return H::LoopLevel::root();
  }
  H::LoopLevel level(state, *block);
  s.func.compute_at(level);
  return level;
}

/// Transposed copies for vectorized reductions: a reduction vectorized along
/// `lane[i]` that reads a tensor whose contiguous coordinate is a reduction
/// variable and another coordinate the lanes reads a copy stored with the
/// lane coordinate contiguous, made per block of the reduction's (the
/// output's tile, or the materialized online state's block: `blockLevel`).
void scheduleTransposedCopies(HalidePipeline &p,
                              const std::vector<Placement> &placement,
                              const std::vector<int> &owner,
                              const std::vector<int> &horizontal,
                              const std::vector<int> &lane,
                              const std::vector<H::LoopLevel> &blockLevel,
                              int width) {
  for (HalideMapRead &read : p.mapReads) {
    HalideStage &s = p.stages[read.consumer];
    Placement where = placement[read.consumer];
    if (s.rvars.empty() || s.vars.empty() || s.output >= 0 || s.online ||
        where == Placement::Inline || read.reductionVar.empty() ||
        read.reductionVar[0] < 0 || lane[read.consumer] < 0 ||
        (read.producer >= 0 &&
         placement[read.producer] == Placement::PerTile) ||
        horizontal[read.consumer] >= 0)
      continue;
    int laneCoord = -1;
    for (unsigned v = 1; v < read.pureVar.size(); ++v)
      if (read.pureVar[v] == lane[read.consumer])
        laneCoord = v;
    if (laneCoord < 0)
      continue;
    H::Func copy = read.isImage ? read.image.in(s.func)
                   : read.source.defined()
                       ? read.source.in(s.func)
                       : p.stages[read.producer].func.in(s.func);
    std::vector<H::Var> args = copy.args();
    std::vector<H::Var> storage{args[laneCoord]};
    std::vector<H::VarOrRVar> loops{args[laneCoord]};
    for (unsigned v = 0; v < args.size(); ++v)
      if (static_cast<int>(v) != laneCoord) {
        storage.push_back(args[v]);
        loops.push_back(args[v]);
      }
    copy.reorder_storage(storage).reorder(loops);
    copy.vectorize(args[laneCoord], width, H::TailStrategy::GuardWithIf);
    if (where == Placement::PerTile &&
        p.stages[owner[read.consumer]].blockVar < 0) {
      const HalideStage &online = p.stages[owner[read.consumer]];
      copy.compute_at(H::LoopLevel(online.func, online.rvars.back()));
    } else if (where == Placement::Tile || where == Placement::PerTile)
      copy.compute_at(blockLevel[read.consumer]);
    else
      copy.compute_root().parallel(args.back());
  }
}

} // namespace

void mlir::attn::scheduleHalidePipeline(HalidePipeline &p,
                                        const HalideCodegenOptions &options,
                                        const H::Target &target) {
  int width = p.vectorWidth;
  unsigned numStages = p.stages.size();
  std::vector<int> owner = perTileOwners(p);
  std::vector<int> lane(numStages, 0); // the vectorized var of each stage

  std::vector<OutputTile> tiles(p.outputs.size());
  for (const HalideOutput &out : p.outputs) {
    HalideStage &s = p.stages[out.stage];
    s.func.compute_root();
    tiles[s.output] = scheduleOutput(s, width, outputRowTile(p, out.stage));
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
    if (owner[i] >= 0) {
      placement[i] = Placement::PerTile;
      tileOf[i] = tileOf[owner[i]];
      linked[i].assign(rank, 0);
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

  std::vector<int> horizontal = horizontalReductions(p, placement, owner);
  // The loop of one block where each stage is computed: an output's tile,
  // or a materialized online state's block (its per-tile stages' too).
  std::vector<H::LoopLevel> blockLevel(numStages, H::LoopLevel::root());
  for (unsigned i = numStages; i-- > 0;) {
    HalideStage &s = p.stages[i];
    if (s.output >= 0)
      continue;
    switch (placement[i]) {
    case Placement::Inline:
      break;
    case Placement::Tile: {
      const HalideOutput &out = p.outputs[tileOf[i]];
      blockLevel[i] = H::LoopLevel(out.func, tiles[tileOf[i]].tileVar);
      s.func.compute_at(blockLevel[i]);
      if (s.online) {
        scheduleOnline(s, width);
        // One block of rows per output tile (the block's var follows the
        // row's, HalideOnline.cpp): no loop over blocks for Halide's loop
        // partitioning to copy (half of sliding_window's compile time).
        int block = s.blockVar + 1;
        if (s.blockVar >= 0 && block < static_cast<int>(s.vars.size()))
          s.func.bound_extent(s.vars[block], 1);
      } else
        scheduleStage(s, width, /*parallel=*/false);
      break;
    }
    case Placement::PerTile:
      blockLevel[i] = blockLevel[owner[i]];
      lane[i] = horizontal[i] >= 0
                    ? scheduleHorizontalPerTile(s, p.stages[owner[i]],
                                                horizontal[i], width)
                    : schedulePerTile(s, p.stages[owner[i]], p, width);
      break;
    case Placement::Root:
      if (s.online) {
        blockLevel[i] = scheduleMaterializedOnline(s, width);
        break;
      }
      s.func.compute_root();
      scheduleStage(s, width, /*parallel=*/true);
      break;
    }
  }

  scheduleTransposedCopies(p, placement, owner, horizontal, lane, blockLevel,
                           width);

  // Tile classes: before everything, parallel over their outermost var.
  for (H::Func &f : p.tileClasses) {
    f.compute_root();
    H::Var o = f.args().back();
    f.parallel(o);
    f.update(0).parallel(o);
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
