import Foundation
import ScalewiseKernels

/// Incremental FlexVAR generation over any schedule. After step k the session holds the KV cache of steps
/// 0…k and step k's code map — all the next step reads. Every step's codes are kept, so stepping back is
/// free and any completed step decodes on its own (the scalable tokenizer), a real preview at every size.
public final class FlexVARSession: GenerationSession, @unchecked Sendable {
    public let model: FlexVAR
    public let classIndex: Int
    public let options: SamplingOptions
    public let scales: [ScaleShape]
    public private(set) var scaleSeeds: [UInt64]
    public private(set) var results: [ScaleResult] = []
    public var completed: Int { results.count }
    /// Teacher-forced tokens per step with a keep-mask (in/out-painting): where the mask is true the
    /// forced token replaces the sampled one.
    public var constraints: [Int: (tokens: [Int32], keep: [Bool])] = [:]

    private let run: TrunkRun
    private let offsets: [Int]
    private var codes: [Tensor] = []

    public init(model: FlexVAR, classIndex: Int, options: SamplingOptions, schedule: [ScaleShape]) throws {
        guard (0..<model.config.num_classes).contains(classIndex) else {
            throw EngineError.badArgument("class \(classIndex) is out of range 0…\(model.config.num_classes - 1)")
        }
        try ScheduleRules.check(schedule, trainedSide: model.config.patch_nums.last ?? 1, model: "FlexVAR")
        guard let first = schedule.first, first.h == 1 && first.w == 1 else {
            throw EngineError.badArgument("a FlexVAR schedule starts at 1×1")
        }
        for (a, b) in zip(schedule, schedule.dropFirst()) where b.h < a.h || b.w < a.w || b.count <= a.count {
            throw EngineError.badArgument("schedule sizes must grow: \(a) then \(b)")
        }
        self.model = model
        self.classIndex = classIndex
        self.options = options
        scales = schedule
        scaleSeeds = [UInt64](repeating: options.seed, count: schedule.count)
        offsets = schedule.reduce(into: [0]) { $0.append($0.last! + $1.count) }
        let labels = options.cfg == 0 && !options.constantCFG ? [classIndex] : [classIndex, model.nullClass]
        try MemoryBudget.checkTrunkRun(model.trunk, rows: labels.count, capacity: offsets.last!,
                                       maxTokens: schedule.map(\.count).max()!, what: "this schedule")
        run = TrunkRun(trunk: model.trunk, labels: labels, capacity: offsets.last!,
                       maxTokens: schedule.map(\.count).max()!)
    }

    public var keepLogits: Bool {
        get { run.keepLogits }
        set { run.keepLogits = newValue }
    }
    public var lastLogits: [Float] { run.lastLogits }

    public func step() throws -> ScaleResult { try step(forcing: nil) }

    public func step(forcing forced: [Int32]?) throws -> ScaleResult {
        let si = completed
        guard si < scales.count else { throw EngineError.badArgument("all \(scales.count) steps are done") }
        let start = DispatchTime.now().uptimeNanoseconds
        let shape = scales[si], l = shape.count, V = model.config.vocab_size
        if let f = forced, f.count != l || !f.allSatisfy({ (0..<Int32(V)).contains($0) }) {
            throw EngineError.badArgument("forced tokens for step \(si) must be \(l) ids in 0..<\(V)")
        }
        let pos = model.positions(shape)
        if si == 0 {
            for r in 0..<run.rows {
                model.trunk.firstInput(label: r == 0 ? classIndex : model.nullClass, pos: pos.ptr, into: run.x.ptr + r * model.C)
            }
        } else {
            let prev = codes[si - 1]
            let up = Tensor(shape: [model.config.Cvae, shape.h, shape.w])
            bicubicResize(prev, to: up)
            model.trunk.embed(map: up, pos: pos.ptr, into: run.x.ptr)
            run.broadcastInput(tokens: l)
        }
        run.forward(tokens: l, offset: offsets[si], scope: .cached)
        let t = model.guidance(cfg: options.cfg, step: si, of: scales.count, shape: shape, constant: options.constantCFG)
        var rng = Rng(seed: scaleSeeds[si], stream: UInt64(si))
        let topK = model.isGreedy(shape) ? 1 : options.topK
        var tokens = run.sample(tokens: l, guidance: run.rows == 2 ? t : 0, topK: topK, topP: options.topP,
                                temperature: options.temperature, rng: &rng, forced: forced)
        if let c = constraints[si], c.tokens.count == l {
            for p in 0..<l where c.keep[p] { tokens[p] = c.tokens[p] }
        }
        codes.append(model.tokenizer.embed(tokens, h: shape.h, w: shape.w))
        let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        let result = ScaleResult(index: si, shape: shape, tokens: tokens, guidance: run.rows == 2 ? t : 0, milliseconds: ms)
        results.append(result)
        return result
    }

    public func rewind(to k: Int) {
        let k = max(0, min(k, completed))
        results.removeLast(completed - k)
        codes.removeLast(codes.count - k)
    }

    public func overrideSeed(scale k: Int, seed: UInt64) { scaleSeeds[k] = seed }

    public func reroll(from k: Int, seed: UInt64) {
        rewind(to: k)
        for i in k..<scaleSeeds.count { scaleSeeds[i] = seed }
    }

    /// The codes of step k−1 decoded on their own (k completed steps); blank before the first step.
    public func preview(after k: Int, tier: PreviewTier) -> RGBImage {
        let k = max(0, min(k, completed))
        guard k > 0 else {
            let d = model.tokenizer.downsample
            return RGBImage(width: d, height: d)
        }
        switch tier {
        case .projection: return model.tokenizer.projectPreview(codes[k - 1])
        case .decoded: return imageFromUnit(model.tokenizer.decode(codes: codes[k - 1]))
        }
    }
}
