// attn-gpu-run --misuse: calls a loaded CUDA kernel the ways a careless
// caller would (null, host or too-small pointers, wrong shapes, ranks,
// dtypes, strides, devices and argument counts) on real device memory, and
// checks that each call is refused with a message naming the argument,
// before anything reaches the GPU. Header-only, internal to the harness.
#ifndef ATTN_RUNTIME_TOOLS_MISUSECHECKS_H
#define ATTN_RUNTIME_TOOLS_MISUSECHECKS_H

#include "runtime/CudaDriver.h"
#include "runtime/Runtime.h"

#include <functional>
#include <string>
#include <vector>

namespace attn::rt::misuse {

/// One bad call: what it does to a good call, and a word the refusal's
/// message must contain.
struct BadCall {
  std::string what;
  std::string mustName;
  std::function<void(std::vector<attn_tensor> &, std::vector<attn_scalar> &,
                     std::vector<std::vector<int64_t>> &)>
      change;
};

/// The bad calls for a kernel with these arguments (`shapes`: each tensor's
/// good shape, in tensor order). `tooSmall` is a live device allocation of
/// 16 bytes; `host` host memory of 16 bytes.
inline std::vector<BadCall> badCalls(const std::vector<attn_arg_info> &args,
                                     const std::vector<std::vector<int64_t>> &shapes,
                                     void *tooSmall, void *host) {
  std::vector<BadCall> calls;
  size_t t = 0;
  for (const attn_arg_info &a : args) {
    if (a.is_scalar)
      continue;
    size_t i = t++;
    std::string name = a.name;
    size_t elements = 1;
    for (int64_t e : shapes[i])
      elements *= static_cast<size_t>(e);
    calls.push_back({name + ": null data", name,
                     [i](auto &ts, auto &, auto &) { ts[i].data = nullptr; }});
    if (elements * 2 > 16) { // every dtype's tensor is larger than 16 bytes
      calls.push_back({name + ": host pointer", name,
                       [i, host](auto &ts, auto &, auto &) { ts[i].data = host; }});
      calls.push_back({name + ": allocation too small", name,
                       [i, tooSmall](auto &ts, auto &, auto &) {
                         ts[i].data = tooSmall;
                       }});
    }
    calls.push_back({name + ": wrong dtype", name, [i](auto &ts, auto &, auto &) {
                       ts[i].dtype = ts[i].dtype == ATTN_F64 ? ATTN_F32 : ATTN_F64;
                     }});
    calls.push_back({name + ": rank one more", name,
                     [i](auto &ts, auto &, auto &shp) {
                       shp[i].push_back(1);
                       ts[i].shape = shp[i].data();
                       ts[i].rank += 1;
                     }});
    calls.push_back({name + ": CPU device", name, [i](auto &ts, auto &, auto &) {
                       ts[i].device = ATTN_DEVICE_CPU;
                     }});
    if (!shapes[i].empty()) {
      calls.push_back({name + ": first extent doubled plus one", name,
                       [i](auto &ts, auto &, auto &shp) {
                         shp[i][0] = 2 * shp[i][0] + 1;
                         ts[i].shape = shp[i].data();
                       }});
      calls.push_back({name + ": negative extent", name,
                       [i](auto &ts, auto &, auto &shp) {
                         shp[i][0] = -1;
                         ts[i].shape = shp[i].data();
                       }});
    }
  }
  // Strides that are not the contiguous ones (the CUDA path takes none).
  for (size_t i = 0; i < shapes.size(); ++i)
    if (shapes[i].size() >= 2 && shapes[i].back() > 1) {
      calls.push_back({"non-contiguous strides", "", [i](auto &ts, auto &, auto &shp) {
                         static thread_local std::vector<int64_t> strides;
                         strides.assign(shp[i].size(), 1);
                         strides[0] = 2; // the last dimension's stride is 1, the others wrong
                         ts[i].strides = strides.data();
                       }});
      break;
    }
  calls.push_back({"one tensor too few", "", [](auto &ts, auto &, auto &) {
                     ts.pop_back();
                   }});
  calls.push_back({"one scalar too many", "", [](auto &, auto &ss, auto &) {
                     ss.push_back(intScalar(ATTN_I32, 1));
                   }});
  return calls;
}

/// Runs every bad call on `k`; returns one line per call that was not
/// refused cleanly (empty: all were). The stream must be idle after them.
inline std::vector<std::string>
checkMisuse(Kernel &k, const cuda::Driver &d, cuda::CUstream stream,
            const std::vector<attn_tensor> &goodTensors,
            const std::vector<attn_scalar> &goodScalars, size_t &tried) {
  std::vector<attn_arg_info> args = k.arguments();
  std::vector<std::vector<int64_t>> goodShapes;
  for (const attn_tensor &t : goodTensors)
    goodShapes.emplace_back(t.shape, t.shape + t.rank);
  std::vector<std::string> failures;
  cuda::CUdeviceptr small = 0;
  if (d.cuMemAlloc(&small, 16) != cuda::CUDA_SUCCESS)
    return {"cuMemAlloc of 16 bytes failed"};
  std::vector<uint8_t> host(16);
  std::vector<BadCall> calls =
      badCalls(args, goodShapes, reinterpret_cast<void *>(small), host.data());
  tried = calls.size();
  for (const BadCall &c : calls) {
    std::vector<attn_tensor> ts = goodTensors;
    std::vector<attn_scalar> ss = goodScalars;
    std::vector<std::vector<int64_t>> shapes = goodShapes;
    c.change(ts, ss, shapes);
    Status st = k.run(ts, ss, stream);
    if (st)
      failures.push_back(c.what + ": accepted");
    else if (st.message.empty())
      failures.push_back(c.what + ": refused with no message");
    else if (!c.mustName.empty() && st.message.find(c.mustName) == std::string::npos)
      failures.push_back(c.what + ": message does not name it: " + st.message);
  }
  if (d.cuStreamSynchronize(stream) != cuda::CUDA_SUCCESS)
    failures.push_back("the stream failed after the bad calls");
  d.cuMemFree(small);
  return failures;
}

} // namespace attn::rt::misuse

#endif
