// attnc._attnc: the JIT API (codegen/jit/JitCompiler.h) for Python, at the
// level of data pointers and shapes; python/attnc/__init__.py turns torch
// tensors and NumPy arrays into these without copying them.
#include "codegen/jit/JitCompiler.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <tuple>

namespace nb = nanobind;
using namespace mlir::attn;

namespace {

/// One tensor argument as Python hands it over: (data pointer, attn_dtype,
/// shape, strides in elements (empty: row-major), attn_device).
using TensorDesc = std::tuple<uintptr_t, int, std::vector<int64_t>,
                              std::vector<int64_t>, int>;
/// One scalar: (attn_dtype, value as a float, value as an integer).
using ScalarDesc = std::tuple<int, double, int64_t>;

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(const JitStatus &status) {
  if (!status)
    throw Error(status.message());
}

/// The descriptors, pointing into `descs` (which must outlive them).
std::vector<attn_tensor> tensorsOf(const std::vector<TensorDesc> &descs) {
  std::vector<attn_tensor> out;
  for (const TensorDesc &d : descs) {
    const auto &shape = std::get<2>(d);
    const auto &strides = std::get<3>(d);
    out.push_back(attn_tensor{reinterpret_cast<void *>(std::get<0>(d)),
                              std::get<1>(d), static_cast<int>(shape.size()),
                              shape.data(),
                              strides.empty() ? nullptr : strides.data(),
                              std::get<4>(d)});
  }
  return out;
}

std::vector<attn_scalar> scalarsOf(const std::vector<ScalarDesc> &descs) {
  std::vector<attn_scalar> out;
  for (const ScalarDesc &d : descs) {
    attn_scalar s{};
    s.dtype = std::get<0>(d);
    if (s.dtype == ATTN_I32 || s.dtype == ATTN_I64 || s.dtype == ATTN_BOOL)
      s.value.i = std::get<2>(d);
    else
      s.value.f = std::get<1>(d);
    out.push_back(s);
  }
  return out;
}

nb::list valueInfos(const std::vector<JitValueInfo> &infos) {
  nb::list out;
  for (const JitValueInfo &v : infos) {
    nb::dict d;
    d["name"] = v.name;
    d["dtype"] = v.dtype;
    d["dims"] = v.dims;
    d["is_scalar"] = v.isScalar;
    out.append(d);
  }
  return out;
}

} // namespace

NB_MODULE(_attnc, m) {
  m.doc() = "attnc's JIT: compile .attn sources, run them on data pointers";
  nb::exception<Error>(m, "Error");
  // Kernels registered as torch.library ops live until torch's registry
  // is torn down, after this module's check at exit: not leaks.
  nb::set_leak_warnings(false);

  nb::class_<JitKernel>(m, "JitKernel")
      .def_prop_ro("name", &JitKernel::name)
      .def_prop_ro("target", &JitKernel::target)
      .def_prop_ro("cache_key", &JitKernel::cacheKey)
      .def_prop_ro("cache_outcome",
                   [](const JitKernel &k) {
                     return std::string(cacheOutcomeName(k.cacheOutcome()));
                   })
      .def_prop_ro("inputs",
                   [](const JitKernel &k) { return valueInfos(k.inputs()); })
      .def_prop_ro("outputs",
                   [](const JitKernel &k) { return valueInfos(k.outputs()); })
      .def("module_text", &JitKernel::moduleText)
      .def(
          "output_shapes",
          [](const JitKernel &k, const std::vector<TensorDesc> &inputs,
             const std::vector<ScalarDesc> &scalars) {
            std::vector<std::vector<int64_t>> shapes;
            check(k.outputShapes(tensorsOf(inputs), scalarsOf(scalars),
                                 shapes));
            return shapes;
          },
          nb::arg("inputs"), nb::arg("scalars"))
      .def(
          "run",
          [](JitKernel &k, const std::vector<TensorDesc> &tensors,
             const std::vector<ScalarDesc> &scalars, uintptr_t stream) {
            std::vector<attn_tensor> t = tensorsOf(tensors);
            std::vector<attn_scalar> s = scalarsOf(scalars);
            JitStatus status = JitStatus::ok();
            {
              nb::gil_scoped_release release;
              status = k.run(t, s, reinterpret_cast<void *>(stream));
            }
            check(status);
          },
          nb::arg("tensors"), nb::arg("scalars"), nb::arg("stream") = 0);

  m.def(
      "compile",
      [](const std::string &source, const std::string &bufferName,
         const std::string &target,
         const std::map<std::string, std::string> &params,
         const std::map<std::string, int64_t> &binds,
         const std::string &kernel, const std::string &cacheDir,
         bool useCache) {
        JitOptions options;
        options.target = target;
        options.params = params;
        options.binds = binds;
        options.kernelName = kernel;
        options.cacheDir = cacheDir;
        options.useCache = useCache;
        std::unique_ptr<JitKernel> k;
        JitStatus status = JitStatus::ok();
        {
          nb::gil_scoped_release release;
          status = compileAttnSource(source, options, k, bufferName);
        }
        check(status);
        return k;
      },
      nb::arg("source"), nb::arg("buffer_name"), nb::arg("target"),
      nb::arg("params"), nb::arg("binds"), nb::arg("kernel"),
      nb::arg("cache_dir"), nb::arg("use_cache"));
}
