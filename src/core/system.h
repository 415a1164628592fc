// Facts about the machine and the process: CPU features, peak memory, process age; no torch.
#pragma once

#include <string>

namespace digitlab::core {

// True when /proc/cpuinfo lists `flag` (e.g. "avx512_bf16", "amx_bf16") for the first CPU.
// False where /proc/cpuinfo cannot be read.
bool cpu_has_flag(const std::string& flag);

// The CPU's vendor from /proc/cpuinfo ("AuthenticAMD", "GenuineIntel"), or "" where unknown.
std::string cpu_vendor();

// The CPU's model name from /proc/cpuinfo, or "unknown CPU".
std::string cpu_model_name();

// Peak resident memory of this process so far, in MiB (getrusage).
double peak_rss_mib();

// Seconds since this process started (from /proc/self/stat), so start-up and library loading
// count; 0 where that cannot be read.
double process_age_seconds();

}  // namespace digitlab::core
