// Facts about the console: whether stdout is a terminal, colour preferences.
#pragma once

namespace digitlab::core {

// True when standard output is an interactive terminal (progress bars redraw in place there).
bool stdout_is_terminal();

// True unless NO_COLOR is set (https://no-color.org) or stdout is not a terminal.
bool color_enabled();

}  // namespace digitlab::core
