import Foundation
import ScalewiseEngine

/// What the heat map over the picture shows: where the shown scale changed the picture, or how sure the model
/// was of each token it chose there. `d` cycles through them.
enum DecisionView: String, CaseIterable {
    case off
    /// How much each latent cell's colour moved at the shown scale, against the scale before.
    case changed
    /// The chosen token's probability under the guided logits (before temperature, top-k and top-p).
    case probability
    /// The entropy of each token's guided distribution, against its largest possible value ln V.
    case entropy

    var label: String {
        switch self {
        case .off: "picture"
        case .changed: "changed cells"
        case .probability: "p(chosen token)"
        case .entropy: "token entropy"
        }
    }
}

/// Per-token statistics of one step's guided distribution, on the step's token grid (row-major, h×w).
struct TokenStats: Sendable {
    var shape: ScaleShape
    var vocab: Int
    var probability: [Float]
    /// Nats.
    var entropy: [Float]

    var meanProbability: Float { probability.reduce(0, +) / Float(max(1, probability.count)) }
    var meanEntropy: Float { entropy.reduce(0, +) / Float(max(1, entropy.count)) }

    /// From a step's guided logits ([tokens, V]) and the tokens it chose; nil when the session kept no logits.
    static func compute(logits: [Float], tokens: [Int32], shape: ScaleShape) -> TokenStats? {
        let n = tokens.count
        guard n > 0, n == shape.count, logits.count >= n, logits.count % n == 0 else { return nil }
        let V = logits.count / n
        var prob = [Float](repeating: 0, count: n), ent = [Float](repeating: 0, count: n)
        logits.withUnsafeBufferPointer { l in
            for i in 0..<n {
                let row = l.baseAddress! + i * V
                var m = -Float.infinity
                for j in 0..<V where row[j] > m { m = row[j] }
                guard m.isFinite else { continue }
                // Softmax in double: H = ln Z − Σ p·(x − m), p = e^(x − m) / Z.
                var z = 0.0, s = 0.0
                for j in 0..<V {
                    let d = Double(row[j] - m)
                    let e = exp(d)
                    z += e
                    s += e * d
                }
                let t = Int(tokens[i])
                prob[i] = t >= 0 && t < V ? Float(exp(Double(row[t] - m)) / z) : 0
                ent[i] = Float(log(z) - s / z)
            }
        }
        return TokenStats(shape: shape, vocab: V, probability: prob, entropy: ent)
    }
}

enum HeatMap {
    /// A dark-to-bright ramp (black, purple, red, orange, pale yellow) for v in 0…1: the brighter, the more.
    static let stops: [(Float, Float, Float)] = [(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164)]

    static func colour(_ v: Float) -> (Float, Float, Float) {
        let x = max(0, min(1, v.isFinite ? v : 0)) * Float(stops.count - 1)
        let i = min(stops.count - 2, Int(x)), f = x - Float(i)
        let a = stops[i], b = stops[i + 1]
        return (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f, a.2 + (b.2 - a.2) * f)
    }

    /// `values` (0…1 on a `gw`×`gh` grid) coloured with the ramp and laid over a dimmed grey copy of `base`, at
    /// `base`'s size (each grid cell a block of pixels).
    static func blend(base: RGBImage, values: [Float], gw: Int, gh: Int) -> RGBImage {
        var out = RGBImage(width: base.width, height: base.height)
        guard gw > 0, gh > 0, values.count == gw * gh else { return base }
        for y in 0..<base.height {
            let gy = min(gh - 1, y * gh / max(1, base.height))
            for x in 0..<base.width {
                let gx = min(gw - 1, x * gw / max(1, base.width))
                let o = (y * base.width + x) * 3
                let grey = (0.299 * Float(base.pixels[o]) + 0.587 * Float(base.pixels[o + 1]) + 0.114 * Float(base.pixels[o + 2]))
                let (r, g, b) = colour(values[gy * gw + gx])
                out.pixels[o] = UInt8(max(0, min(255, (0.7 * r + 0.3 * grey).rounded())))
                out.pixels[o + 1] = UInt8(max(0, min(255, (0.7 * g + 0.3 * grey).rounded())))
                out.pixels[o + 2] = UInt8(max(0, min(255, (0.7 * b + 0.3 * grey).rounded())))
            }
        }
        return out
    }

    /// How far each pixel of `current` moved from `previous` (largest channel difference, 0…255), with `previous`
    /// sampled at `current`'s size; nil `previous` (the first scale: everything is new) counts as 255 everywhere.
    static func change(from previous: RGBImage?, to current: RGBImage) -> [Float] {
        let w = current.width, h = current.height
        guard let p = previous, p.width > 0, p.height > 0 else { return [Float](repeating: 255, count: w * h) }
        var out = [Float](repeating: 0, count: w * h)
        for y in 0..<h {
            let py = min(p.height - 1, y * p.height / max(1, h))
            for x in 0..<w {
                let px = min(p.width - 1, x * p.width / max(1, w))
                let a = (y * w + x) * 3, b = (py * p.width + px) * 3
                var d: Int32 = 0
                for c in 0..<3 { d = max(d, abs(Int32(current.pixels[a + c]) - Int32(p.pixels[b + c]))) }
                out[y * w + x] = Float(d)
            }
        }
        return out
    }
}

extension App {
    /// The picture to draw for lane `l`'s scale `k` (0-based) in the active view, and a key naming it.
    func picture(_ l: Int, _ k: Int) -> (image: RGBImage, key: String) {
        let f = lanes[l].frames[k], base = f.decoded ?? f.projection
        let key = "\(l):\(epoch):\(k)"
        guard decision != .off else { return (base, key) }
        let hk = key + ":" + decision.rawValue
        if let img = heatCache[hk] { return (img, hk) }
        let img: RGBImage
        switch decision {
        case .off: return (base, key)
        case .changed:
            let d = HeatMap.change(from: k > 0 ? lanes[l].frames[k - 1].projection : nil, to: f.projection)
            let top = max(1, d.max() ?? 1)
            img = HeatMap.blend(base: base, values: d.map { $0 / top }, gw: f.projection.width, gh: f.projection.height)
        case .probability, .entropy:
            guard let s = f.stats else { return (base, key) }
            let v = decision == .probability ? s.probability : s.entropy.map { $0 / Float(Foundation.log(Double(max(2, s.vocab)))) }
            img = HeatMap.blend(base: base, values: v, gw: s.shape.w, gh: s.shape.h)
        }
        if heatCache.count > 512 { heatCache.removeAll() }
        heatCache[hk] = img
        return (img, hk)
    }

    /// The numbers behind the heat map of lane `l`'s scale `k`, for its label: separate fields, which a narrow label
    /// drops whole (the last first).
    func decisionSummary(_ l: Int, _ k: Int) -> [String] {
        let f = lanes[l].frames[k]
        switch decision {
        case .off: return []
        case .changed:
            guard k > 0 else { return ["all new"] }
            let d = HeatMap.change(from: lanes[l].frames[k - 1].projection, to: f.projection)
            return [String(format: "change mean %.1f", d.reduce(0, +) / Float(max(1, d.count))), String(format: "max %.0f", d.max() ?? 0)]
        case .probability:
            guard let s = f.stats else { return ["no logits"] }
            return [String(format: "p mean %.3f", s.meanProbability)]
        case .entropy:
            guard let s = f.stats else { return ["no logits"] }
            return [String(format: "H mean %.3f nats", s.meanEntropy)]
        }
    }

    func cycleDecision() {
        let all = DecisionView.allCases
        decision = all[(all.firstIndex(of: decision)! + 1) % all.count]
        cellCache = [:]
        // The status line names an active view itself; the message only says what it cannot.
        message = decision == .off ? "view: \(decision.label)" : ""
        if decision == .probability || decision == .entropy, let f = lanes[0].frames.first, f.stats == nil {
            message = "\(lanes[0].generator.family) keeps no logits"
        }
    }
}
