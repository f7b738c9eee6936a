// Tests of .npy reading and writing: round trips for every dtype, files in
// the shapes NumPy writes them (versions 1.0 to 3.0), and one error per kind
// of malformed file, each naming the file.
#include "runtime/Npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <unistd.h>

using namespace attn::rt;
namespace fs = std::filesystem;

namespace {

class NpyTest : public ::testing::Test {
protected:
  void SetUp() override {
    const ::testing::TestInfo *info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    dir = fs::temp_directory_path() /
          ("attn-npy-test-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string path(const std::string &name) const {
    return (dir / name).string();
  }

  /// Writes raw bytes to a file in the temp dir and returns its path.
  std::string writeBytes(const std::string &name, const std::string &bytes) {
    std::string p = path(name);
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return p;
  }

  /// A file with the given version, header text (taken as is) and data.
  static std::string npyBytes(int major, int minor, const std::string &header,
                              const std::string &data) {
    std::string s = "\x93NUMPY";
    s += static_cast<char>(major);
    s += static_cast<char>(minor);
    size_t n = header.size();
    s += static_cast<char>(n & 0xff);
    s += static_cast<char>((n >> 8) & 0xff);
    if (major >= 2) {
      s += static_cast<char>((n >> 16) & 0xff);
      s += static_cast<char>((n >> 24) & 0xff);
    }
    return s + header + data;
  }

  /// Reads `name`, expecting an error that names the file and contains
  /// `problem`.
  void expectError(const std::string &file, const std::string &problem) {
    NpyArray array;
    std::string error;
    EXPECT_FALSE(readNpy(file, array, error)) << file;
    EXPECT_NE(error.find(file), std::string::npos) << error;
    EXPECT_NE(error.find(problem), std::string::npos)
        << "expected '" << problem << "' in: " << error;
  }

  fs::path dir;
};

/// Random values that are exact in `t`, never zero.
NpyArray randomArray(DType t, std::vector<int64_t> shape, std::mt19937 &rng) {
  NpyArray a;
  a.dtype = t;
  a.shape = std::move(shape);
  size_t n = a.numElements();
  a.data.resize(n * dtypeSize(t));
  std::uniform_real_distribution<double> mag(0.1, 100.0);
  std::bernoulli_distribution sign(0.5);
  for (size_t i = 0; i < n; ++i) {
    double v = mag(rng) * (sign(rng) ? -1 : 1);
    if (t == DType::i64)
      v *= 1e12; // past 32 bits
    storeElement(a.data.data(), t, i, t == DType::boolean ? sign(rng) : v);
  }
  return a;
}

TEST_F(NpyTest, RoundTripEveryDType) {
  std::mt19937 rng(7);
  const std::vector<std::vector<int64_t>> shapes = {
      {3, 5, 7}, {11}, {}, {0, 4}, {2, 1, 3, 1}};
  for (DType t : {DType::f16, DType::bf16, DType::f32, DType::f64, DType::i32,
                  DType::i64, DType::boolean}) {
    for (const std::vector<int64_t> &shape : shapes) {
      NpyArray a = randomArray(t, shape, rng);
      std::string p = path(std::string(dtypeName(t)) + ".npy");
      std::string error;
      ASSERT_TRUE(writeNpy(p, a, error)) << error;
      NpyArray b;
      ASSERT_TRUE(readNpy(p, b, error)) << error;
      // bf16 is written as f32 (NumPy has no bfloat16).
      DType want = t == DType::bf16 ? DType::f32 : t;
      EXPECT_EQ(b.dtype, want) << dtypeName(t);
      EXPECT_EQ(b.shape, a.shape) << dtypeName(t);
      ASSERT_EQ(b.numElements(), a.numElements());
      ASSERT_EQ(b.data.size(), b.numElements() * dtypeSize(want));
      for (size_t i = 0; i < a.numElements(); ++i)
        ASSERT_EQ(loadElement(b.data.data(), want, i),
                  loadElement(a.data.data(), t, i))
            << dtypeName(t) << " element " << i;
    }
  }
}

TEST_F(NpyTest, WrittenHeaderIsWhatNumPyWrites) {
  NpyArray a;
  a.dtype = DType::f32;
  a.shape = {3, 4};
  a.data.assign(12 * 4, 0);
  std::vector<uint8_t> bytes;
  std::string error;
  ASSERT_TRUE(serializeNpy(a, bytes, error)) << error;
  ASSERT_GT(bytes.size(), 10u);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 6), "\x93NUMPY");
  EXPECT_EQ(bytes[6], 1);
  EXPECT_EQ(bytes[7], 0);
  size_t headerLength = bytes[8] | (bytes[9] << 8);
  EXPECT_EQ((10 + headerLength) % 64, 0u);
  std::string header(bytes.begin() + 10, bytes.begin() + 10 + headerLength);
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(header.rfind("{'descr': '<f4', 'fortran_order': False, "
                         "'shape': (3, 4), }",
                         0),
            0u)
      << header;
  EXPECT_EQ(bytes.size(), 10 + headerLength + 48);

  a.shape = {12};
  ASSERT_TRUE(serializeNpy(a, bytes, error));
  std::string h1(bytes.begin() + 10, bytes.end());
  EXPECT_NE(h1.find("'shape': (12,)"), std::string::npos);
  a.shape = {};
  a.data.resize(4);
  ASSERT_TRUE(serializeNpy(a, bytes, error));
  std::string h0(bytes.begin() + 10, bytes.end());
  EXPECT_NE(h0.find("'shape': ()"), std::string::npos);
}

TEST_F(NpyTest, ReadsVersions2And3AndOldHeaders) {
  std::string data(2 * 3 * 8, '\0');
  for (int i = 0; i < 6; ++i) {
    double v = i + 0.5;
    std::memcpy(&data[i * 8], &v, 8);
  }
  for (int major : {1, 2, 3}) {
    // Key order, quotes, spacing and a Python 2 long suffix as others write.
    std::string header = "{\"shape\": (2L, 3L), 'fortran_order':False,"
                         "'descr':'<f8'}  \n";
    std::string p = writeBytes("v" + std::to_string(major) + ".npy",
                               npyBytes(major, 0, header, data));
    NpyArray a;
    std::string error;
    ASSERT_TRUE(readNpy(p, a, error)) << error;
    EXPECT_EQ(a.dtype, DType::f64);
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(a.fileDescr, "<f8");
    for (int i = 0; i < 6; ++i)
      EXPECT_EQ(loadElement(a.data.data(), DType::f64, i), i + 0.5);
  }
}

TEST_F(NpyTest, WidensBytesAndAcceptsOneDimensionalFortranOrder) {
  std::string data = {'\x01', '\xff', '\x7f'};
  for (const char *descr : {"|u1", "|i1"}) {
    std::string header = std::string("{'descr': '") + descr +
                         "', 'fortran_order': False, 'shape': (3,), }\n";
    std::string p = writeBytes("bytes.npy", npyBytes(1, 0, header, data));
    NpyArray a;
    std::string error;
    ASSERT_TRUE(readNpy(p, a, error)) << error;
    EXPECT_EQ(a.dtype, DType::i32);
    EXPECT_EQ(a.fileDescr, descr);
    bool isUnsigned = descr[1] == 'u';
    EXPECT_EQ(loadElement(a.data.data(), DType::i32, 0), 1);
    EXPECT_EQ(loadElement(a.data.data(), DType::i32, 1), isUnsigned ? 255 : -1);
    EXPECT_EQ(loadElement(a.data.data(), DType::i32, 2), 127);
  }
  // |b1 with a byte other than 0 and 1 still reads as true.
  std::string p =
      writeBytes("bool.npy", npyBytes(1, 0,
                                      "{'descr': '|b1', 'fortran_order': True, "
                                      "'shape': (3,), }\n",
                                      std::string("\x00\x01\x02", 3)));
  NpyArray a;
  std::string error;
  ASSERT_TRUE(readNpy(p, a, error)) << error;
  EXPECT_EQ(a.dtype, DType::boolean);
  EXPECT_EQ(a.data, (std::vector<uint8_t>{0, 1, 1}));
}

TEST_F(NpyTest, MalformedFilesAreErrors) {
  const std::string good = "{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (2, 3), }\n";
  const std::string data(24, '\x11');

  expectError(path("absent.npy"), "cannot read");
  expectError(writeBytes("empty.npy", ""), "magic");
  expectError(writeBytes("text.npy", "not a numpy file at all"), "magic");
  expectError(writeBytes("magic-only.npy", "\x93NUMPY"), "truncated");
  expectError(writeBytes("no-length.npy", std::string("\x93NUMPY\x01\x00", 8)),
              "truncated");
  expectError(writeBytes("version.npy", npyBytes(4, 0, good, data)),
              "version 4.0");
  expectError(writeBytes("minor.npy", npyBytes(1, 1, good, data)),
              "version 1.1");
  // The header length claims more bytes than the file holds.
  std::string truncated = npyBytes(1, 0, good, data).substr(0, 40);
  expectError(writeBytes("truncated.npy", truncated), "truncated header");
  expectError(writeBytes("not-dict.npy", npyBytes(1, 0, "[1, 2]\n", data)),
              "not a Python dict");
  expectError(
      writeBytes("unclosed.npy",
                 npyBytes(1, 0, "{'descr': '<f4', 'shape': (2, 3)\n", data)),
      "bad header");
  expectError(
      writeBytes("unterminated.npy", npyBytes(1, 0, "{'descr: '<f4'}", data)),
      "bad header");
  expectError(
      writeBytes("missing.npy",
                 npyBytes(1, 0, "{'descr': '<f4', 'shape': (2, 3), }\n", data)),
      "missing key 'fortran_order'");
  expectError(writeBytes("unknown.npy",
                         npyBytes(1, 0,
                                  "{'descr': '<f4', 'fortran_order': False, "
                                  "'shape': (2, 3), 'extra': True}\n",
                                  data)),
              "unexpected key 'extra'");
  expectError(writeBytes("twice.npy",
                         npyBytes(1, 0,
                                  "{'descr': '<f4', 'descr': '<f4', "
                                  "'fortran_order': False, 'shape': (2, 3)}\n",
                                  data)),
              "appears twice");
  expectError(writeBytes("big-endian.npy",
                         npyBytes(1, 0,
                                  "{'descr': '>f4', 'fortran_order': False, "
                                  "'shape': (2, 3), }\n",
                                  data)),
              "'>f4'");
  expectError(writeBytes("complex.npy",
                         npyBytes(1, 0,
                                  "{'descr': '<c8', 'fortran_order': False, "
                                  "'shape': (3,), }\n",
                                  data)),
              "unsupported dtype '<c8'");
  expectError(writeBytes("u4.npy", npyBytes(1, 0,
                                            "{'descr': '<u4', 'fortran_order': "
                                            "False, 'shape': (2, 3), }\n",
                                            data)),
              "unsupported dtype '<u4'");
  expectError(writeBytes("structured.npy",
                         npyBytes(1, 0,
                                  "{'descr': [('a', '<f4')], 'fortran_order': "
                                  "False, 'shape': (6,), }\n",
                                  data)),
              "structured");
  expectError(writeBytes("fortran.npy",
                         npyBytes(1, 0,
                                  "{'descr': '<f4', 'fortran_order': True, "
                                  "'shape': (2, 3), }\n",
                                  data)),
              "Fortran");
  expectError(writeBytes("negative.npy",
                         npyBytes(1, 0,
                                  "{'descr': '<f4', 'fortran_order': False, "
                                  "'shape': (-2, 3), }\n",
                                  data)),
              "negative");
  expectError(writeBytes("float-shape.npy",
                         npyBytes(1, 0,
                                  "{'descr': '<f4', 'fortran_order': False, "
                                  "'shape': (2.5, 3), }\n",
                                  data)),
              "bad header");
  expectError(writeBytes("shape-string.npy",
                         npyBytes(1, 0,
                                  "{'descr': '<f4', 'fortran_order': False, "
                                  "'shape': '2, 3', }\n",
                                  data)),
              "'shape' must be a tuple");
  expectError(writeBytes("fortran-string.npy",
                         npyBytes(1, 0,
                                  "{'descr': '<f4', 'fortran_order': 'no', "
                                  "'shape': (2, 3), }\n",
                                  data)),
              "'fortran_order' must be True or False");
  expectError(writeBytes("huge.npy",
                         npyBytes(1, 0,
                                  "{'descr': '<f4', 'fortran_order': False, "
                                  "'shape': (4294967296, 4294967296, 16), }\n",
                                  data)),
              "too large");
  expectError(writeBytes("enormous-dim.npy",
                         npyBytes(1, 0,
                                  "{'descr': '<f4', 'fortran_order': False, "
                                  "'shape': (99999999999999999999999,), }\n",
                                  data)),
              "too large");
  expectError(writeBytes("short.npy", npyBytes(1, 0, good, data.substr(0, 23))),
              "does not match the shape");
  expectError(writeBytes("long.npy", npyBytes(1, 0, good, data + "x")),
              "does not match the shape");
  expectError(
      writeBytes("nul.npy", npyBytes(1, 0, std::string("{\0}", 3), data)),
      "bad header");
  expectError(
      writeBytes("trailing.npy",
                 npyBytes(1, 0, good.substr(0, good.size() - 1) + "x\n", data)),
      "bad header");
  // A directory is not a file.
  expectError(dir.string(), "cannot read");
}

// Every prefix of a good file and every single-byte corruption of its header
// is either read or refused with a message; none crashes.
TEST_F(NpyTest, CorruptedFilesNeverCrash) {
  NpyArray a;
  a.dtype = DType::f64;
  a.shape = {2, 3};
  a.data.assign(48, 0x40);
  std::vector<uint8_t> bytes;
  std::string error;
  ASSERT_TRUE(serializeNpy(a, bytes, error));
  for (size_t n = 0; n < bytes.size(); ++n) {
    NpyArray out;
    EXPECT_FALSE(parseNpy(bytes.data(), n, "prefix", out, error)) << n;
    EXPECT_EQ(error.rfind("'prefix': ", 0), 0u) << error;
  }
  std::mt19937 rng(3);
  for (size_t i = 0; i < 128 && i < bytes.size(); ++i) {
    for (int trial = 0; trial < 4; ++trial) {
      std::vector<uint8_t> bad = bytes;
      bad[i] = static_cast<uint8_t>(rng());
      NpyArray out;
      std::string message;
      if (!parseNpy(bad.data(), bad.size(), "corrupt", out, message))
        EXPECT_FALSE(message.empty());
    }
  }
}

TEST_F(NpyTest, WriteErrors) {
  NpyArray a;
  a.dtype = DType::f32;
  a.shape = {2, 3};
  a.data.assign(5, 0); // 6 floats need 24 bytes
  std::string error;
  std::string p = path("mismatch.npy");
  EXPECT_FALSE(writeNpy(p, a, error));
  EXPECT_NE(error.find(p), std::string::npos) << error;
  EXPECT_NE(error.find("does not match"), std::string::npos) << error;

  // An element count past 64 bits is named as such (was: "the array's data
  // (0 bytes) does not match its shape").
  NpyArray huge = a;
  huge.shape = {int64_t(1) << 40, int64_t(1) << 40};
  huge.data.clear();
  EXPECT_FALSE(writeNpy(p, huge, error));
  EXPECT_NE(error.find("[1099511627776, 1099511627776] of f32 has a negative "
                       "extent or more than 2^64 bytes"),
            std::string::npos)
      << error;

  a.data.assign(24, 0);
  std::string nowhere = path("no/such/dir/x.npy");
  EXPECT_FALSE(writeNpy(nowhere, a, error));
  EXPECT_NE(error.find(nowhere), std::string::npos) << error;
  EXPECT_TRUE(writeNpy(path("ok.npy"), a, error)) << error;
}

} // namespace
