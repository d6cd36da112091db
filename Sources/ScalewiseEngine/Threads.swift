import Foundation
import ScalewiseKernels

/// The precision of a model's linear layers, re-exported for the front ends.
public typealias Precision = ScalewiseKernels.Precision

/// BLAS thread count, re-exported so front ends need not import the kernel layer.
public func setThreads(_ n: Int) { Threads.set(n) }
public func threadCount() -> Int { Threads.count }

/// The OpenBLAS kernel set in use ("SkylakeX", "Haswell", …), for `bench` and bug reports.
public var blasKernels: String { BLASCore.name }

/// Restarts the program on OpenBLAS's AVX2/AVX-512 kernels when the library did not recognise the CPU and
/// fell back to SSE3 ones (3–5× slower; see BLASCore). Call first thing in `main`.
public func useFastBLASKernels() { BLASCore.restartIfGeneric() }

/// Best sgemm GFLOP/s on this machine with the current threads (BLASCore.sgemmCeiling).
public func measureSgemmCeiling() -> Double { BLASCore.sgemmCeiling() }

/// Resident set size now, in bytes (second field of /proc/self/statm, in pages), 0 when unreadable.
public func currentRSSBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * sysconf(Int32(_SC_PAGESIZE))
}

/// Peak resident set size of this program image, in bytes: VmHWM of /proc/self/status, 0 when unreadable.
/// Not getrusage's ru_maxrss, which after fork + exec also counts the parent's resident set at the fork
/// (`scalewise bench` run from Python after PyTorch reported 2.5 GB for a 1.85 GB peak).
public func peakRSSBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = Int(line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") else { return 0 }
    return kb * 1024
}
