// Which OpenBLAS kernels run. OpenBLAS (DYNAMIC_ARCH) picks its kernels from the CPU model when it loads;
// a CPU newer than the library falls back to "Prescott", SSE3-era kernels. Debian 12's OpenBLAS 0.3.21 on a
// 5th-generation Xeon (family 6, model 207) does exactly that: sgemm 58 GFLOP/s on 2 threads, against
// 287 with OPENBLAS_CORETYPE=SkylakeX, and a whole VAR-d16 image took 22.5 s instead of 6.8 s. The choice is
// made in the library's constructor, before our code runs, so the fix is to start the process again with
// OPENBLAS_CORETYPE set (`BLASCore.restartIfGeneric`).
import CKernels
import COpenBLAS
import Glibc

public enum BLASCore {
    /// The kernel set OpenBLAS chose, e.g. "SkylakeX", "Haswell", "Zen", "Prescott".
    public static var name: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// OpenBLAS's pre-AVX kernel sets: the fallbacks it uses for CPUs it does not recognise.
    static let generic: Set<String> = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai",
                                       "Coppermine", "Northwood", "Banias", "Barcelona", "Opteron", "Opteron_SSE3",
                                       "Athlon", "Unknown", "unknown"]

    /// The kernel set to ask for instead of `current`, given the CPU's feature flags (as /proc/cpuinfo spells
    /// them), or nil when `current` is fine or nothing better is supported.
    public static func better(than current: String, flags: Set<String>) -> String? {
        guard generic.contains(current) else { return nil }
        let avx512 = ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].allSatisfy(flags.contains)
        // Cooper Lake = SkylakeX's sgemm plus avx512_bf16 kernels for sbgemm.
        if avx512 && flags.contains("avx512_bf16") { return "Cooperlake" }
        if avx512 { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// The CPU's features that matter to `better`, spelled as /proc/cpuinfo spells them, read with CPUID, as
    /// OpenBLAS reads them: under an emulator /proc/cpuinfo describes the host, not the CPU the code runs on.
    public static func cpuFlags() -> Set<String> {
        let f = sw_cpu_features()
        var flags: Set<String> = []
        if f & 1 != 0 { flags.formUnion(["avx2", "fma"]) }
        if f & 2 != 0 { flags.formUnion(["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]) }
        if f & 4 != 0 { flags.insert("avx512_bf16") }
        return flags
    }

    /// When OpenBLAS fell back to generic kernels on a CPU with AVX2 or AVX-512, re-executes this program
    /// with OPENBLAS_CORETYPE set to the right kernels; returns when there is nothing to do (already
    /// fast, OPENBLAS_CORETYPE set by the user, or the restart failed — then the program runs, slowly).
    /// Call first thing in `main`, before any other thread exists.
    public static func restartIfGeneric() {
        guard getenv("OPENBLAS_CORETYPE") == nil, let core = better(than: name, flags: cpuFlags()) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")
    }
}

extension BLASCore {
    /// Best sgemm throughput (GFLOP/s) on a transformer-sized product ([1024, 1024]·[1024, 4096]) with the
    /// current thread count, over five runs after a warm-up: the ceiling `bench` compares against.
    public static func sgemmCeiling() -> Double {
        let m = 1024, k = 1024, n = 4096
        let a = UnsafeMutablePointer<Float>.allocate(capacity: m * k), b = UnsafeMutablePointer<Float>.allocate(capacity: k * n)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        for i in 0..<(m * k) { a[i] = Float(i % 7) * 0.1 }
        for i in 0..<(k * n) { b[i] = Float(i % 5) * 0.1 }
        var best = 0.0
        for run in 0..<6 {
            var t0 = timespec(), t1 = timespec()
            clock_gettime(CLOCK_MONOTONIC, &t0)
            gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: c, ldc: n)
            clock_gettime(CLOCK_MONOTONIC, &t1)
            let s = Double(t1.tv_sec - t0.tv_sec) + Double(t1.tv_nsec - t0.tv_nsec) * 1e-9
            if run > 0 { best = max(best, 2.0 * Double(m * n * k) / s / 1e9) }
        }
        return best
    }
}
