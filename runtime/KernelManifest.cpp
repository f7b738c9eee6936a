// Reads a kernel manifest: a small recursive-descent JSON parser (objects,
// arrays, strings, numbers, true/false/null), then the fields the runtime
// needs, each checked for presence and type.
#include "runtime/KernelManifest.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>

using namespace attn::rt;

namespace {

struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool boolean = false;
  double number = 0;
  std::string text; // String: the value; Number: the literal
  std::vector<Json> items;
  std::map<std::string, Json> fields;

  const Json *get(const std::string &key) const {
    auto it = fields.find(key);
    return it == fields.end() ? nullptr : &it->second;
  }
};

class JsonParser {
public:
  explicit JsonParser(const std::string &s) : s(s) {}

  bool parse(Json &out, std::string &error) {
    if (!value(out, 0)) {
      error = message;
      return false;
    }
    skip();
    if (pos != s.size()) {
      error = "unexpected text after the JSON value at offset " +
              std::to_string(pos);
      return false;
    }
    return true;
  }

private:
  const std::string &s;
  size_t pos = 0;
  std::string message;

  bool fail(const std::string &what) {
    message = what + " at offset " + std::to_string(pos);
    return false;
  }
  void skip() {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\n' ||
                              s[pos] == '\r' || s[pos] == '\t'))
      ++pos;
  }
  bool literal(const char *word) {
    size_t n = std::char_traits<char>::length(word);
    if (s.compare(pos, n, word) != 0)
      return false;
    pos += n;
    return true;
  }

  bool string(std::string &out) {
    if (pos >= s.size() || s[pos] != '"')
      return fail("expected a string");
    ++pos;
    while (pos < s.size() && s[pos] != '"') {
      char c = s[pos++];
      if (static_cast<unsigned char>(c) < 0x20)
        return fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos >= s.size())
        break;
      char e = s[pos++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out += e;
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'u': {
        if (pos + 4 > s.size())
          return fail("truncated \\u escape");
        unsigned code = 0;
        for (int i = 0; i < 4; ++i) {
          char h = s[pos++];
          code <<= 4;
          if (h >= '0' && h <= '9')
            code |= h - '0';
          else if (h >= 'a' && h <= 'f')
            code |= h - 'a' + 10;
          else if (h >= 'A' && h <= 'F')
            code |= h - 'A' + 10;
          else
            return fail("bad \\u escape");
        }
        // UTF-8 (surrogate pairs are not needed by manifests: kept as is).
        if (code < 0x80) {
          out += static_cast<char>(code);
        } else if (code < 0x800) {
          out += static_cast<char>(0xc0 | (code >> 6));
          out += static_cast<char>(0x80 | (code & 0x3f));
        } else {
          out += static_cast<char>(0xe0 | (code >> 12));
          out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
          out += static_cast<char>(0x80 | (code & 0x3f));
        }
        break;
      }
      default:
        return fail("bad escape in a string");
      }
    }
    if (pos >= s.size())
      return fail("unterminated string");
    ++pos;
    return true;
  }

  bool value(Json &out, int depth) {
    if (depth > 32)
      return fail("JSON nested too deeply");
    skip();
    if (pos >= s.size())
      return fail("unexpected end of the file");
    char c = s[pos];
    if (c == '{') {
      out.kind = Json::Object;
      ++pos;
      skip();
      if (pos < s.size() && s[pos] == '}') {
        ++pos;
        return true;
      }
      while (true) {
        skip();
        std::string key;
        if (!string(key))
          return false;
        skip();
        if (pos >= s.size() || s[pos] != ':')
          return fail("expected ':'");
        ++pos;
        Json v;
        if (!value(v, depth + 1))
          return false;
        out.fields[key] = std::move(v);
        skip();
        if (pos < s.size() && s[pos] == ',') {
          ++pos;
          continue;
        }
        if (pos < s.size() && s[pos] == '}') {
          ++pos;
          return true;
        }
        return fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      out.kind = Json::Array;
      ++pos;
      skip();
      if (pos < s.size() && s[pos] == ']') {
        ++pos;
        return true;
      }
      while (true) {
        Json v;
        if (!value(v, depth + 1))
          return false;
        out.items.push_back(std::move(v));
        skip();
        if (pos < s.size() && s[pos] == ',') {
          ++pos;
          continue;
        }
        if (pos < s.size() && s[pos] == ']') {
          ++pos;
          return true;
        }
        return fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      out.kind = Json::String;
      return string(out.text);
    }
    if (literal("true")) {
      out.kind = Json::Bool;
      out.boolean = true;
      return true;
    }
    if (literal("false")) {
      out.kind = Json::Bool;
      return true;
    }
    if (literal("null"))
      return true;
    size_t start = pos;
    if (pos < s.size() && s[pos] == '-')
      ++pos;
    while (pos < s.size() &&
           (std::isdigit(static_cast<unsigned char>(s[pos])) || s[pos] == '.' ||
            s[pos] == 'e' || s[pos] == 'E' || s[pos] == '+' || s[pos] == '-'))
      ++pos;
    if (pos == start || (pos == start + 1 && s[start] == '-'))
      return fail("unexpected character '" + std::string(1, c) + "'");
    out.kind = Json::Number;
    out.text = s.substr(start, pos - start);
    char *end = nullptr;
    out.number = std::strtod(out.text.c_str(), &end);
    if (end != out.text.c_str() + out.text.size())
      return fail("malformed number '" + out.text + "'");
    return true;
  }
};

/// Field readers that say which field is wrong.
struct FieldReader {
  std::string &error;
  const std::string &file;

  bool bad(const std::string &where, const std::string &what) {
    error = file + ": " + where + " " + what;
    return false;
  }
  bool str(const Json &obj, const std::string &key, const std::string &where,
           std::string &out, bool required = true) {
    const Json *v = obj.get(key);
    if (!v)
      return !required || bad(where, "has no \"" + key + "\"");
    if (v->kind != Json::String)
      return bad(where, "field \"" + key + "\" is not a string");
    out = v->text;
    return true;
  }
  bool integer(const Json &obj, const std::string &key,
               const std::string &where, int &out) {
    const Json *v = obj.get(key);
    if (!v)
      return bad(where, "has no \"" + key + "\"");
    if (v->kind != Json::Number || v->number != static_cast<int>(v->number))
      return bad(where, "field \"" + key + "\" is not an integer");
    out = static_cast<int>(v->number);
    return true;
  }
};

/// A geometry entry or size: a non-negative integer or an expression string.
bool sizeExpr(const Json &v, const std::string &where, SizeExpr &out,
              FieldReader &r) {
  if (v.kind == Json::Number) {
    if (v.number < 0 || v.number > 9.0e15 ||
        v.number != static_cast<double>(static_cast<int64_t>(v.number)))
      return r.bad(where, "is not a non-negative integer");
    out = SizeExpr::constant(static_cast<int64_t>(v.number));
    return true;
  }
  if (v.kind != Json::String)
    return r.bad(where, "is neither an integer nor a size expression");
  std::string error;
  if (!SizeExpr::parse(v.text, out, error))
    return r.bad(where, "is not a size expression: " + error);
  return true;
}

/// Every symbol of `e` must be bound by an argument: a tensor dimension or
/// an integer scalar of that name.
bool symbolsBound(const SizeExpr &e, const KernelManifest &m,
                  const std::string &where, FieldReader &r) {
  for (const std::string &sym : e.symbols()) {
    bool bound = false;
    for (const auto &[name, value] : m.definitions)
      bound |= name == sym;
    for (const ManifestArgument &a : m.arguments) {
      if (a.isScalar)
        bound |= a.name == sym &&
                 (a.dtype == DType::i32 || a.dtype == DType::i64);
      else
        for (const std::string &d : a.dims)
          bound |= d == sym;
    }
    if (!bound)
      return r.bad(where, "\"" + e.text() + "\" uses size symbol " + sym +
                              ", which no argument binds (no tensor dimension "
                              "or integer scalar of that name)");
  }
  return true;
}

/// "grid": [x, y?, z?] (missing ones are 1).
bool geometry(const Json &launch, const char *key, const std::string &where,
              SizeExpr (&out)[3], const KernelManifest &m, FieldReader &r) {
  const Json *v = launch.get(key);
  if (!v || v->kind != Json::Array || v->items.empty() || v->items.size() > 3)
    return r.bad(where, std::string("has no \"") + key +
                            "\" array of 1 to 3 entries");
  for (size_t d = 0; d < 3; ++d) {
    out[d] = SizeExpr::constant(1);
    if (d >= v->items.size())
      continue;
    std::string w = where + " " + key + " dimension " + std::to_string(d);
    if (!sizeExpr(v->items[d], w, out[d], r) || !symbolsBound(out[d], m, w, r))
      return false;
  }
  return true;
}

bool parseLaunches(const Json &root, KernelManifest &m, FieldReader &r) {
  if (m.callingConvention != "cuda_kernel_params")
    return r.bad("the manifest", "has calling convention \"" +
                                     m.callingConvention +
                                     "\"; a CUDA manifest uses "
                                     "\"cuda_kernel_params\"");
  if (const Json *defs = root.get("sizes")) {
    if (defs->kind != Json::Array)
      return r.bad("field \"sizes\"", "is not an array");
    for (size_t i = 0; i < defs->items.size(); ++i) {
      const Json &d = defs->items[i];
      std::string where = "size definition " + std::to_string(i);
      std::string name;
      if (d.kind != Json::Object || !r.str(d, "name", where, name))
        return r.bad(where, "is not an object with a \"name\"");
      bool ident = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0]));
      for (char c : name)
        ident &= std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      if (!ident)
        return r.bad(where, "has the name \"" + name +
                                "\", which is not an identifier");
      const Json *v = d.get("value");
      SizeExpr e;
      where += " (" + name + ")";
      if (!v)
        return r.bad(where, "has no \"value\"");
      if (!sizeExpr(*v, where, e, r) || !symbolsBound(e, m, where, r))
        return false;
      for (const auto &[other, value] : m.definitions)
        if (other == name)
          return r.bad(where, "defines " + name + " twice");
      for (const ManifestArgument &a : m.arguments)
        if ((a.isScalar && a.name == name) ||
            std::find(a.dims.begin(), a.dims.end(), name) != a.dims.end())
          return r.bad(where, "defines " + name + ", a size symbol that "
                              "argument " + a.name + " already binds");
      m.definitions.emplace_back(name, e);
    }
  }
  if (const Json *w = root.get("workspace_bytes")) {
    SizeExpr e;
    if (!sizeExpr(*w, "field \"workspace_bytes\"", e, r) ||
        !symbolsBound(e, m, "field \"workspace_bytes\"", r))
      return false;
    m.workspaceBytes = e;
  }
  const Json *launches = root.get("launches");
  if (!launches || launches->kind != Json::Array || launches->items.empty())
    return r.bad("the manifest", "has no \"launches\" array (a CUDA manifest "
                                 "needs at least one launch)");
  for (size_t i = 0; i < launches->items.size(); ++i) {
    const Json &l = launches->items[i];
    std::string where = "launch " + std::to_string(i);
    if (l.kind != Json::Object)
      return r.bad(where, "is not an object");
    ManifestLaunch launch;
    if (!r.str(l, "entry", where, launch.entry))
      return false;
    if (launch.entry.empty())
      return r.bad(where, "has an empty \"entry\"");
    where += " (" + launch.entry + ")";
    if (!geometry(l, "grid", where, launch.grid, m, r) ||
        !geometry(l, "block", where, launch.block, m, r))
      return false;
    if (const Json *shared = l.get("shared_bytes")) {
      std::string w = where + " shared_bytes";
      if (!sizeExpr(*shared, w, launch.sharedBytes, r) ||
          !symbolsBound(launch.sharedBytes, m, w, r))
        return false;
    }
    const Json *params = l.get("params");
    if (!params || params->kind != Json::Array)
      return r.bad(where, "has no \"params\" array");
    for (size_t k = 0; k < params->items.size(); ++k) {
      const Json &p = params->items[k];
      std::string w = where + " param " + std::to_string(k);
      if (p.kind != Json::String)
        return r.bad(w, "is not a string");
      ManifestParam param;
      param.text = p.text;
      const std::string &t = p.text;
      if (t == "error_code") {
        param.kind = ManifestParam::ErrorCode;
      } else if (t == "workspace") {
        param.kind = ManifestParam::Workspace;
        if (!m.workspaceBytes)
          return r.bad(w, "is \"workspace\" but the manifest has no "
                          "\"workspace_bytes\"");
      } else if (t.compare(0, 4, "i64:") == 0 || t.compare(0, 4, "i32:") == 0) {
        param.kind = t[1] == '6' ? ManifestParam::Int64 : ManifestParam::Int32;
        std::string error;
        if (!SizeExpr::parse(t.substr(4), param.value, error))
          return r.bad(w, "\"" + t + "\" is not a size expression: " + error);
        if (!symbolsBound(param.value, m, w, r))
          return false;
      } else {
        for (size_t a = 0; a < m.arguments.size(); ++a)
          if (m.arguments[a].name == t)
            param.argument = static_cast<int>(a);
        if (param.argument < 0)
          return r.bad(w, "\"" + t +
                              "\" names no argument (a parameter is an "
                              "argument's name, i64:EXPR, i32:EXPR, "
                              "error_code or workspace)");
      }
      launch.params.push_back(std::move(param));
    }
    m.launches.push_back(std::move(launch));
  }
  return true;
}

} // namespace

std::string attn::rt::CudaTarget::name() const {
  return "sm_" + std::to_string(major) + std::to_string(minor) +
         (archSpecific ? "a" : "");
}

bool attn::rt::parseCudaTarget(const std::string &target, CudaTarget &out) {
  const std::string prefix = "cuda:sm_";
  if (target.compare(0, prefix.size(), prefix) != 0)
    return false;
  std::string rest = target.substr(prefix.size());
  bool specific = !rest.empty() && rest.back() == 'a';
  if (specific)
    rest.pop_back();
  if (rest.size() < 2 || rest.size() > 3)
    return false;
  for (char c : rest)
    if (c < '0' || c > '9')
      return false;
  out.major = std::stoi(rest.substr(0, rest.size() - 1));
  out.minor = rest.back() - '0';
  out.archSpecific = specific;
  return out.major > 0;
}

bool attn::rt::parseKernelManifest(const std::string &text,
                                   const std::string &name, KernelManifest &out,
                                   std::string &error) {
  Json root;
  JsonParser parser(text);
  std::string jsonError;
  if (!parser.parse(root, jsonError)) {
    error = name + ": malformed manifest: " + jsonError;
    return false;
  }
  FieldReader r{error, name};
  if (root.kind != Json::Object)
    return r.bad("the manifest", "is not a JSON object");
  std::string format;
  if (!r.str(root, "format", "the manifest", format))
    return false;
  if (format != "attn-kernel-manifest")
    return r.bad("the manifest",
                 "has format \"" + format + "\", not \"attn-kernel-manifest\"");
  if (!r.integer(root, "format_version", "the manifest", out.formatVersion))
    return false;
  if (out.formatVersion != 1)
    return r.bad("the manifest", "has format_version " +
                                     std::to_string(out.formatVersion) +
                                     "; this runtime reads version 1");
  if (!r.str(root, "compiler", "the manifest", out.compiler) ||
      !r.str(root, "kernel", "the manifest", out.kernel) ||
      !r.str(root, "target", "the manifest", out.target))
    return false;
  bool cuda = out.isCuda();
  if (!r.str(root, "entry", "the manifest", out.entry, !cuda) ||
      !r.str(root, "library", "the manifest", out.library, false) ||
      !r.str(root, "object", "the manifest", out.object, false) ||
      !r.str(root, "ptx", "the manifest", out.ptx, cuda) ||
      !r.str(root, "calling_convention", "the manifest", out.callingConvention))
    return false;
  if (!cuda && out.library.empty() && out.object.empty())
    return r.bad("the manifest", "names neither \"library\" nor \"object\"");
  if (cuda && !parseCudaTarget(out.target, out.cudaTarget))
    return r.bad("the manifest",
                 "has target \"" + out.target +
                     "\"; a CUDA target is written cuda:sm_XY or cuda:sm_XYa "
                     "(e.g. cuda:sm_90a)");
  if (cuda && out.ptx.empty())
    return r.bad("the manifest", "has an empty \"ptx\"");

  const Json *args = root.get("arguments");
  if (!args || args->kind != Json::Array)
    return r.bad("the manifest", "has no \"arguments\" array");
  bool seenOutput = false;
  for (size_t i = 0; i < args->items.size(); ++i) {
    const Json &a = args->items[i];
    std::string where = "argument " + std::to_string(i);
    if (a.kind != Json::Object)
      return r.bad(where, "is not an object");
    ManifestArgument m;
    std::string role, kind, dtype;
    if (!r.str(a, "name", where, m.name) || !r.str(a, "role", where, role) ||
        !r.str(a, "kind", where, kind) || !r.str(a, "dtype", where, dtype))
      return false;
    where += " (" + m.name + ")";
    if (role != "input" && role != "output")
      return r.bad(where, "has role \"" + role + "\"");
    if (kind != "tensor" && kind != "scalar")
      return r.bad(where, "has kind \"" + kind + "\"");
    m.isOutput = role == "output";
    m.isScalar = kind == "scalar";
    if (m.isOutput && m.isScalar)
      return r.bad(where, "is a scalar output");
    if (seenOutput && !m.isOutput)
      return r.bad(where, "is an input after an output");
    seenOutput |= m.isOutput;
    std::optional<DType> dt = parseDType(dtype);
    if (!dt)
      return r.bad(where, "has unknown dtype \"" + dtype + "\"");
    m.dtype = *dt;
    if (!m.isScalar) {
      const Json *dims = a.get("dims");
      if (!dims || dims->kind != Json::Array)
        return r.bad(where, "has no \"dims\" array");
      for (const Json &d : dims->items) {
        if (d.kind == Json::String && !d.text.empty())
          m.dims.push_back(d.text);
        else if (d.kind == Json::Number && d.number >= 0 &&
                 d.number ==
                     static_cast<double>(static_cast<int64_t>(d.number)))
          m.dims.push_back(std::to_string(static_cast<int64_t>(d.number)));
        else
          return r.bad(where, "has a dimension that is neither a size symbol "
                              "nor a non-negative integer");
      }
      if (m.dims.size() > 16)
        return r.bad(where, "has rank " + std::to_string(m.dims.size()) +
                                " (16 at most)");
    }
    if (const Json *fill = a.get("fill")) {
      if (fill->kind == Json::String)
        m.fill = fill->text;
      else if (fill->kind == Json::Number)
        m.fill = fill->text;
      else if (fill->kind != Json::Null)
        return r.bad(where, "has a \"fill\" that is not a string");
    }
    out.arguments.push_back(std::move(m));
  }

  if (const Json *errors = root.get("errors")) {
    if (errors->kind != Json::Array)
      return r.bad("the manifest", "field \"errors\" is not an array");
    for (size_t i = 0; i < errors->items.size(); ++i) {
      const Json &e = errors->items[i];
      std::string where = "error " + std::to_string(i);
      if (e.kind != Json::Object)
        return r.bad(where, "is not an object");
      ManifestRunError m;
      if (!r.str(e, "what", where, m.what) ||
          !r.integer(e, "argument", where, m.argument) ||
          !r.integer(e, "dimension", where, m.dimension) ||
          !r.str(e, "where", where, m.where))
        return false;
      out.errors.push_back(std::move(m));
    }
  }
  return !cuda || parseLaunches(root, out, r);
}

std::string attn::rt::jsonQuote(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += c;
      }
    }
  }
  return out + "\"";
}

std::string attn::rt::fillValueText(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v < 0 ? "-inf" : "inf";
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  return buf;
}
