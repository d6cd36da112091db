import Foundation
import ScalewiseKernels

/// Incremental FlexVAR generation over any schedule. After step k the session holds the KV cache of steps
/// 0…k and step k's code map — all the next step reads. Every step's codes are kept, so stepping back is
/// free and any completed step decodes on its own (the scalable tokenizer), a real preview at every size.
public final class FlexVARSession: SessionCore {
    public let model: FlexVAR
    /// Teacher-forced tokens per step with a keep-mask (in/out-painting): where the mask is true the
    /// forced token replaces the sampled one.
    public var constraints: [Int: (tokens: [Int32], keep: [Bool])] = [:]

    private let run: TrunkRun
    private let offsets: [Int]
    private var codes: [Tensor] = []

    public init(model: FlexVAR, classIndex: Int, options: SamplingOptions, schedule: [ScaleShape]) throws {
        let classIndex = try Self.checked(class: classIndex, of: model.config.num_classes)
        try ScheduleRules.check(schedule, trainedSide: model.config.patch_nums.last ?? 1, model: "FlexVAR")
        guard let first = schedule.first, first.h == 1 && first.w == 1 else {
            throw EngineError.badArgument("a FlexVAR schedule starts at 1×1")
        }
        for (a, b) in zip(schedule, schedule.dropFirst()) where b.h < a.h || b.w < a.w || b.count <= a.count {
            throw EngineError.badArgument("schedule sizes must grow: \(a) then \(b)")
        }
        self.model = model
        offsets = schedule.reduce(into: [0]) { $0.append($0.last! + $1.count) }
        let labels = options.cfg == 0 && !options.constantCFG ? [classIndex] : [classIndex, model.nullClass]
        try MemoryBudget.checkTrunkRun(model.trunk, rows: labels.count, capacity: offsets.last!,
                                       maxTokens: schedule.map(\.count).max()!, what: "this schedule")
        run = TrunkRun(trunk: model.trunk, labels: labels, capacity: offsets.last!,
                       maxTokens: schedule.map(\.count).max()!)
        super.init(classIndex: classIndex, options: options, scales: schedule, vocab: model.config.vocab_size, unit: "step")
    }

    public override var keepLogits: Bool {
        get { run.keepLogits }
        set { run.keepLogits = newValue }
    }
    public override var lastLogits: [Float] { run.lastLogits }

    /// Step si: its input (the class token, or the previous step's codes resized bicubically to this size, with
    /// the position map resized likewise), the blocks over the KV cache, the guided draw (greedy above
    /// `max_pn`), the constrained tokens, and this step's code map.
    override func advance(step si: Int, forcing forced: [Int32]?, rng: inout Rng) -> (tokens: [Int32], guidance: Float) {
        let shape = scales[si], l = shape.count
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
        let topK = model.isGreedy(shape) ? 1 : options.topK
        var tokens = run.sample(tokens: l, guidance: run.rows == 2 ? t : 0, topK: topK, topP: options.topP,
                                temperature: options.temperature, rng: &rng, forced: forced)
        if let c = constraints[si], c.tokens.count == l {
            for p in 0..<l where c.keep[p] { tokens[p] = c.tokens[p] }
        }
        codes.append(model.tokenizer.embed(tokens, h: shape.h, w: shape.w))
        return (tokens, run.rows == 2 ? (options.constantCFG ? options.cfg : t) : 0)
    }

    override func truncate(to k: Int) { codes.removeLast(codes.count - k) }

    /// The codes of step k−1 decoded on their own (k completed steps); blank before the first step.
    public override func preview(after k: Int, tier: PreviewTier) -> RGBImage {
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
