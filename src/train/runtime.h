// Process-wide compute settings: thread counts for torch and BLAS.
#pragma once

namespace digitlab::train {

// Sets torch's intra-op threads to `threads` (0: one per core) and OpenBLAS to one thread, since
// its own threads on top of torch's oversubscribe the cores (measured 2x slower on 2 cores).
// Returns the thread count in effect.
int configure_threads(int threads);

}  // namespace digitlab::train
