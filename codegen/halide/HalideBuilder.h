// Internal to codegen/halide: the pipeline builder (one kernel's algorithm as
// Halide Funcs under construction), shared by HalideEmitter.cpp (arguments,
// fill, return), HalideEinsum.cpp, HalideOnline.cpp, HalideScan.cpp,
// HalideRegions.cpp and HalideErrorChecks.cpp.
#ifndef ATTN_CODEGEN_HALIDE_HALIDEBUILDER_H
#define ATTN_CODEGEN_HALIDE_HALIDEBUILDER_H

#include "codegen/halide/HalideDomain.h"
#include "codegen/halide/HalideIntervals.h"
#include "codegen/halide/HalidePipeline.h"
#include "codegen/halide/HalideStructure.h"

#include "dialect/AttnOps.h"

#include "llvm/ADT/DenseMap.h"

#include <map>
#include <set>

namespace mlir::attn::halide {

namespace H = ::Halide;
namespace HI = ::Halide::Internal;

//===----------------------------------------------------------------------===//
// Expression helpers
//===----------------------------------------------------------------------===//

inline bool isTrue(const H::Expr &e) { return HI::is_const_one(e); }
inline bool isFalse(const H::Expr &e) { return HI::is_const_zero(e); }
H::Expr andE(const H::Expr &a, const H::Expr &b);
H::Expr orE(const H::Expr &a, const H::Expr &b);
H::Expr notE(const H::Expr &a);
/// The first nonzero error code of `first` (checked first) and `second`.
H::Expr firstError(const H::Expr &first, const H::Expr &second);
/// `code` where `cond` holds, else 0.
H::Expr errorIf(const H::Expr &cond, const H::Expr &code);
H::Expr negInf(H::Type t);
H::Expr posInf(H::Type t);
/// A coordinate `c` clamped to [0, extent), or (`boundAboveByExtent`) one
/// never below 0 bounded above by `extent - 1`. Halide's bounds see
/// [0, extent), empty where the extent is 0: a plain clamp reads index 0 of
/// an empty tensor (M = 0), which Halide's bounds check rejects even though
/// no loop reaches the read.
H::Expr clampToExtent(const H::Expr &c, const H::Expr &extent);
H::Expr boundAboveByExtent(const H::Expr &c, const H::Expr &extent);
/// The names of the Funcs `e` calls (not arguments).
std::set<std::string> funcsCalled(const H::Expr &e);

//===----------------------------------------------------------------------===//
// How a tensor value is seen in Halide
//===----------------------------------------------------------------------===//

/// `pe.expr` with its dimension variables replaced by `coords`.
H::Expr substituteDims(const PresenceExpr &pe,
                       const std::vector<H::Expr> &coords);

struct TensorView {
  bool isImage = false;
  H::ImageParam image;
  H::Func func;
  int stage = -1;           // index into HalidePipeline::stages
  Type elementType;         // MLIR element type
  unsigned numElements = 1; // tuple size of `func`
  int presentIndex = -1;    // tuple element of the presence flag, or -1
  /// Presence when presentIndex < 0: uniformPresent (a condition on sizes)
  /// and, when set, membership of the coordinates in `domain`.
  H::Expr uniformPresent;
  std::optional<AffineDomain> domain;
  std::vector<H::Expr> extents; // tensor order, Int(32)
  std::string description;      // for messages
  int argument = -1;            // the kernel argument it is, or -1
  /// Presence as an expression of the arguments only, where it is one.
  std::optional<PresenceExpr> presenceExpr;
  /// For a reduction einsum: whether one iteration point contributes.
  std::optional<PointPresence> pointPresence;

  unsigned rank() const { return extents.size(); }
  /// Loads the element at `coords` (tensor order, Int(32), in range): its
  /// value (as a computation value: bool for i1) and presence.
  std::pair<H::Expr, H::Expr> load(const std::vector<H::Expr> &coords) const;
  /// Presence varies from element to element (a stored flag or a domain).
  bool hasElementPresence() const {
    return presentIndex >= 0 || (domain && !domain->isEverywhere());
  }
};

/// What a region (guard or body) evaluates to at one point.
struct RegionValue {
  H::Expr value;
  /// Every table element read is present.
  H::Expr present = HI::const_true();
  /// Evaluation got to the end: every read was present and in range.
  H::Expr reached = HI::const_true();
  /// The error code of the first out-of-range read (0: none).
  H::Expr error = HI::make_zero(H::Int(32));
  bool elementPresence = false; // some read has a per-element presence
  bool checked = false;         // some read is range-checked
};

/// The iteration point of one einsum, as the regions see it.
struct Point {
  EinsumOp op;
  SmallVector<H::Expr> dims; // Int(32): a Var, an RVar
  SmallVector<H::Expr> sizes;
  SmallVector<H::Expr> syms;
  unsigned stage; // the stage being defined (for uses)
};

/// One einsum's check (HalideErrorChecks.cpp): `code` (the error code of a
/// point, 0 where it has none) over the dimensions it reads, `dims`
/// (outermost first: the variable's name in `code`, the extent). The check
/// is skipped where `skip` holds: the reads are proven in range before the
/// run, or the iteration space is empty.
struct ErrorCheck {
  std::string name;
  H::Expr code;
  std::vector<std::pair<std::string, H::Expr>> dims;
  H::Expr skip;
};

struct EinsumLowering;
struct OnlineLowering;

//===----------------------------------------------------------------------===//
// The builder
//===----------------------------------------------------------------------===//

class PipelineBuilder {
public:
  PipelineBuilder(func::FuncOp kernel, HalidePipeline &pipeline,
                  DimensionRoles &roles, int blockRows)
      : kernel(kernel), p(pipeline), roles(roles), blockRows(blockRows) {}

  LogicalResult build();

private:
  // HalideEmitter.cpp: arguments, function-level ops, fill and return.
  LogicalResult addArguments();
  LogicalResult visit(Operation *op);
  FailureOr<TensorView> makeFilled(const TensorView &in, Type elementType,
                                   double fill, Operation *op,
                                   const std::string &name);
  LogicalResult visitFill(FillOp op);
  LogicalResult visitReturn(func::ReturnOp op);

  /// `e` evaluated with IEEE semantics where the options ask for them
  /// (strictFloat: every definition is wrapped, see buildHalidePipeline).
  H::Expr strict(const H::Expr &e) const;
  std::vector<H::Expr> strict(std::vector<H::Expr> es) const;
  /// `acc + value` for a sum: where `value` is a product, the multiply and
  /// the add stay outside strict_float so that LLVM contracts them into an
  /// FMA (an IEEE operation: one rounding).
  H::Expr accumulate(const H::Expr &acc, const H::Expr &value) const;
  /// Whether `e` reads a stage of the pipeline (a clamped copy of an
  /// argument is not one).
  bool readsStage(const H::Expr &e) const;
  /// The Func name of `op`'s result: its statement's name (`suffix` added),
  /// else `fallback`; unique and valid.
  std::string funcName(Operation *op, const std::string &suffix,
                       const std::string &fallback);
  /// The Func name of the kernel's result `i` in its declared type
  /// ("O_out").
  std::string resultName(unsigned i);
  /// What dimension `d` of `op` is in the one-pass form (DimensionRoles).
  HalideVarRole varRole(Operation *op, unsigned d);

  // Keys that prove two extents equal (the runner checks that dimensions
  // with the same size symbol agree, so equal keys mean equal values).
  std::optional<std::string> tensorDimKey(Value t, unsigned k);
  std::optional<std::string> sizeKey(Value v);
  /// Whether dimension `d` of `op` (ranging over sizes[d]) always indexes
  /// dimension `k` of `tensor` in range.
  bool provablyInRange(Operation *op, unsigned d, Value tensor, unsigned k);

  // HalideRegions.cpp: regions, reads through maps, presence domains.
  FailureOr<RegionValue> translateRegion(Block &block, ArrayRef<H::Expr> args,
                                         unsigned firstDimArg, const Point &pt);
  H::Func clampedImage(const TensorView &t, uint64_t dims);
  void addUse(const TensorView &tensor, unsigned consumer,
              std::vector<int> links);
  bool filterBounds(EinsumOp op, AffineExpr e, Value tensor, unsigned k,
                    ArrayRef<H::Expr> syms);
  std::optional<AffineDomain> contributionDomain(EinsumOp op, const Point &pt,
                                                 H::Expr &uniform);
  /// Whether per-tile stages may read dimension `d` of `op` past its extent.
  bool isPadded(Operation *op, unsigned d) {
    return roles.isPadded(roles.rankOf(op, d));
  }

  // HalideEinsum.cpp: one Func per attn.einsum.
  /// Whether dimension `d` of `op` is a tile index (m1), or some is.
  bool isTileIndex(Operation *op, unsigned d);
  bool hasTileIndex(Operation *op);
  LogicalResult visitEinsum(EinsumOp op);
  LogicalResult beginEinsum(EinsumLowering &s);
  LogicalResult lowerFilter(EinsumLowering &s);
  LogicalResult lowerInputs(EinsumLowering &s);
  void lowerPresenceDomain(EinsumLowering &s);
  void defineReduction(EinsumLowering &s);
  void reductionBounds(EinsumLowering &s, H::Expr &where, H::Expr &masked);
  void recordEinsumView(EinsumLowering &s);

  // HalideOnline.cpp: the combine step of the one-pass rewrite.
  LogicalResult visitOnline(OnlineOp op);
  /// The domain of a view read through `map` (over the op's dimensions), or
  /// nothing when its presence is a stored flag or the map is not affine.
  std::optional<AffineDomain> domainThrough(const TensorView &t, AffineMap map,
                                            ArrayRef<H::Expr> syms);
  /// `d` with the dimensions `reduced` eliminated, on the coordinates of
  /// `map` (whose dimensions are among `kept`, the others).
  std::optional<AffineDomain> resultDomainOf(std::optional<AffineDomain> d,
                                             ArrayRef<unsigned> reduced,
                                             ArrayRef<unsigned> kept,
                                             AffineMap map,
                                             ArrayRef<H::Expr> sizes);
  LogicalResult beginOnline(OnlineLowering &s);
  void chooseBlockedDim(OnlineLowering &s);
  void defineOnlineVars(OnlineLowering &s);
  void boundTileLoop(OnlineLowering &s);
  LogicalResult defineOnlineUpdate(OnlineLowering &s);
  void defineOnlineResults(OnlineLowering &s);

  // HalideScan.cpp: attn.scan as a recurrence along its dimension.
  LogicalResult visitScan(ScanOp op);

  // HalideErrorChecks.cpp: read range checks and their messages.
  H::Expr newReadError(const TensorView &t, unsigned dim, EinsumOp op,
                       const std::string &how);
  H::Expr newDivisionError(Operation *div, EinsumOp op);
  void addErrorCheck(const std::string &name, H::Expr code, const Point &pt,
                     H::Expr provablyNoError);
  void buildErrorCheck();

  func::FuncOp kernel;
  HalidePipeline &p;
  DimensionRoles &roles;
  int blockRows; // rows per block of an attn.online's blocked dimension
  FuncNames names;
  std::map<std::pair<int, uint64_t>, H::Func> clampedImages;
  llvm::DenseMap<Value, H::Expr> scalars;
  llvm::DenseMap<Value, TensorView> tensors;
  std::vector<ErrorCheck> errorChecks;
};

} // namespace mlir::attn::halide

#endif
