// Compute settings: thread counts for torch and BLAS, process-wide and per calling thread.
#pragma once

namespace digitlab::train {

// Sets torch's intra-op threads to `threads` (0: one per core) and OpenBLAS to one thread, since
// its own threads on top of torch's oversubscribe the cores (measured 2x slower on 2 cores).
// Returns the thread count in effect.
int configure_threads(int threads);

// While alive, the parallel regions that torch and oneDNN start from the calling thread run on one
// thread: OpenMP's team size is a per-thread setting, so other threads (serve's workers) keep
// theirs. For small batches, where a second thread's synchronisation costs more than its work
// saves. Restores the previous team size when it ends. Does nothing when !enabled, or where no
// OpenMP runtime is loaded.
class SingleThreadScope {
 public:
  explicit SingleThreadScope(bool enabled);
  ~SingleThreadScope();
  SingleThreadScope(const SingleThreadScope&) = delete;
  SingleThreadScope& operator=(const SingleThreadScope&) = delete;

 private:
  int was_ = 0;  // the team size to restore; 0 when nothing was changed
};

}  // namespace digitlab::train
