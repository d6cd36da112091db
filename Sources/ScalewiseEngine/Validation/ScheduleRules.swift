import Foundation

/// Limits on schedules (the token-map sizes of the steps), from flags, records or a model's config.
public enum ScheduleRules {
    /// No side of any step beyond this, whatever the model (a 4096-px image at 16× downsampling).
    public static let maxSide = 256
    public static let maxSteps = 64
    /// How far past its training size a model with a free schedule (FlexVAR) may be asked to go.
    public static let extrapolation = 4
    /// Sides beyond this many times the largest step a model has learned need `--allow-large` (each step's
    /// attention grows with the square of its token count, and a model has not learned sizes far beyond its own).
    public static let largeFactor = 2

    /// Sizes alone: 1…maxSide per side, 1…maxSteps steps; never computes h·w before the sides are bounded.
    public static func checkSizes(_ schedule: [ScaleShape], from source: String) throws {
        guard (1...maxSteps).contains(schedule.count) else {
            throw InputError("\(source): a schedule of \(schedule.count) steps (1…\(maxSteps) allowed)")
        }
        for s in schedule where !(1...maxSide).contains(s.h) || !(1...maxSide).contains(s.w) {
            throw InputError("\(source): step size \(s.h)×\(s.w) is outside 1…\(maxSide) per side")
        }
    }

    /// A schedule for a model with a free schedule whose training schedule ends at `trainedSide`: sizes, and
    /// no side beyond `extrapolation` × the training size.
    public static func check(_ schedule: [ScaleShape], trainedSide: Int, model: String) throws {
        try checkSizes(schedule, from: model)
        let limit = min(maxSide, extrapolation * max(trainedSide, 1))
        for s in schedule where s.h > limit || s.w > limit {
            throw InputError("\(model): step size \(s.h)×\(s.w) is beyond this model's limit of \(limit) per side "
                             + "(\(extrapolation)× its training size \(trainedSide))")
        }
    }
}

/// Memory a generation would need, computed with overflow checks before anything is allocated, against
/// what the machine has.
public enum MemoryBudget {
    /// Physical memory in bytes (Int.max when unknown).
    public static var physicalBytes: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0, let b = Checked.mul(pages, size) else { return Int.max }
        return b
    }

    /// Σ terms (element counts, each × 4 bytes for fp32), nil on overflow.
    static func bytes(_ terms: [[Int]]) -> Int? {
        var total = 0
        for t in terms {
            guard let n = Checked.numel(t), let b = Checked.mul(n, 4), let s = Checked.add(total, b) else { return nil }
            total = s
        }
        return total
    }

    /// Throws when `terms` (products of sizes, in fp32 elements) exceed the machine's memory.
    static func check(_ terms: [[Int]], what: String) throws {
        let limit = physicalBytes
        guard let b = bytes(terms), b <= limit else {
            let need = bytes(terms).map { String(format: "%.1f GiB", Double($0) / 1073741824) } ?? "more than 2^63 bytes"
            throw InputError("\(what) would need \(need) of working memory; this machine has "
                             + String(format: "%.1f GiB", Double(limit) / 1073741824))
        }
    }
}

extension MemoryBudget {
    /// What a `TrunkRun` allocates (activations, logits, KV caches, attention scores) for `rows` conditioning
    /// rows over a schedule of `capacity` tokens whose largest step has `maxTokens`.
    static func checkTrunkRun(_ trunk: VARTrunk, rows: Int, capacity: Int, maxTokens: Int, what: String) throws {
        let C = trunk.C, hidden = trunk.blocks.first?.fc1.cout ?? 4 * C
        try check([[rows, maxTokens, C, 6], [rows, maxTokens, hidden], [rows, maxTokens, trunk.vocab],
                   [trunk.blocks.count, 2, rows, capacity, C], [rows, maxTokens, capacity]], what: what)
    }
}
