import Foundation
import ScalewiseKernels

/// Token sampling with the official `sample_with_top_k_top_p_` semantics:
/// top-k masks every logit strictly below the k-th largest (ties survive), top-p then drops the low tail
/// whose mass is at most 1 − p (never the largest), both in place; the draw uses our `Rng`.
public struct TokenSampler {
    public let vocab: Int
    /// Scratch: the surviving logits as sortable keys, their probabilities, a copy for the k-th largest.
    private var keys: [UInt64]
    private var probs: [Double]
    private var values: [Float]

    public init(vocab: Int) {
        self.vocab = vocab
        keys = [UInt64](repeating: 0, count: vocab)
        probs = [Double](repeating: 0, count: vocab)
        values = [Float](repeating: 0, count: vocab)
    }

    /// Filters `logits` in place (masked entries become −∞) and returns the drawn token.
    /// `topK == 1` is greedy: the first maximum, no random number consumed; otherwise exactly one.
    public mutating func sample(_ logits: UnsafeMutablePointer<Float>, topK: Int, topP: Float,
                                rng: inout Rng) -> Int32 {
        sample(logits, topK: topK, topP: topP, uniform: topK == 1 ? nil : rng.uniform())
    }

    /// `sample` with its random number `u` ∈ [0, 1) drawn beforehand (nil for greedy), so that the tokens of a
    /// scale can be filtered and drawn in parallel with the same result as one after another.
    public mutating func sample(_ logits: UnsafeMutablePointer<Float>, topK: Int, topP: Float, uniform u: Double?) -> Int32 {
        let V = vocab
        guard let u, topK != 1 else {
            var best = 0
            for i in 1..<V where logits[i] > logits[best] { best = i }
            for i in 0..<V where logits[i] < logits[best] { logits[i] = -.infinity }
            return Int32(best)
        }
        if topK > 0 && topK < V { maskBelowKth(logits, k: topK) }
        if topP > 0 { maskTail(logits, topP: topP) }
        return draw(logits, uniform: u)
    }

    /// τ = k-th largest; everything < τ → −∞.
    private mutating func maskBelowKth(_ logits: UnsafeMutablePointer<Float>, k: Int) {
        values.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: logits, count: vocab) }
        let tau = Self.kthLargest(&values, k: k)
        for i in 0..<vocab where logits[i] < tau { logits[i] = -.infinity }
    }

    /// A key whose unsigned order is the logit's order, ties broken by index (as a stable sort by logit).
    @inline(__always) private static func key(_ logit: Float, _ index: Int) -> UInt64 {
        let bits = (logit == 0 ? 0 : logit).bitPattern  // −0 ties with +0, as they compare
        let ordered = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return UInt64(ordered) << 32 | UInt64(index)
    }

    private mutating func maskTail(_ logits: UnsafeMutablePointer<Float>, topP: Float) {
        let V = vocab
        var n = 0
        for i in 0..<V where logits[i] > -.infinity {
            keys[n] = Self.key(logits[i], i)
            n += 1
        }
        guard n > 1 else { return }
        // Ascending by logit, as the official code sorts; the cumulative mass of the smallest is compared.
        keys.withUnsafeMutableBufferPointer { buf in
            var head = UnsafeMutableBufferPointer(rebasing: buf[0..<n])
            head.sort()
        }
        @inline(__always) func index(_ j: Int) -> Int { Int(keys[j] & 0xFFFF_FFFF) }
        let maxLogit = Double(logits[index(n - 1)])
        var total = 0.0
        for j in 0..<n {
            probs[j] = exp(Double(logits[index(j)]) - maxLogit)
            total += probs[j]
        }
        var cumulative = 0.0
        let threshold = 1.0 - Double(topP)
        for j in 0..<(n - 1) {
            cumulative += probs[j] / total
            guard cumulative <= threshold else { break }
            logits[index(j)] = -.infinity
        }
    }

    /// Multinomial draw from softmax(logits) by inverse CDF in index order (masked entries add exp(−∞) = 0).
    private func draw(_ logits: UnsafeMutablePointer<Float>, uniform: Double) -> Int32 {
        var maxLogit = -Float.infinity
        for i in 0..<vocab where logits[i] > maxLogit { maxLogit = logits[i] }
        var total = 0.0
        for i in 0..<vocab where logits[i] > -.infinity { total += exp(Double(logits[i] - maxLogit)) }
        let u = uniform * total
        var acc = 0.0
        var last = 0
        for i in 0..<vocab where logits[i] > -.infinity {
            acc += exp(Double(logits[i] - maxLogit))
            last = i
            if acc > u { return Int32(i) }
        }
        return Int32(last)
    }

    /// Quickselect for the k-th largest value (1-based k).
    static func kthLargest(_ a: inout [Float], k: Int) -> Float {
        var lo = 0, hi = a.count - 1
        let target = k - 1
        while lo < hi {
            let pivot = a[(lo + hi) / 2]
            var i = lo, j = hi
            while i <= j {
                while a[i] > pivot { i += 1 }
                while a[j] < pivot { j -= 1 }
                if i <= j { a.swapAt(i, j); i += 1; j -= 1 }
            }
            if target <= j { hi = j } else if target >= i { lo = i } else { return a[target] }
        }
        return a[target]
    }
}

/// VAR's `more_smooth` option: a Gumbel-softmax over the filtered logits gives soft token weights,
/// τ = max(0.27·(1 − 0.95·ratio), 0.005), logits scaled by (1 + ratio).
public func gumbelSoftmaxWeights(_ logits: UnsafePointer<Float>, vocab: Int, ratio: Double, rng: inout Rng,
                                 into weights: UnsafeMutablePointer<Float>) {
    let tau = max(0.27 * (1 - 0.95 * ratio), 0.005)
    var maxv = -Double.infinity
    var tmp = [Double](repeating: -.infinity, count: vocab)
    for i in 0..<vocab {
        let g = -log(-log(rng.uniformOpen()))
        let l = Double(logits[i])
        if l > -.infinity {
            tmp[i] = (l * (1 + ratio) + g) / tau
            maxv = max(maxv, tmp[i])
        }
    }
    var total = 0.0
    for i in 0..<vocab {
        let e = tmp[i] > -.infinity ? exp(tmp[i] - maxv) : 0
        tmp[i] = e
        total += e
    }
    for i in 0..<vocab { weights[i] = Float(tmp[i] / total) }
}

/// Classifier-free guidance then sampling, shared by every family: the guided logits (1+t)·cond − t·uncond
/// are written over the cond row (u + cfg·(c − u) is t = cfg − 1; one row means no guidance), optionally
/// divided by a temperature, then top-k / top-p / one draw per token. `keepLogits` copies the guided logits
/// (before temperature) for tests and analysis.
struct GuidedSampler {
    let vocab: Int
    var keepLogits = false
    private(set) var lastLogits: [Float] = []

    init(vocab: Int) { self.vocab = vocab }

    /// `logits` holds `rows` (1 or 2) blocks of `l` tokens × V; `forced` skips the draw.
    mutating func sample(_ logits: UnsafeMutablePointer<Float>, rows: Int, tokens l: Int, guidance t: Float, topK: Int,
                         topP: Float, temperature: Float? = nil, rng: inout Rng, forced: [Int32]?) -> [Int32] {
        let V = vocab
        if rows == 2 {
            for i in 0..<(l * V) { logits[i] = (1 + t) * logits[i] - t * logits[l * V + i] }
        }
        if keepLogits { lastLogits = Array(UnsafeBufferPointer(start: logits, count: l * V)) }
        if let f = forced { return f }
        if let temp = temperature, temp != 1 {
            for i in 0..<(l * V) { logits[i] /= temp }
        }
        // The random numbers in token order first, then every token on its own: the same draws as one token
        // after another, on all threads.
        let uniforms: [Double]? = topK == 1 ? nil : (0..<l).map { _ in rng.uniform() }
        var tokens = [Int32](repeating: 0, count: l)
        tokens.withUnsafeMutableBufferPointer { out in
            let dst = out.baseAddress!
            parallelRanges(l, grain: 4) { range in
                var s = TokenSampler(vocab: V)
                for p in range { dst[p] = s.sample(logits + p * V, topK: topK, topP: topP, uniform: uniforms?[p]) }
            }
        }
        return tokens
    }
}
