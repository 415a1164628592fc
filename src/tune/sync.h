// What a search spread over the ranks of a group needs from it: rank, size, an exchange.
#pragma once

#include <string>
#include <vector>

namespace digitlab::tune {

// A group of `tune` processes running one search (the dist module implements it over c10d's
// TCPStore). Every member calls exchange() the same number of times.
class Sync {
 public:
  virtual ~Sync() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Guarantees: returns every member's `mine` of this round, by rank. Throws core::RuntimeError
  // when a member does not take part within the implementation's timeout.
  virtual std::vector<std::string> exchange(const std::string& mine) = 0;
};

}  // namespace digitlab::tune
