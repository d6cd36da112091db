import ArgumentParser
import Foundation
import ScalewiseEngine

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time generation stage by stage (transformer per scale, previews, decoder) and report GFLOP/s.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Images to time (after one warm-up).") var images = 1
    @Option(name: [.customShort("c"), .customLong("class")], help: "Class index or name.") var classLabel = "0"
    @Option(help: "Classifier-free guidance.") var cfg: Float = 4
    @Flag(help: "Print one JSON line (for tools/bench).") var json = false

    func run() throws {
        guard images >= 1 else { throw ValidationError("--images must be ≥ 1") }
        let gen = try modelOptions.load()
        let cls = try gen.resolveClass(classLabel)
        var opts = gen.defaults
        opts.cfg = cfg
        var perScale = [Double](repeating: 0, count: gen.schedules[0].count)
        var transformer = 0.0, decode = 0.0, projection = 0.0
        for i in 0...images {
            opts.seed = UInt64(i)
            let s = try gen.makeSession(classIndex: cls, options: opts)
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
        if json {
            print("{\"transformer_s\": \(transformer), \"decode_s\": \(decode), \"projection_ms\": \(projection), "
                  + "\"gflops_per_s\": \(gflops), \"transformer_gflop\": \(flops.transformer / 1e9), "
                  + "\"decoder_gflop\": \(flops.decoder / 1e9), \"peak_rss_mb\": \(rss), \"threads\": \(threadCount())}")
            return
        }
        print("model \(gen.name) (\(gen.family), \(String(format: "%.1f", Double(gen.parameterCount) / 1e6)) M params), "
              + "\(threadCount()) threads, cfg \(cfg), \(images) image(s)")
        for (k, shape) in gen.schedules[0].enumerated() {
            print(String(format: "  scale %2d %7@ %8.1f ms", k + 1, shape.description, perScale[k]))
        }
        print(String(format: "transformer %.3f s  (%.1f GFLOP, %.0f GFLOP/s)", transformer, flops.transformer / 1e9,
                     flops.transformer / 1e9 / transformer))
        print(String(format: "projection previews %.2f ms for all scales", projection))
        print(String(format: "decoder     %.3f s  (%.1f GFLOP, %.0f GFLOP/s)", decode, flops.decoder / 1e9,
                     flops.decoder / 1e9 / decode))
        print(String(format: "total       %.3f s per image, %.0f GFLOP/s; peak RSS %.0f MB", transformer + decode, gflops, rss))
    }
}

func peakRSSMegabytes() -> Double {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_maxrss) / 1024
}
