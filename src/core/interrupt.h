// Ctrl-C and SIGTERM as requests to stop at a safe point, and the error that reports the stop.
#pragma once

#include <string>

#include "core/error.h"

namespace digitlab::core {

// While alive, SIGINT and SIGTERM only record themselves (interrupt_signal()), so long work can
// finish its step and save; a second SIGINT ends the process at once with exit code 130, for a
// user who will not wait. The previous handlers come back on destruction. One guard at a time.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
};

// The signal recorded since the guard was installed (SIGINT or SIGTERM), or 0.
int interrupt_signal();

// Work stopped on a signal after saving what it could: exit code 128 + signal (130, 143), as a
// shell reports a process killed by it.
class Interrupted : public Error {
 public:
  Interrupted(int signal, const std::string& message)
      : Error(static_cast<ExitCode>(128 + signal), message) {}
};

}  // namespace digitlab::core
