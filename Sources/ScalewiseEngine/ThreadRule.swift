import Foundation

/// How many threads a model runs on when neither `--threads` nor OPENBLAS_NUM_THREADS says. A small model's
/// matrix products are a few microseconds each, and every one ends at a barrier of OpenMP (oneDNN's bf16 and
/// int8 paths) or OpenBLAS threads: when another program holds a core, each barrier waits for a descheduled
/// worker (a scheduler quantum), and a glyph model took 4–48× longer on two threads than on one. A large model's
/// products are long enough to amortise that, and it keeps every core.
public enum ThreadRule {
    /// Below this much work per image (transformer and decoder, in GFLOP at the model's default guidance) a model
    /// runs single-threaded: the shipped glyph models are 1.6–18 GFLOP (one thread 0.02–0.12 s an image; two up to
    /// 1.7× faster on an idle machine, 50 ms at most, but up to 48× slower on a busy one); VAR-d16 at 256 px is
    /// about 990 (two threads 1.8× faster idle).
    public static let smallModelGFLOP = 100.0

    /// The thread count for `generators` (the largest decides) on `cores` cores, and why, for `bench`.
    public static func choose(for generators: [Generator], cores: Int) -> (count: Int, reason: String) {
        let gflop = generators.map { g in
            let f = g.flops(cfg: g.defaults.cfg)
            return (f.transformer + f.decoder) / 1e9
        }.max() ?? 0
        return choose(gflop: gflop, cores: cores)
    }

    /// The thread count for a model of `gflop` per image on `cores` cores, and why.
    public static func choose(gflop: Double, cores: Int) -> (count: Int, reason: String) {
        if cores <= 1 { return (1, "auto: one core") }
        return gflop < smallModelGFLOP ? (1, "auto: small model") : (cores, "auto: all cores")
    }

    /// Whether the thread count is left to `choose`: no explicit count and no OPENBLAS_NUM_THREADS (which OpenBLAS
    /// has already applied).
    public static func isAuto(explicit: Int?) -> Bool {
        explicit == nil && ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] == nil
    }
}
