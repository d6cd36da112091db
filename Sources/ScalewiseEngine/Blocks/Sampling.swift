import Foundation

/// Token sampling with the official `sample_with_top_k_top_p_` semantics:
/// top-k masks every logit strictly below the k-th largest (ties survive), top-p then drops the low tail
/// whose mass is at most 1 − p (never the largest), both in place; the draw uses our `Rng`.
public struct TokenSampler {
    public let vocab: Int
    private var order: [Int32]
    private var probs: [Double]

    public init(vocab: Int) {
        self.vocab = vocab
        order = [Int32](repeating: 0, count: vocab)
        probs = [Double](repeating: 0, count: vocab)
    }

    /// Filters `logits` in place (masked entries become −∞) and returns the drawn token.
    /// `topK == 1` is greedy: the first maximum, no random number consumed.
    public mutating func sample(_ logits: UnsafeMutablePointer<Float>, topK: Int, topP: Float,
                                rng: inout Rng) -> Int32 {
        let V = vocab
        if topK == 1 {
            var best = 0
            for i in 1..<V where logits[i] > logits[best] { best = i }
            for i in 0..<V where logits[i] < logits[best] { logits[i] = -.infinity }
            return Int32(best)
        }
        if topK > 0 && topK < V { maskBelowKth(logits, k: topK) }
        if topP > 0 { maskTail(logits, topP: topP) }
        return draw(logits, rng: &rng)
    }

    /// τ = k-th largest; everything < τ → −∞.
    private mutating func maskBelowKth(_ logits: UnsafeMutablePointer<Float>, k: Int) {
        var tmp = [Float](UnsafeBufferPointer(start: logits, count: vocab))
        let tau = Self.kthLargest(&tmp, k: k)
        for i in 0..<vocab where logits[i] < tau { logits[i] = -.infinity }
    }

    private mutating func maskTail(_ logits: UnsafeMutablePointer<Float>, topP: Float) {
        let V = vocab
        var n = 0
        for i in 0..<V where logits[i] > -.infinity {
            order[n] = Int32(i)
            n += 1
        }
        guard n > 1 else { return }
        // Ascending by logit, as the official code sorts; the cumulative mass of the smallest is compared.
        order.withUnsafeMutableBufferPointer { buf in
            var slice = UnsafeMutableBufferPointer(rebasing: buf[0..<n])
            slice.sort { logits[Int($0)] < logits[Int($1)] }
        }
        let maxLogit = Double(logits[Int(order[n - 1])])
        var total = 0.0
        for j in 0..<n {
            probs[j] = exp(Double(logits[Int(order[j])]) - maxLogit)
            total += probs[j]
        }
        var cumulative = 0.0
        let threshold = 1.0 - Double(topP)
        var remove: [Int32] = []
        for j in 0..<(n - 1) {
            cumulative += probs[j] / total
            if cumulative <= threshold { remove.append(order[j]) } else { break }
        }
        for i in remove { logits[Int(i)] = -.infinity }
    }

    /// Multinomial draw from softmax(logits) by inverse CDF in index order.
    private func draw(_ logits: UnsafeMutablePointer<Float>, rng: inout Rng) -> Int32 {
        var maxLogit = -Float.infinity
        for i in 0..<vocab where logits[i] > maxLogit { maxLogit = logits[i] }
        var total = 0.0
        for i in 0..<vocab { total += exp(Double(logits[i] - maxLogit)) }
        let u = rng.uniform() * total
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
    private var sampler: TokenSampler
    var keepLogits = false
    private(set) var lastLogits: [Float] = []

    init(vocab: Int) { sampler = TokenSampler(vocab: vocab) }

    /// `logits` holds `rows` (1 or 2) blocks of `l` tokens × V; `forced` skips the draw.
    mutating func sample(_ logits: UnsafeMutablePointer<Float>, rows: Int, tokens l: Int, guidance t: Float, topK: Int,
                         topP: Float, temperature: Float? = nil, rng: inout Rng, forced: [Int32]?) -> [Int32] {
        let V = sampler.vocab
        if rows == 2 {
            for i in 0..<(l * V) { logits[i] = (1 + t) * logits[i] - t * logits[l * V + i] }
        }
        if keepLogits { lastLogits = Array(UnsafeBufferPointer(start: logits, count: l * V)) }
        if let f = forced { return f }
        if let temp = temperature, temp != 1 {
            for i in 0..<(l * V) { logits[i] /= temp }
        }
        return (0..<l).map { p in sampler.sample(logits + p * V, topK: topK, topP: topP, rng: &rng) }
    }
}
