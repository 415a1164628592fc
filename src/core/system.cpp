// Machine and process facts read from /proc and getrusage.
#include "core/system.h"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace digitlab::core {
namespace {

// The value of the first "key : value" line of /proc/cpuinfo starting with `key`.
std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? "" : line.substr(colon + 1);
    }
  }
  return "";
}

}  // namespace

bool cpu_has_flag(const std::string& flag) {
  std::istringstream flags(cpuinfo_field("flags"));
  std::string f;
  while (flags >> f) {
    if (f == flag) return true;
  }
  return false;
}

std::string cpu_vendor() {
  std::istringstream field(cpuinfo_field("vendor_id"));
  std::string vendor;
  field >> vendor;
  return vendor;
}

std::string cpu_model_name() {
  std::string name = cpuinfo_field("model name");
  const auto start = name.find_first_not_of(' ');
  return start == std::string::npos ? "unknown CPU" : name.substr(start);
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

double process_age_seconds() {
  std::ifstream stat("/proc/self/stat");
  std::string text;
  std::getline(stat, text);
  // Field 22 is the start time in clock ticks after boot; the command name (field 2) may hold
  // spaces, so count from its closing parenthesis.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::vector<std::string> fields;
  std::string f;
  while (rest >> f) fields.push_back(f);
  if (fields.size() < 20) return 0;
  const double start = std::stod(fields[19]) / double(sysconf(_SC_CLK_TCK));
  std::ifstream uptime_file("/proc/uptime");
  double uptime = 0;
  uptime_file >> uptime;
  return uptime > start ? uptime - start : 0;
}

}  // namespace digitlab::core
