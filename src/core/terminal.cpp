// Console facts.
#include "core/terminal.h"

#include <unistd.h>

#include <cstdlib>

namespace digitlab::core {

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

bool color_enabled() {
  const char* nc = std::getenv("NO_COLOR");
  return stdout_is_terminal() && !(nc && *nc);
}

}  // namespace digitlab::core
