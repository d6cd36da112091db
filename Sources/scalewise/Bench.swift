import ArgumentParser
import Foundation
import ScalewiseEngine

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time generation stage by stage (transformer per scale, previews, decoder) and report GFLOP/s.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Images to time (after one warm-up).") var images = 1
    @Option(name: [.customShort("c"), .customLong("class")], help: "Class index or name.") var classLabel = "0"
    @Option(parsing: .unconditional, help: "Classifier-free guidance.") var cfg: Float = 4
    @Option(name: .customLong("cfg-mode"), help: cfgModeHelp) var cfgMode: CFGMode?
    @Flag(help: "Print one JSON line (for tools/bench).") var json = false

    func validate() throws {
        guard (1...1000).contains(images) else { throw ValidationError("--images must be in 1…1000") }
        try checkSamplingFlags(cfg: cfg)
    }

    func run() throws {
        let precision = try modelOptions.resolvedPrecision()
        let gen = try modelOptions.load()
        let loadedRSS = Double(currentRSSBytes()) / 1048576
        let ceiling = measureSgemmCeiling()
        let cls = try gen.resolveClass(classLabel)
        var opts = gen.defaults
        opts.cfg = cfg
        try applyCFGMode(cfgMode, to: &opts, gen: gen)
        let schedule = gen.defaultSchedule
        var perScale = [Double](repeating: 0, count: schedule.count)
        var transformer = 0.0, decode = 0.0, projection = 0.0
        for i in 0...images {
            opts.seed = UInt64(i)
            let s = try gen.makeSession(classIndex: cls, options: opts, schedule: schedule)
            var scaleMs: [Double] = [], projMs = 0.0
            while s.completed < s.scales.count {
                scaleMs.append(try s.step().milliseconds)
                let t = DispatchTime.now().uptimeNanoseconds
                _ = s.preview(after: s.completed, tier: .projection)
                projMs += Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = s.preview(after: s.completed, tier: .decoded)
            let decMs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            guard i > 0 else { continue }  // warm-up
            for (k, m) in scaleMs.enumerated() { perScale[k] += m / Double(images) }
            transformer += scaleMs.reduce(0, +) / 1000 / Double(images)
            projection += projMs / Double(images)
            decode += decMs / 1000 / Double(images)
        }
        let flops = gen.flops(cfg: cfg)
        let gflops = (flops.transformer + flops.decoder) / 1e9 / (transformer + decode)
        let rss = peakRSSMegabytes()
        // The memory budget: weights + the session's state (KV cache, recurrent states) + 300 MB; "weights" =
        // resident right after loading.
        let kvMB = Double(gen.stateBytes(cfg: cfg)) / 1048576
        let budget = loadedRSS + kvMB + 300e6 / 1048576
        if json {
            print("{\"transformer_s\": \(transformer), \"decode_s\": \(decode), \"projection_ms\": \(projection), "
                  + "\"gflops_per_s\": \(gflops), \"transformer_gflop\": \(flops.transformer / 1e9), "
                  + "\"decoder_gflop\": \(flops.decoder / 1e9), \"peak_rss_mb\": \(rss), \"threads\": \(threadCount()), "
                  + "\"threads_reason\": \"\(modelOptions.threadsReason(for: gen))\", "
                  + "\"loaded_rss_mb\": \(loadedRSS), \"kv_cache_mb\": \(kvMB), \"rss_budget_mb\": \(budget), "
                  + "\"sgemm_ceiling_gflops\": \(ceiling), \"blas_kernels\": \"\(blasKernels)\", "
                  + "\"precision\": \"\(gen.precision)\", \"precision_reason\": \"\(precision.reason)\", \"cpu_isa\": \"\(Precision.cpuISA)\", "
                  + "\"per_scale_ms\": [\(perScale.map { String($0) }.joined(separator: ", "))]}")
            return
        }
        print("model \(gen.name) (\(gen.family), \(String(format: "%.1f", Double(gen.parameterCount) / 1e6)) M params), "
              + "threads \(threadCount()) (\(modelOptions.threadsReason(for: gen))), cfg \(cfg), \(images) image(s)")
        print("precision \(gen.precision) (\(precision.reason)); oneDNN ISA \(Precision.cpuISA)")
        print(String(format: "OpenBLAS kernels %@, sgemm ceiling %.0f GFLOP/s ([1024,1024]·[1024,4096])", blasKernels, ceiling))
        for (k, shape) in schedule.enumerated() {
            print(String(format: "  %@ %2d %7@ %8.1f ms", gen.capabilities.stepUnit, k + 1, shape.description, perScale[k]))
        }
        func pct(_ f: Double, _ t: Double) -> Double { 100 * f / 1e9 / t / ceiling }
        print(String(format: "transformer %.3f s  (%.1f GFLOP, %.0f GFLOP/s, %.0f %% of sgemm)", transformer, flops.transformer / 1e9,
                     flops.transformer / 1e9 / transformer, pct(flops.transformer, transformer)))
        print(String(format: "projection previews %.2f ms for all scales", projection))
        print(String(format: "decoder     %.3f s  (%.1f GFLOP direct-conv count, %.0f GFLOP/s, %.0f %% of sgemm)", decode,
                     flops.decoder / 1e9, flops.decoder / 1e9 / decode, pct(flops.decoder, decode)))
        print(String(format: "total       %.3f s per image, %.0f GFLOP/s", transformer + decode, gflops))
        print(String(format: "peak RSS    %.0f MiB (budget: loaded %.0f + state %.0f + 300 MB = %.0f MiB)", rss, loadedRSS, kvMB, budget))
    }
}

func peakRSSMegabytes() -> Double { Double(peakRSSBytes()) / 1048576 }
