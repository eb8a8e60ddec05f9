// threads.h: running a library call (OpenBLAS, oneDNN) on a given number of OpenMP threads without
// changing the caller's OpenMP state. Private to src/backend.
#ifndef MS_BACKEND_THREADS_H
#define MS_BACKEND_THREADS_H

// Returns run(arg, n_threads) called with nthreads-var = n_threads in effect, or run(arg, 0) on this
// thread inside an active parallel region (where the libraries run single-threaded).
int ms_on_threads(int n_threads, int (*run)(void *arg, int n_threads), void *arg);

#endif
