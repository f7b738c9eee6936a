// What the Halide emitter builds from a kernel: the Funcs of the algorithm,
// what the scheduler needs to know about them, and what a run must bind.
// Internal to codegen/halide (it includes Halide.h).
#ifndef ATTN_CODEGEN_HALIDE_HALIDEPIPELINE_H
#define ATTN_CODEGEN_HALIDE_HALIDEPIPELINE_H

#include "codegen/halide/HalideEmitter.h"
#include "runtime/DType.h"
#include "runtime/KernelManifest.h"

#include "Halide.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::attn {

/// A scalar kernel argument, as a typed Halide Param so that a ParamMap can
/// bind it per run.
struct HalideScalarParam {
  Halide::Type type;
  std::optional<Halide::Param<float>> f32;
  std::optional<Halide::Param<double>> f64;
  std::optional<Halide::Param<int32_t>> i32;
  std::optional<Halide::Param<int64_t>> i64;
  std::optional<Halide::Param<uint8_t>> u8;
  /// The parameter as an Expr of `type`.
  Halide::Expr expr() const;
  /// Binds `value` (already rounded to the declared type) in `map`.
  void bind(Halide::ParamMap &map, double value) const;
};

/// One function argument.
struct HalideArgument {
  bool isScalar = false;
  Type type;                     // the MLIR type of the argument
  std::string name;              // attn.name, or "argN"
  std::vector<std::string> dims; // attn.dims (empty when absent)
  Halide::ImageParam image;      // tensors: dimension 0 is the last one
  HalideScalarParam scalar;      // scalars
};

/// What a stage var is in the one-pass form (DimensionRoles, from the IR's
/// structure): its rank (-1: none, as the block of an attn.online's rows),
/// whether it is a tile index (m1), and the tile size T where it runs over a
/// tiled rank (m) or a tile's elements (m0), else 0.
struct HalideVarRole {
  int rank = -1;
  bool tileIndex = false;
  int64_t tiledSize = 0;
  /// Argument reads along it are clamped (DimensionRoles::isPadded).
  bool padded = false;
};

/// One Func of the algorithm as the scheduler sees it.
struct HalideStage {
  std::string name;
  Halide::Func func;
  /// Pure variables in Halide order: vars[0] is the tensor's last (innermost,
  /// contiguous) dimension.
  std::vector<Halide::Var> vars;
  /// Reduction variables of the update, innermost first (empty: no update).
  std::vector<Halide::RVar> rvars;
  /// An elementwise stage (no reduction), cheap to recompute.
  bool elementwise = false;
  /// Index into HalidePipeline::outputs, or -1 for an intermediate.
  int output = -1;
  /// Read in full by the error check: must be computed over its whole domain.
  bool mustBeRoot = false;
  /// Pure vars that the update's where-clause reads (bit v: vars[v]): loops
  /// the reduction's bounds depend on, kept outside the reduction loops.
  uint64_t whereVars = 0;
  /// The extent of each var (Int(32); may be undefined).
  std::vector<Halide::Expr> extents;
  /// What each var is in the one-pass form.
  std::vector<HalideVarRole> varRoles;
  /// An attn.online's state: `rvars` run over the tiles; `blockVar` is the
  /// var of the row within a block of the blocked dimension, or -1.
  bool online = false;
  int blockVar = -1;
  /// Stages that read this one. `varLinks[v]` is the consumer's pure var
  /// index that fixes this stage's var `v` (through an affine access in that
  /// one dimension), or -1.
  struct Use {
    unsigned consumer;
    std::vector<int> varLinks;
  };
  std::vector<Use> uses;
};

/// One read of a tensor through an indexing map, for layout choices: which
/// of the consumer's loop variables each coordinate of the source is.
struct HalideMapRead {
  unsigned consumer; // the reading stage
  bool isImage = false;
  Halide::ImageParam image; // the source, when an argument
  int producer = -1;        // the source stage, if any
  Halide::Func source;      // or a Func that reads an argument (clamped)
  /// Per source var (Halide order): the consumer's pure var index or
  /// reduction var index that the coordinate is exactly, or -1.
  std::vector<int> pureVar, reductionVar;
};

/// One result of the kernel.
struct HalideOutput {
  Halide::Func func;
  Type elementType;         // the declared MLIR element type
  Halide::Type storageType; // bool is stored as uint8
  unsigned stage;           // index into HalidePipeline::stages
};

/// An error a run can detect, named by its code in HalidePipeline::errorCode.
struct HalideRunError {
  std::string what;  // "out-of-range read of Kc", "integer division by zero"
  int argument = -1; // the kernel argument read, whose shape the message shows
  int dimension = -1;
  std::string where; // "in the attn.einsum at FILE:LINE:COL"
};

/// The whole algorithm of one kernel, before scheduling.
struct HalidePipeline {
  std::vector<HalideArgument> arguments;
  std::vector<HalideStage> stages; // in definition order (producers first)
  std::vector<HalideMapRead> mapReads;
  std::vector<HalideOutput> outputs;
  /// Lanes of vectorized loops and rows per parallel task
  /// (HalideCodegenOptions; 0 there picks the target's f32 vector width, and
  /// twice that as the row tile of a kernel with an attn.online).
  int vectorWidth = 1, rowTile = 1;
  /// HalideCodegenOptions::strictFloat: every definition is wrapped in
  /// strict_float, except the multiply-add of a sum's accumulation (an FMA).
  bool strictFloat = true;
  /// A scalar Int(32) Func: 0, or 1 + the index into `runErrors` of an error
  /// at a contributing point (an out-of-range read, an integer division by
  /// zero). Undefined when no such error can happen.
  Halide::Func errorCode;
  std::vector<HalideRunError> runErrors;
  /// Funcs that only feed the error check (scheduled with it).
  std::vector<Halide::Func> errorStages;
  /// Run-time tile classes of attn.online ops (1: some point of the block
  /// of rows and the tile contributes), read by the tile loops'
  /// where-clauses: computed before the main loops.
  std::vector<Halide::Func> tileClasses;
};

/// Lowers `kernel` to the algorithm (no schedule). Unsupported constructs are
/// reported as MLIR diagnostics. Sets the pipeline's vector width and row
/// tile from `options` and `target`: the row tile is also the block of rows
/// of an attn.online's blocked dimension (see visitOnline).
LogicalResult buildHalidePipeline(func::FuncOp kernel, HalidePipeline &pipeline,
                                  const HalideCodegenOptions &options,
                                  const Halide::Target &target);

/// Chooses the schedule (HalideSchedule.cpp).
void scheduleHalidePipeline(HalidePipeline &pipeline,
                            const HalideCodegenOptions &options,
                            const Halide::Target &target);

/// The Halide target of `options` ("host": the host's features, less the
/// ones Halide 14 misdetects). An unknown
/// target string is reported on `kernel`. Shared by the JIT and AOT paths.
FailureOr<Halide::Target>
resolveHalideTarget(func::FuncOp kernel, const HalideCodegenOptions &options);

/// Maps an MLIR element type to the Halide type that stores it (i1: uint8).
std::optional<Halide::Type> halideStorageType(Type type);

/// The manifest of a kernel, less what depends on the artefact (target,
/// entry point, file): its arguments and run-time errors. The JIT's checks
/// and the ahead-of-time manifest both come from it.
::attn::rt::KernelManifest describeCpuKernel(const HostSignature &signature,
                                             const HalidePipeline &pipeline);

/// Counts one Halide compilation (halideCompilations()).
void countHalideCompilation();

} // namespace mlir::attn

#endif
