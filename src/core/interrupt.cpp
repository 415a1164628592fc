// Signal handlers that record SIGINT/SIGTERM for the work loop to act on.
#include "core/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace digitlab::core {
namespace {

std::atomic<int> g_signal{0};
struct sigaction g_old_int, g_old_term;

void on_signal(int sig) {
  // Only async-signal-safe work here: record, or leave at once on a second Ctrl-C.
  if (sig == SIGINT && g_signal.load() != 0) _exit(130);
  int expected = 0;
  g_signal.compare_exchange_strong(expected, sig);
}

}  // namespace

InterruptGuard::InterruptGuard() {
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // reads and writes in progress go on; the loop polls the flag
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

int interrupt_signal() { return g_signal.load(); }

}  // namespace digitlab::core
