// Error types that carry the process exit code they should end with.
#pragma once

#include <stdexcept>
#include <string>

namespace digitlab::core {

// Exit codes of the command-line contract (DESIGN.md).
enum class ExitCode : int { kOk = 0, kRuntime = 1, kUsage = 2 };

// An error the program reports as one line on stderr and turns into an exit code.
// The message names the file, flag or key at fault and what is wrong with it.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// Bad data, missing file, failed write: exit code 1.
class RuntimeError : public Error {
 public:
  explicit RuntimeError(const std::string& message) : Error(ExitCode::kRuntime, message) {}
};

// Bad flag, option value or spec: exit code 2.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(ExitCode::kUsage, message) {}
};

// Makes a single line of `text`: newlines become spaces, so every error stays one line.
std::string one_line(const std::string& text);

}  // namespace digitlab::core
