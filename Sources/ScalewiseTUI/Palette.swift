import Foundation

// Colour modes and perceptual nearest-colour mapping for indexed terminals.

/// A 24-bit colour packed as 0xRRGGBB (ncurses direct-colour numbers use the same packing).
public typealias RGB = UInt32

@inline(__always) func rgb(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> RGB { RGB(r) << 16 | RGB(g) << 8 | RGB(b) }
@inline(__always) func channels(_ c: RGB) -> (Int, Int, Int) { (Int(c >> 16 & 0xFF), Int(c >> 8 & 0xFF), Int(c & 0xFF)) }

/// How many colours the canvas may use; the status bar names the active one.
public enum ColorMode: String, CaseIterable, Sendable {
    case truecolor, c256 = "256", c16 = "16", c8 = "8", mono

    public var label: String {
        switch self {
        case .truecolor: "truecolor"
        case .c256: "256 colours"
        case .c16: "16 colours"
        case .c8: "8 colours"
        case .mono: "mono"
        }
    }
}

/// xterm's palette: 16 system colours, the 6×6×6 cube (16…231) and the grey ramp (232…255).
enum XtermPalette {
    static let system: [RGB] = [
        0x000000, 0xCD0000, 0x00CD00, 0xCDCD00, 0x0000EE, 0xCD00CD, 0x00CDCD, 0xE5E5E5,
        0x7F7F7F, 0xFF0000, 0x00FF00, 0xFFFF00, 0x5C5CFF, 0xFF00FF, 0x00FFFF, 0xFFFFFF,
    ]
    static let cubeLevels: [UInt8] = [0, 95, 135, 175, 215, 255]

    static let all: [RGB] = {
        var p = system
        for r in cubeLevels { for g in cubeLevels { for b in cubeLevels { p.append(rgb(r, g, b)) } } }
        for i in 0..<24 { let v = UInt8(8 + 10 * i); p.append(rgb(v, v, v)) }
        return p
    }()
}

/// OKLab (Björn Ottosson, 2020): Euclidean distance here tracks perceived difference far better than
/// in RGB, which is what chafa's DIN99d mode buys in 240-colour mode.
struct OKLab {
    var l: Float, a: Float, b: Float

    init(_ c: RGB) {
        let (r8, g8, b8) = channels(c)
        func lin(_ v: Int) -> Float {
            let s = Float(v) / 255
            return s <= 0.04045 ? s / 12.92 : powf((s + 0.055) / 1.055, 2.4)
        }
        let r = lin(r8), g = lin(g8), bl = lin(b8)
        let l_ = cbrtf(0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * bl)
        let m_ = cbrtf(0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * bl)
        let s_ = cbrtf(0.0883024619 * r + 0.2817188376 * g + 0.6299787995 * bl)
        l = 0.2104542553 * l_ + 0.7936177850 * m_ - 0.0040720468 * s_
        a = 1.9779984951 * l_ - 2.4285922050 * m_ + 0.4505937099 * s_
        b = 0.0259040371 * l_ + 0.7827717662 * m_ - 0.8086757660 * s_
    }

    func distance2(_ o: OKLab) -> Float {
        let dl = l - o.l, da = a - o.a, db = b - o.b
        return dl * dl + da * da + db * db
    }
}

/// Maps RGB to the nearest entry of an indexed palette, perceptually. Memoised: a frame has a few
/// thousand distinct colours and consecutive frames share most of them.
final class Quantizer {
    let mode: ColorMode
    let indices: [Int]  // palette indices this mode may use
    let greyRamp: [(Int, Int)]
    private let labs: [OKLab]
    private var memo: [RGB: Int] = [:]

    init(mode: ColorMode) {
        self.mode = mode
        greyRamp = Quantizer.greyRamp(mode)
        switch mode {
        // 0…15 are excluded in 256 mode: users re-theme them, so their RGB is unknown (chafa's "240" mode).
        case .c256: indices = Array(16..<256)
        case .c16: indices = Array(0..<16)
        case .c8: indices = Array(0..<8)
        case .truecolor, .mono: indices = []
        }
        labs = indices.map { OKLab(XtermPalette.all[$0]) }
    }

    func index(_ c: RGB) -> Int {
        if let i = memo[c] { return i }
        let lab = OKLab(c)
        var best = 0, bestD = Float.infinity
        for (k, p) in labs.enumerated() {
            let d = lab.distance2(p)
            if d < bestD { bestD = d; best = k }
        }
        if memo.count > 1 << 16 { memo.removeAll(keepingCapacity: true) }
        memo[c] = indices[best]
        return indices[best]
    }

    /// The colour actually shown for `c`.
    func quantized(_ c: RGB) -> RGB { indices.isEmpty ? c : XtermPalette.all[index(c)] }
}

/// Rec. 601 luma, 0…255.
@inline(__always) func luma(_ c: RGB) -> Int {
    let (r, g, b) = channels(c)
    return (299 * r + 587 * g + 114 * b) / 1000
}

/// 4×4 Bayer thresholds (0…255): deterministic, so mono output is stable for screen-capture tests.
let bayer4: [Int] = [0, 8, 2, 10, 12, 4, 14, 6, 3, 11, 1, 9, 15, 7, 13, 5].map { $0 * 16 + 8 }

/// Ordered (Bayer) dithering onto the indexed palettes. A colour between two palette levels becomes a
/// pattern of both, in proportion; a colour exactly on a level stays that level everywhere, so flat
/// areas (a black background) are never mottled. Grey pixels use the palette's grey ramp only (the
/// 256-colour ramp 232…255 plus the cube's black and white; black, the two greys and white in 16
/// colours; black and white in 8), so grey strokes never pick up a hue.
extension Quantizer {
    /// Greys as (level, palette index), ascending.
    static func greyRamp(_ mode: ColorMode) -> [(Int, Int)] {
        switch mode {
        case .c256:
            var ramp: [(Int, Int)] = [(0, 16)]
            for i in 0..<24 { ramp.append((8 + 10 * i, 232 + i)) }
            ramp.append((255, 231))
            return ramp
        case .c16: return [(0, 0), (0x7F, 8), (0xE5, 7), (0xFF, 15)]
        case .c8: return [(0, 0), (0xE5, 7)]
        case .truecolor, .mono: return []
        }
    }

    /// The palette index for `c` at pixel (`x`, `y`).
    func ditheredIndex(_ c: RGB, x: Int, y: Int) -> Int {
        let t = bayer4[(y & 3) * 4 + (x & 3)]  // 8…248: the threshold, in 256ths
        let (r, g, b) = channels(c)
        if max(r, g, b) - min(r, g, b) <= 8 {
            return Quantizer.pick(on: greyRamp, value: (r + g + b) / 3, threshold: t)
        }
        switch mode {
        case .c256:
            let levels = XtermPalette.cubeLevels.map(Int.init)
            let ramp = levels.enumerated().map { ($0.element, $0.offset) }
            let ri = Quantizer.pick(on: ramp, value: r, threshold: t)
            let gi = Quantizer.pick(on: ramp, value: g, threshold: t)
            let bi = Quantizer.pick(on: ramp, value: b, threshold: t)
            return 16 + 36 * ri + 6 * gi + bi
        default:
            // 16 and 8 colours are too irregular for per-channel levels: nudge by the threshold, then
            // take the perceptually nearest entry.
            let d = (t - 128) / 3
            func ch(_ v: Int) -> UInt8 { UInt8(max(0, min(255, v + d))) }
            return index(rgb(ch(r), ch(g), ch(b)))
        }
    }

    /// Between the two ramp levels around `value`: the upper one where the position between them
    /// exceeds the threshold. Within `snap` of a level the level itself, everywhere: a near-black
    /// background (0…3) stays one colour instead of a pattern of 16 and 232.
    static func pick(on ramp: [(Int, Int)], value: Int, threshold t: Int, snap: Int = 3) -> Int {
        guard let hi = ramp.firstIndex(where: { $0.0 >= value }) else { return ramp.last!.1 }
        if ramp[hi].0 - value <= snap || hi == 0 { return ramp[hi].1 }
        let (l0, i0) = ramp[hi - 1], (l1, i1) = ramp[hi]
        if value - l0 <= snap { return i0 }
        return (value - l0) * 256 > t * (l1 - l0) ? i1 : i0
    }
}
