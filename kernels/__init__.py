"""numba kernels: numpy in, numpy out. Imports only numpy and numba."""
