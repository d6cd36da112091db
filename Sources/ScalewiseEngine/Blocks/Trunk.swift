import Foundation
import Synchronization
import ScalewiseKernels

/// The class-conditional AdaLN transformer that VAR, FlexVAR and MVAR checkpoints share (same keys):
/// class embedding (last row = null class), `pos_start`, `word_embed`, the blocks and the AdaLN head.
/// Positions and the inference procedure are each family's own.
final class VARTrunk: Sendable {
    let C: Int, vocab: Int, Cvae: Int, numClasses: Int
    let classEmb: Tensor  // [classes + 1, C]
    let posStart: Tensor  // [1, 1, C]
    let wordEmbed: Linear  // [C, Cvae]
    let blocks: [AdaLNBlock]
    let head: Head
    /// Buffers of finished runs, reused by the next one.
    let spareBuffers = SpareBuffers()

    init(_ w: WeightSource, depth: Int, C: Int, heads: Int, mlpRatio: Double, eps: Float, numClasses: Int,
         vocab: Int, Cvae: Int) throws {
        self.C = C
        self.vocab = vocab
        self.Cvae = Cvae
        self.numClasses = numClasses
        classEmb = try param(w, "class_emb.weight", [numClasses + 1, C])
        posStart = try param(w, "pos_start", [1, 1, C])
        wordEmbed = try Linear(w, "word_embed", cin: Cvae, cout: C)
        blocks = try (0..<depth).map {
            try AdaLNBlock(w, "blocks.\($0)", C: C, heads: heads, mlpRatio: mlpRatio, eps: eps)
        }
        head = try Head(w, C: C, vocab: vocab, eps: eps)
    }

    /// The threads our loops run on: OpenMP's next to oneDNN (bf16, int8), Dispatch's next to OpenBLAS (fp32).
    var pool: LoopPool { head.head.weight.precision == .fp32 ? .dispatch : .openmp }

    /// class_emb[label] + pos_start + `pos` (one token).
    func firstInput(label: Int, pos: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>) {
        let e = classEmb.ptr + label * C
        for c in 0..<C { x[c] = e[c] + posStart.ptr[c] + pos[c] }
    }

    /// word_embed(map) + pos, for a latent map [Cvae, h, w] → tokens [h·w, C].
    func embed(map: Tensor, pos: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>) {
        let n = map.shape[1] * map.shape[2]
        let tokens = Tensor(shape: [n, Cvae])
        transpose(map.ptr, rows: Cvae, cols: n, into: tokens.ptr)
        wordEmbed(tokens.ptr, rows: n, into: x)
        for i in 0..<(n * C) { x[i] += pos[i] }
    }
}

/// A run's activations and KV caches. Every element is written before it is read (the caches up to their
/// length), so a finished run's buffers serve the next run of the same shape as they are.
final class RunBuffers {
    struct Shape: Hashable { let rows: Int, capacity: Int, maxTokens: Int }
    let shape: Shape
    let x: Tensor, logits: Tensor, h: Tensor, qkv: Tensor, o: Tensor, hidden: Tensor
    let caches: [KVCache]

    init(_ shape: Shape, _ trunk: VARTrunk) {
        self.shape = shape
        let C = trunk.C, n = shape.rows * shape.maxTokens, hiddenDim = trunk.blocks.first?.fc1.cout ?? 4 * C
        let fresh = Scratch()  // not zeroed: pages are touched when first written
        (x, logits, h) = (fresh.map([n, C]), fresh.map([n, trunk.vocab]), fresh.map([n, C]))
        (qkv, o, hidden) = (fresh.map([n, 3 * C]), fresh.map([n, C]), fresh.map([n, hiddenDim]))
        caches = trunk.blocks.map {
            KVCache(rows: shape.rows, capacity: shape.capacity, C: C, heads: $0.attn.heads, bf16: trunk.pool == .openmp)
        }
    }
}

/// The buffers of finished runs, kept by their trunk for the next run: allocating a 256-px VAR-d16 run's
/// ~110 MB anew cost ~40k page faults before its first scale.
///
/// `@unchecked Sendable`: buffers move in and out under the lock, one run owning each at a time.
final class SpareBuffers: @unchecked Sendable {
    private let spare = Mutex<[RunBuffers]>([])
    /// Kept at most (a side-by-side comparison runs two at once).
    private let limit = 2

    func take(_ shape: RunBuffers.Shape, _ trunk: VARTrunk) -> RunBuffers {
        let found = spare.withLock { list -> UncheckedBox<RunBuffers?> in
            guard let i = list.firstIndex(where: { $0.shape == shape }) else { return UncheckedBox(nil) }
            return UncheckedBox(list.remove(at: i))
        }
        return found.value ?? RunBuffers(shape, trunk)
    }

    func giveBack(_ b: RunBuffers) {
        let box = UncheckedBox(b)
        spare.withLock { list in
            list.append(box.value)
            if list.count > limit { list.removeFirst() }
        }
    }
}

/// Carries a non-Sendable value across the lock's closure boundary (the lock itself serialises access).
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// How the tokens of the current scale see each other and the past.
enum AttentionScope {
    /// All earlier scales through the KV cache plus the current scale (VAR, FlexVAR).
    case cached
    /// The current scale only, dense (MVAR below its refine step).
    case local
    /// The current scale only, each query seeing a kernel×kernel window of its h×w grid (MVAR's
    /// spatial-Markov attention at the last scales).
    case neighborhood(h: Int, w: Int, kernel: Int)
}

/// One image's run through a trunk: the conditioning rows ([class; null] with guidance), AdaLN
/// modulations computed once, the pre-allocated KV caches (or, for M-VAR, every block's Mamba state with a
/// snapshot per scale) and reusable activations.
final class TrunkRun {
    let trunk: VARTrunk
    let rows: Int
    let blockMods: [Tensor], headMod: Tensor
    private let buffers: RunBuffers
    var caches: [KVCache] { buffers.caches }
    let recurrent: RecurrentStates?
    var x: Tensor { buffers.x }
    var logits: Tensor { buffers.logits }
    private var h: Tensor { buffers.h }
    private var qkv: Tensor { buffers.qkv }
    private var o: Tensor { buffers.o }
    private var hidden: Tensor { buffers.hidden }
    private let mambaWork = Mamba2Workspace()
    private let attentionScratch = Scratch()
    private var sampler: GuidedSampler
    var keepLogits: Bool {
        get { sampler.keepLogits }
        set { sampler.keepLogits = newValue }
    }
    var lastLogits: [Float] { sampler.lastLogits }

    /// `labels`: the conditioning rows; `capacity`: total tokens of the schedule (KV cache size);
    /// `maxTokens`: the largest scale.
    init(trunk: VARTrunk, labels: [Int], capacity: Int, maxTokens: Int) {
        self.trunk = trunk
        rows = labels.count
        let C = trunk.C
        let cond = Tensor(shape: [rows, C])
        for (r, label) in labels.enumerated() { (cond.ptr + r * C).update(from: trunk.classEmb.ptr + label * C, count: C) }
        let condSiLU = siluCopy(cond)
        blockMods = trunk.blocks.map { $0.modulation(condSiLU) }
        headMod = trunk.head.modulation(condSiLU)
        buffers = trunk.spareBuffers.take(RunBuffers.Shape(rows: rows, capacity: capacity, maxTokens: maxTokens), trunk)
        let mambas = trunk.blocks.compactMap { $0.mamba?.config }
        recurrent = mambas.isEmpty ? nil : RecurrentStates(layers: mambas, rows: rows)
        sampler = GuidedSampler(vocab: trunk.vocab)
    }

    deinit { trunk.spareBuffers.giveBack(buffers) }

    /// Copies row 0 of `x` ([l, C]) to every other row: all rows read the same tokens.
    func broadcastInput(tokens l: Int) {
        let C = trunk.C
        for r in 1..<max(rows, 1) { (x.ptr + r * l * C).update(from: x.ptr, count: l * C) }
    }

    /// Runs the blocks and the head on `x` ([rows·l, C]) whose tokens start at position `offset` of the
    /// sequence; fills `logits` [rows·l, V]. Mamba blocks continue from their state after `offset` tokens.
    func forward(tokens l: Int, offset: Int, scope: AttentionScope) {
        Threads.$pool.withValue(trunk.pool) { forwardOnPool(tokens: l, offset: offset, scope: scope) }
    }

    private func forwardOnPool(tokens l: Int, offset: Int, scope: AttentionScope) {
        let states = recurrent?.resume(at: offset)
        for (b, block) in trunk.blocks.enumerated() {
            let cache = caches[b], a = block.attn
            if case .cached = scope { cache.length = offset } else { cache.length = 0 }
            block.forward(x, rows: rows, tokens: l, mod: blockMods[b], h: h, qkv: qkv, o: o, hidden: hidden,
                          recurrent: states.map { ($0[b], mambaWork) }) { qkv, o in
                if case .neighborhood(let gh, let gw, let k) = scope {
                    for r in 0..<rows {
                        neighborhoodAttention(qkv: qkv + r * l * 3 * trunk.C, h: gh, w: gw, kernel: k, heads: a.heads,
                                              headDim: a.headDim, scale: a.scale, vectorised: trunk.pool == .openmp,
                                              out: o + r * l * trunk.C)
                    }
                    return
                }
                cache.append(qkv: qkv, tokens: l)
                cache.attend(qkv: qkv, tokens: l, heads: a.heads, headDim: a.headDim, scale: a.scale, out: o,
                             scratch: attentionScratch)
            }
        }
        if let states { recurrent?.commit(states, at: offset + l) }
        trunk.head.logits(x, rows: rows, tokens: l, mod: headMod, scratch: h, into: logits)
    }

    /// Guided logits and a draw per token (`GuidedSampler`); `forced` skips the draw.
    func sample(tokens l: Int, guidance t: Float, topK: Int, topP: Float, temperature: Float? = nil, rng: inout Rng,
                forced: [Int32]?) -> [Int32] {
        Threads.$pool.withValue(trunk.pool) {
            sampler.sample(logits.ptr, rows: rows, tokens: l, guidance: t, topK: topK, topP: topP, temperature: temperature,
                           rng: &rng, forced: forced)
        }
    }
}
