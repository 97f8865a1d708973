"""numba kernels: numpy in, numpy out. Imports only numpy and numba.

Every module with a kernel imports ``kernels.cache`` first: numba's cache of each kernel is keyed to
all kernel sources.
"""
