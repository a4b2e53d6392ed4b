// A small JSON reader/writer, enough for safetensors headers: objects (key
// order kept), arrays, strings, integers, numbers, true/false/null.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace moco::nn {

struct Json {
  enum class Kind { null, boolean, integer, number, string, array, object };
  Kind kind = Kind::null;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::string s;
  std::vector<Json> items;                            // array
  std::vector<std::pair<std::string, Json>> members;  // object, in file order

  const Json* find(const std::string& key) const;  // object member or null
  const char* kind_name() const;
};

// Parses one JSON document; errors name `what` and the byte offset.
Json parse_json(const std::string& text, const std::string& what);
// A JSON string literal with quotes and escapes.
std::string json_quote(const std::string& s);

}  // namespace moco::nn
