import ScalewiseKernels

/// BLAS thread count, re-exported so front ends need not import the kernel layer.
public func setThreads(_ n: Int) { Threads.set(n) }
public func threadCount() -> Int { Threads.count }
