// Runs trial processes, a few at a time, and passes Ctrl-C/SIGTERM on to them; no torch.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace digitlab::tune {

struct Job {
  size_t index = 0;               // the caller's trial index
  std::vector<std::string> args;  // argv[1..] of the program
  std::string log_path;           // stdout and stderr are appended here
};

// Starts `program` once per job, at most `parallel` at a time, each in its own process group
// (a terminal's Ctrl-C reaches only this process, which decides) and ended with SIGTERM should
// this process die. `on_start` runs as a job starts; `on_end` as it ends, with its exit code
// (128 + signal when a signal ended it) and wall seconds.
// When core::interrupt_signal() is set (a core::InterruptGuard must be alive), no new job
// starts, running jobs get one SIGTERM (they save a checkpoint and exit), and run_jobs returns
// after they have ended. Returns that signal, or 0 when every job ran.
// Throws core::RuntimeError when a process cannot be started or a log cannot be opened.
int run_jobs(const std::string& program, const std::vector<Job>& jobs, int parallel,
             const std::function<void(const Job&)>& on_start,
             const std::function<void(const Job&, int code, double seconds)>& on_end);

}  // namespace digitlab::tune
