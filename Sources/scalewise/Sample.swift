import ArgumentParser
import Foundation
import ScalewiseEngine

/// Research-scale sampling: class-balanced samples for FID/IS, split over the tasks of a job array, resumable, and
/// merged into the `.npz` the ADM/VAR evaluator reads.
struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write class-balanced samples for evaluation (sharded, resumable); --merge packs them into one .npz.",
        discussion: """
            Sample g (g = 0, 1, …) is class classes[g / per-class] drawn with seed SEED + g and saved as DIR/NNNNNN.png \
            (g, six digits) with its generation record. Shard I/N (0 ≤ I < N) takes the samples with g mod N = I, so \
            shards never overlap and together make exactly one run; a shard skips the files that already exist, so \
            re-running it resumes. DIR/samples.json records the run; a shard started with other settings is refused.
            scalewise sample --merge DIR -o samples.npz writes arr_0, uint8 [N, H, W, 3] in sample order.
            """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .customLong("per-class"), help: "Samples per class.") var perClass: Int?
    @Option(help: ArgumentHelp("Classes to sample: all, or indices or names (unique prefixes) like 0,1,207 or A,b,7.", valueName: "all|list"))
    var classes = "all"
    @Option(help: ArgumentHelp("This task's share, I/N with 0 ≤ I < N (e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT).",
                               valueName: "I/N"))
    var shard = "0/1"
    @Option(parsing: .unconditional, help: "Seed of sample 0; sample g uses seed + g.") var seed = SeedFlag(0)
    @Option(parsing: .unconditional, help: "Classifier-free guidance (default: the model's).") var cfg: Float?
    @Option(name: .customLong("cfg-mode"), help: cfgModeHelp) var cfgMode: CFGMode?
    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Keep the k most likely tokens; 0 = off (default: the model's).")
    var topK: Int?
    @Option(name: .customLong("top-p"), parsing: .unconditional, help: "Nucleus sampling mass; 0 = off (default: the model's).")
    var topP: Float?
    @Option(help: "Number of steps, for models with a free schedule.") var steps: Int?
    @Option(help: ArgumentHelp("Pack the samples of this folder into the .npz named by -o.", valueName: "dir")) var merge: String?
    @Option(name: .shortAndLong, help: "The sample folder (or, with --merge, the .npz to write).") var output: String
    @Flag(help: "With --merge: overwrite the .npz.") var force = false
    @Flag(name: .shortAndLong, help: "No progress (shown only when stderr is a terminal).") var quiet = false

    func validate() throws {
        if merge != nil { return }
        guard let n = perClass, n >= 1 else { throw ValidationError("missing --per-class N (N ≥ 1)") }
        guard n <= 1_000_000 else { throw ValidationError("--per-class must be in 1…1000000") }
        _ = try parsedShard()
        // Shards must agree on every sample's seed: no random one here.
        try checkSamplingFlags(cfg: cfg, topK: topK, topP: topP, seed: seed)
        if seed.isRandom { throw ValidationError("--seed must be ≥ 0") }
    }

    func parsedShard() throws -> (index: Int, count: Int) {
        let parts = shard.split(separator: "/").map { Int($0) }
        guard parts.count == 2, let i = parts[0], let n = parts[1], n >= 1, (0..<n).contains(i) else {
            throw ValidationError("--shard must be I/N with 0 ≤ I < N (got '\(shard)')")
        }
        return (i, n)
    }

    func run() throws {
        if let dir = merge {
            try checkOutput(output, force: force)
            return try mergeSamples(dir)
        }
        try checkOutputFolder(output)  // before the model loads
        let gen = try modelOptions.load()
        let classList: [Int]
        if classes == "all" {
            classList = Array(gen.classNames.indices)
        } else {
            // Indices or names, as --class takes them elsewhere.
            classList = try classes.split(separator: ",").map { item in
                do {
                    return try gen.resolveClass(String(item))
                } catch {
                    throw EngineError.badArgument("--classes: \(error) in \(gen.name)")
                }
            }
        }
        var opts = gen.defaults
        if let c = cfg { opts.cfg = c }
        if let k = topK { opts.topK = k }
        if let p = topP { opts.topP = p }
        try applyCFGMode(cfgMode, to: &opts, gen: gen)
        var schedule = gen.defaultSchedule
        if let n = steps {
            guard let s = gen.schedules.first(where: { $0.count == n }) else {
                throw EngineError.badArgument("\(gen.name) has no \(n)-step schedule")
            }
            schedule = s
        }
        let perClass = perClass!, (shardIndex, shardCount) = try parsedShard()
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let manifest: [String: Any] = [
            "model": gen.name, "family": gen.family, "precision": gen.precision.rawValue, "classes": classList,
            "per_class": perClass, "seed": seed.resolve(quiet: true), "cfg": decimal(opts.cfg), "cfg_mode": opts.cfgMode.rawValue,
            "top_k": opts.topK, "top_p": decimal(opts.topP), "schedule": schedule.map { [$0.h, $0.w] },
        ]
        try claim(manifest: manifest)
        let total = classList.count * perClass
        let mine = stride(from: shardIndex, to: total, by: shardCount).filter {
            !FileManager.default.fileExists(atPath: Self.file(output, $0))
        }
        let progress = !quiet && isatty(STDERR_FILENO) != 0
        let t0 = Date()
        for (done, g) in mine.enumerated() {
            var o = opts
            o.seed = seed.resolve(quiet: true) &+ UInt64(g)
            let session = try gen.makeSession(classIndex: classList[g / perClass], options: o, schedule: schedule)
            while session.completed < session.scales.count { _ = try session.step() }
            let image = session.preview(after: session.completed, tier: .decoded)
            let rec = GenerationRecord(generator: gen, session: session)
            do {
                try PNG.write(image, text: [("parameters", rec.a1111), ("scalewise", rec.json)], to: Self.file(output, g))
            } catch let e as FileWriteError where e.kind == .exists {
                continue  // another task wrote the same sample meanwhile: it is the same image
            }
            if progress {
                let rate = Double(done + 1) / max(Date().timeIntervalSince(t0), 1e-3)
                FileHandle.standardError.write(Data(String(format: "\rshard %d/%d: %d/%d samples, %.2f/s", shardIndex, shardCount,
                                                           done + 1, mine.count, rate).utf8))
            }
        }
        if progress { FileHandle.standardError.write(Data("\n".utf8)) }
        print("\(output): shard \(shardIndex)/\(shardCount) wrote \(mine.count) sample(s) of \(total)")
    }

    /// A Float as the shortest decimal that reads back as it (0.95, not 0.949999988079071), for samples.json.
    private func decimal(_ v: Float) -> Double { Double(v.description) ?? Double(v) }

    static func file(_ dir: String, _ g: Int) -> String { dir + "/" + String(format: "%06d.png", g) }
    static func manifestPath(_ dir: String) -> String { dir + "/samples.json" }

    /// Writes the run's settings, or checks that the folder's are the same (every shard of a run agrees).
    private func claim(manifest: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys])
        let path = Self.manifestPath(output)
        do {
            try writeAtomically([UInt8](data), to: path, overwrite: false)
        } catch let e as FileWriteError where e.kind == .exists {
            guard let old = try? SafeOpen.readRegularFile(path, limit: 16 << 20),
                  let a = try? JSONSerialization.jsonObject(with: old) as? [String: Any] else {
                throw EngineError.badArgument("\(path) is not a sample manifest; use another folder")
            }
            func text(_ v: Any?) -> String {
                v.flatMap { try? JSONSerialization.data(withJSONObject: [$0], options: [.sortedKeys]) }
                    .map { String(decoding: $0, as: UTF8.self) } ?? "-"
            }
            // Numbers compare as the Floats they were (folders written before they were kept as short decimals).
            func same(_ x: Any?, _ y: Any?) -> Bool {
                if let x = x as? Double, let y = y as? Double { return Float(x) == Float(y) }
                return text(x) == text(y)
            }
            let diff = Set(a.keys).union(manifest.keys).sorted().filter { !same(a[$0], manifest[$0]) }
            guard diff.isEmpty else {
                throw EngineError.badArgument("\(output) holds samples of another run (\(diff.joined(separator: ", ")) differ); "
                                              + "use another folder")
            }
        }
    }

    private func mergeSamples(_ dir: String) throws {
        guard let data = try? SafeOpen.readRegularFile(Self.manifestPath(dir), limit: 16 << 20),
              let m = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let classes = m["classes"] as? [Int], let perClass = m["per_class"] as? Int else {
            throw EngineError.badArgument("\(dir) has no samples.json: not a folder written by scalewise sample")
        }
        // The manifest is read from disk: its counts are bounded before they are multiplied.
        let (total, overflow) = classes.count.multipliedReportingOverflow(by: perClass)
        guard perClass >= 1, !overflow, total <= 100_000_000 else {
            throw EngineError.badArgument("\(dir)/samples.json: \(classes.count) classes × \(perClass) per class is not a sample count")
        }
        let missing = (0..<total).filter { !FileManager.default.fileExists(atPath: Self.file(dir, $0)) }
        guard missing.isEmpty else {
            throw EngineError.badArgument("\(dir): \(missing.count) of \(total) samples missing (first: \(Self.file(dir, missing[0]))); "
                                          + "run the remaining shards")
        }
        let (first, _) = try PNG.read(Self.file(dir, 0))
        let progress = !quiet && isatty(STDERR_FILENO) != 0
        try NPZ.writeImages(count: total, width: first.width, height: first.height, to: output, overwrite: force) { g in
            if progress && g % 100 == 0 { FileHandle.standardError.write(Data("\rmerging \(g)/\(total)".utf8)) }
            return try PNG.read(Self.file(dir, g)).0
        }
        if progress { FileHandle.standardError.write(Data("\n".utf8)) }
        print("wrote \(output): arr_0 uint8 [\(total), \(first.height), \(first.width), 3]")
    }
}
