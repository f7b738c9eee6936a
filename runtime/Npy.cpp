// NumPy .npy reading and writing (format versions 1.0 to 3.0, C order). The
// header is a Python dict literal; it is parsed here by a small recursive
// descent parser that accepts exactly what NumPy writes, and every malformed
// byte ends in an error message, never in a crash.
#include "runtime/Npy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

namespace attn::rt {

namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

bool hostIsLittleEndian() {
  uint16_t one = 1;
  uint8_t first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

/// Reverses the bytes of every `width`-byte element (for big-endian hosts:
/// .npy data here is always little-endian).
void swapElements(uint8_t *data, size_t numElements, size_t width) {
  if (width < 2)
    return;
  for (size_t i = 0; i < numElements; ++i)
    for (size_t a = 0, b = width - 1; a < b; ++a, --b)
      std::swap(data[i * width + a], data[i * width + b]);
}

/// How a supported file dtype is stored in an NpyArray.
struct FileDType {
  DType dtype;      // the array's dtype after reading
  size_t fileWidth; // bytes per element in the file
  bool widenU8 = false;
  bool widenI8 = false;
};

/// The value of one header dict entry.
struct HeaderValue {
  enum Kind { String, Bool, Tuple } kind = String;
  std::string text;
  bool flag = false;
  std::vector<int64_t> ints;
};

/// Recursive descent over the header dict:
///   dict  := '{' [ entry { ',' entry } [','] ] '}'
///   entry := string ':' value
///   value := string | 'True' | 'False' | '(' [ int { ',' int } [','] ] ')'
class HeaderParser {
public:
  explicit HeaderParser(const std::string &text) : text(text) {}

  /// Parses the whole header; false with `problem` set on any error.
  bool parse(std::vector<std::pair<std::string, HeaderValue>> &entries,
             std::string &problem) {
    skipSpace();
    if (!eat('{'))
      return fail("the header is not a Python dict (no '{')", problem);
    skipSpace();
    while (!peek('}')) {
      std::string key;
      HeaderValue value;
      if (!parseString(key, problem) || !expect(':', problem) ||
          !parseValue(value, problem))
        return false;
      entries.emplace_back(std::move(key), std::move(value));
      skipSpace();
      if (eat(',')) {
        skipSpace();
        continue;
      }
      if (!peek('}'))
        return fail("expected ',' or '}' in the header dict at offset " +
                        std::to_string(pos),
                    problem);
    }
    eat('}');
    skipSpace();
    if (pos != text.size())
      return fail("unexpected text after the header dict at offset " +
                      std::to_string(pos),
                  problem);
    return true;
  }

private:
  const std::string &text;
  size_t pos = 0;

  static bool fail(const std::string &message, std::string &problem) {
    problem = message;
    return false;
  }
  void skipSpace() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' ||
                                 text[pos] == '\n' || text[pos] == '\r'))
      ++pos;
  }
  bool peek(char c) const { return pos < text.size() && text[pos] == c; }
  bool eat(char c) {
    if (!peek(c))
      return false;
    ++pos;
    return true;
  }
  bool expect(char c, std::string &problem) {
    skipSpace();
    if (eat(c))
      return true;
    return fail(std::string("expected '") + c + "' in the header dict at " +
                    "offset " + std::to_string(pos),
                problem);
  }
  bool parseString(std::string &out, std::string &problem) {
    skipSpace();
    if (!peek('\'') && !peek('"'))
      return fail("expected a quoted key or string in the header dict at "
                  "offset " +
                      std::to_string(pos),
                  problem);
    char quote = text[pos++];
    size_t start = pos;
    while (pos < text.size() && text[pos] != quote) {
      if (text[pos] == '\\' || text[pos] == '\n')
        return fail("unsupported character in a header string", problem);
      ++pos;
    }
    if (pos >= text.size())
      return fail("unterminated string in the header dict", problem);
    out = text.substr(start, pos - start);
    ++pos;
    return true;
  }
  bool parseWord(const char *word) {
    size_t n = std::strlen(word);
    if (text.compare(pos, n, word) != 0)
      return false;
    pos += n;
    return true;
  }
  bool parseInt(int64_t &out, std::string &problem) {
    skipSpace();
    bool negative = eat('-');
    if (pos >= text.size() || text[pos] < '0' || text[pos] > '9')
      return fail("expected an integer in the shape tuple at offset " +
                      std::to_string(pos),
                  problem);
    int64_t v = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      int digit = text[pos++] - '0';
      if (v > (std::numeric_limits<int64_t>::max() - digit) / 10)
        return fail("a dimension in the shape is too large", problem);
      v = v * 10 + digit;
    }
    eat('L'); // Python 2 long literals, as old NumPy wrote them
    if (negative)
      return fail("the shape has a negative dimension (-" + std::to_string(v) +
                      ")",
                  problem);
    out = v;
    return true;
  }
  bool parseValue(HeaderValue &value, std::string &problem) {
    skipSpace();
    if (peek('\'') || peek('"')) {
      value.kind = HeaderValue::String;
      return parseString(value.text, problem);
    }
    if (parseWord("True")) {
      value.kind = HeaderValue::Bool;
      value.flag = true;
      return true;
    }
    if (parseWord("False")) {
      value.kind = HeaderValue::Bool;
      value.flag = false;
      return true;
    }
    if (peek('[') || peek('{'))
      return fail("structured dtypes are not supported (a list or dict value "
                  "in the header)",
                  problem);
    if (!eat('('))
      return fail("unexpected value in the header dict at offset " +
                      std::to_string(pos),
                  problem);
    value.kind = HeaderValue::Tuple;
    skipSpace();
    while (!peek(')')) {
      int64_t v;
      if (!parseInt(v, problem))
        return false;
      value.ints.push_back(v);
      skipSpace();
      if (eat(',')) {
        skipSpace();
        continue;
      }
      if (!peek(')'))
        return fail("expected ',' or ')' in the shape tuple at offset " +
                        std::to_string(pos),
                    problem);
    }
    eat(')');
    return true;
  }
};

/// The supported file dtypes. Multi-byte types must be little-endian; one-byte
/// types may carry any byte-order character.
bool lookupFileDType(const std::string &descr, FileDType &out,
                     std::string &problem) {
  const char *supported = "supported: <f2 <f4 <f8 <i4 <i8 |b1 |u1 |i1";
  if (descr.size() < 3) {
    problem = "unsupported dtype '" + descr + "' (" + supported + ")";
    return false;
  }
  char order = descr[0];
  std::string kind = descr.substr(1);
  if (kind == "b1" || kind == "u1" || kind == "i1") {
    if (order != '|' && order != '<' && order != '>' && order != '=') {
      problem = "unsupported dtype '" + descr + "' (" + supported + ")";
      return false;
    }
    out = {kind == "b1" ? DType::boolean : DType::i32, 1};
    out.widenU8 = kind == "u1";
    out.widenI8 = kind == "i1";
    return true;
  }
  static const std::pair<const char *, DType> wide[] = {{"f2", DType::f16},
                                                        {"f4", DType::f32},
                                                        {"f8", DType::f64},
                                                        {"i4", DType::i32},
                                                        {"i8", DType::i64}};
  for (const auto &[name, dtype] : wide) {
    if (kind != name)
      continue;
    if (order == '<' || (order == '=' && hostIsLittleEndian())) {
      out = {dtype, dtypeSize(dtype)};
      return true;
    }
    problem = "unsupported dtype '" + descr +
              "' (big-endian data is not supported; save it little-endian, "
              "e.g. with arr.astype(arr.dtype.newbyteorder('<')))";
    return false;
  }
  problem = "unsupported dtype '" + descr + "' (" + supported + ")";
  return false;
}

const char *fileDescrOf(DType t) {
  switch (t) {
  case DType::f16:
    return "<f2";
  case DType::bf16: // written as f32: NumPy has no bfloat16
  case DType::f32:
    return "<f4";
  case DType::f64:
    return "<f8";
  case DType::i32:
    return "<i4";
  case DType::i64:
    return "<i8";
  case DType::boolean:
    return "|b1";
  }
  return "?";
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// numElements of `shape` * `width`, or false when it overflows size_t.
bool byteCount(const std::vector<int64_t> &shape, size_t width, size_t &bytes) {
  size_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return false;
    if (d == 0) {
      bytes = 0;
      return true;
    }
  }
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, static_cast<size_t>(d), &n))
      return false;
  return !__builtin_mul_overflow(n, width, &bytes);
}

} // namespace

size_t NpyArray::numElements() const {
  size_t n = 1;
  for (int64_t d : shape)
    n *= d < 0 ? 0 : static_cast<size_t>(d);
  return n;
}

bool parseNpy(const uint8_t *bytes, size_t size, const std::string &name,
              NpyArray &out, std::string &error) {
  auto fail = [&](const std::string &problem) {
    error = "'" + name + "': " + problem;
    return false;
  };
  if (size < kMagicSize || std::memcmp(bytes, kMagic, kMagicSize) != 0)
    return fail("not a .npy file (it does not start with the magic string "
                "\\x93NUMPY)");
  if (size < kMagicSize + 2)
    return fail("truncated .npy file (no format version after the magic "
                "string)");
  unsigned major = bytes[6], minor = bytes[7];
  if (major < 1 || major > 3 || minor != 0)
    return fail("unsupported .npy format version " + std::to_string(major) +
                "." + std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  size_t lengthBytes = major == 1 ? 2 : 4;
  size_t headerStart = kMagicSize + 2 + lengthBytes;
  if (size < headerStart)
    return fail("truncated .npy file (the header length is cut off)");
  size_t headerLength = 0;
  for (size_t i = 0; i < lengthBytes; ++i)
    headerLength |= static_cast<size_t>(bytes[8 + i]) << (8 * i);
  if (headerLength > size - headerStart)
    return fail("truncated header: it claims " + std::to_string(headerLength) +
                " bytes but the file has " +
                std::to_string(size - headerStart) + " after the preamble");
  std::string header(reinterpret_cast<const char *>(bytes) + headerStart,
                     headerLength);
  // Versions 1.0 and 2.0 headers are ASCII (latin-1), 3.0 headers UTF-8.
  for (char c : header)
    if (c == '\0' || (major < 3 && static_cast<unsigned char>(c) >= 0x80))
      return fail("bad header: it holds a byte that is not ASCII");

  std::vector<std::pair<std::string, HeaderValue>> entries;
  std::string problem;
  HeaderParser parser(header);
  if (!parser.parse(entries, problem))
    return fail("bad header: " + problem);
  const HeaderValue *descr = nullptr, *fortran = nullptr, *shape = nullptr;
  for (const auto &[key, value] : entries) {
    const HeaderValue **slot = key == "descr"           ? &descr
                               : key == "fortran_order" ? &fortran
                               : key == "shape"         ? &shape
                                                        : nullptr;
    if (!slot)
      return fail("bad header: unexpected key '" + key +
                  "' (expected descr, fortran_order, shape)");
    if (*slot)
      return fail("bad header: the key '" + key + "' appears twice");
    *slot = &value;
  }
  if (!descr || !fortran || !shape)
    return fail(std::string("bad header: missing key '") +
                (!descr     ? "descr"
                 : !fortran ? "fortran_order"
                            : "shape") +
                "'");
  if (descr->kind != HeaderValue::String)
    return fail("bad header: 'descr' must be a dtype string");
  if (fortran->kind != HeaderValue::Bool)
    return fail("bad header: 'fortran_order' must be True or False");
  if (shape->kind != HeaderValue::Tuple)
    return fail("bad header: 'shape' must be a tuple of integers");

  FileDType fileType;
  if (!lookupFileDType(descr->text, fileType, problem))
    return fail(problem);
  size_t numNonUnit = 0;
  for (int64_t d : shape->ints)
    numNonUnit += d != 1;
  // With at most one dimension of extent other than 1, Fortran order and C
  // order are the same layout.
  if (fortran->flag && numNonUnit > 1)
    return fail("Fortran-order arrays are not supported (only C order; save "
                "with np.ascontiguousarray)");

  size_t dataBytes = size - headerStart - headerLength;
  size_t want = 0;
  if (!byteCount(shape->ints, fileType.fileWidth, want))
    return fail("the shape " + shapeText(shape->ints) + " is too large");
  if (dataBytes != want)
    return fail("the data size does not match the shape: shape " +
                shapeText(shape->ints) + " of " + descr->text + " needs " +
                std::to_string(want) + " bytes, the file has " +
                std::to_string(dataBytes));

  NpyArray result;
  result.dtype = fileType.dtype;
  result.shape = shape->ints;
  result.fileDescr = descr->text;
  const uint8_t *data = bytes + headerStart + headerLength;
  size_t n = result.numElements();
  if (fileType.widenU8 || fileType.widenI8) {
    result.data.resize(n * sizeof(int32_t));
    for (size_t i = 0; i < n; ++i) {
      int32_t v = fileType.widenU8
                      ? static_cast<int32_t>(data[i])
                      : static_cast<int32_t>(static_cast<int8_t>(data[i]));
      storeElement(result.data.data(), DType::i32, i, v);
    }
  } else if (fileType.dtype == DType::boolean) {
    result.data.resize(n);
    for (size_t i = 0; i < n; ++i)
      result.data[i] = data[i] != 0;
  } else {
    result.data.assign(data, data + want);
    if (!hostIsLittleEndian())
      swapElements(result.data.data(), n, fileType.fileWidth);
  }
  out = std::move(result);
  return true;
}

bool readNpy(const std::string &path, NpyArray &out, std::string &error) {
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file) {
    error = "cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof(buffer), file)) > 0)
    bytes.insert(bytes.end(), buffer, buffer + got);
  bool failed = std::ferror(file);
  int savedErrno = errno;
  std::fclose(file);
  if (failed) {
    error = "cannot read '" + path + "': " + std::strerror(savedErrno);
    return false;
  }
  return parseNpy(bytes.data(), bytes.size(), path, out, error);
}

bool serializeNpy(const NpyArray &array, std::vector<uint8_t> &bytes,
                  std::string &error) {
  size_t want = 0;
  if (!byteCount(array.shape, dtypeSize(array.dtype), want)) {
    error = "the shape " + shapeText(array.shape) + " of " +
            dtypeName(array.dtype) +
            " has a negative extent or more than 2^64 bytes";
    return false;
  }
  if (want != array.data.size()) {
    error = "the array's data (" + std::to_string(array.data.size()) +
            " bytes) does not match its shape " + shapeText(array.shape) +
            " of " + dtypeName(array.dtype);
    return false;
  }
  std::string dict = "{'descr': '";
  dict += fileDescrOf(array.dtype);
  dict += "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < array.shape.size(); ++i)
    dict += (i ? ", " : "") + std::to_string(array.shape[i]);
  if (array.shape.size() == 1)
    dict += ",";
  dict += "), }";
  // Pad with spaces so that the data starts on a 64-byte boundary, and end
  // the header with a newline, as NumPy does.
  unsigned major = 1;
  size_t preamble = kMagicSize + 2 + 2;
  size_t total = preamble + dict.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  if (padded - preamble > 0xffff) {
    major = 2;
    preamble = kMagicSize + 2 + 4;
    total = preamble + dict.size() + 1;
    padded = (total + 63) / 64 * 64;
  }
  dict.append(padded - total, ' ');
  dict += '\n';
  size_t headerLength = dict.size();

  size_t n = array.numElements();
  size_t fileWidth =
      array.dtype == DType::bf16 ? sizeof(float) : dtypeSize(array.dtype);
  bytes.clear();
  bytes.reserve(padded + 1 + n * fileWidth);
  for (size_t i = 0; i < kMagicSize; ++i)
    bytes.push_back(static_cast<uint8_t>(kMagic[i]));
  bytes.push_back(static_cast<uint8_t>(major));
  bytes.push_back(0);
  for (size_t i = 0; i < (major == 1 ? 2u : 4u); ++i)
    bytes.push_back(static_cast<uint8_t>(headerLength >> (8 * i)));
  bytes.insert(bytes.end(), dict.begin(), dict.end());

  size_t dataStart = bytes.size();
  if (array.dtype == DType::bf16) {
    bytes.resize(dataStart + n * sizeof(float));
    for (size_t i = 0; i < n; ++i)
      storeElement(bytes.data() + dataStart, DType::f32, i,
                   loadElement(array.data.data(), DType::bf16, i));
  } else if (array.dtype == DType::boolean) {
    for (size_t i = 0; i < n; ++i)
      bytes.push_back(array.data[i] != 0);
  } else {
    bytes.insert(bytes.end(), array.data.begin(), array.data.end());
  }
  if (!hostIsLittleEndian())
    swapElements(bytes.data() + dataStart, n, fileWidth);
  return true;
}

bool writeNpy(const std::string &path, const NpyArray &array,
              std::string &error) {
  std::vector<uint8_t> bytes;
  if (!serializeNpy(array, bytes, error)) {
    error = "cannot write '" + path + "': " + error;
    return false;
  }
  std::FILE *file = std::fopen(path.c_str(), "wb");
  if (!file) {
    error = "cannot write '" + path + "': " + std::strerror(errno);
    return false;
  }
  size_t written = std::fwrite(bytes.data(), 1, bytes.size(), file);
  int savedErrno = errno;
  bool closed = std::fclose(file) == 0;
  if (written != bytes.size() || !closed) {
    error = "cannot write '" + path +
            "': " + std::strerror(written != bytes.size() ? savedErrno : errno);
    return false;
  }
  return true;
}

} // namespace attn::rt
