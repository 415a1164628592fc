// JSON parsing with a nesting limit: nlohmann's parser is iterative, the limit is checked as it
// goes, so no recursion ever sees a deeper value.
#include "core/json.h"

namespace digitlab::core {

nlohmann::json parse_json(const std::string& text, std::string* error) {
  bool too_deep = false;
  // The callback sees every value with its depth; past the limit nothing more is kept.
  const nlohmann::json::parser_callback_t limit = [&](int depth, nlohmann::json::parse_event_t,
                                                      nlohmann::json&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text, limit);
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  if (too_deep) {
    if (error) *error = "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  return j;
}

}  // namespace digitlab::core
