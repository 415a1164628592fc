// File helpers: whole-file reads, atomic writes (temporary name, flush, rename), directories.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace digitlab::core {

// Reads the whole file. Throws RuntimeError naming `path` when it cannot be opened or read.
std::string read_file(const std::string& path);

// Writes `bytes` to `path` through `path.tmp.<pid>` in the same directory, fsync, then rename,
// so a reader sees either the old file or the complete new one. Throws RuntimeError on failure
// and leaves any previous `path` untouched.
void write_file_atomic(const std::string& path, std::string_view bytes);

// Like write_file_atomic, for writers that need a path (torch archives): `write(tmp_path)` must
// create tmp_path; it is then fsynced and renamed to `path`. A throwing writer removes tmp_path.
void write_atomic_with(const std::string& path,
                       const std::function<void(const std::string&)>& write);

// Creates `path` and its parents. Throws RuntimeError naming the path when that fails.
void make_dirs(const std::string& path);

bool file_exists(const std::string& path);
bool dir_exists(const std::string& path);

// The lines of `text`, without their '\n' and a trailing '\r'; no empty last line for a final
// newline.
std::vector<std::string> split_lines(const std::string& text);

// True for a line of only spaces, tabs and carriage returns.
bool blank_line(const std::string& line);

// Joins two path pieces with one '/'.
std::string join_path(const std::string& a, const std::string& b);

// An advisory lock (flock) on DIR/.lock, held while the object lives and released by the
// system when the process ends, however it ends. Requires DIR to exist. Throws core::UsageError
// naming `flag`, DIR and the holder's PID when another process holds it, core::RuntimeError when
// the lock file cannot be opened.
class DirLock {
 public:
  DirLock(const std::string& dir, const std::string& flag);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace digitlab::core
