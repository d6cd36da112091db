import Foundation

// Colour modes and perceptual nearest-colour mapping for indexed terminals.

/// A 24-bit colour packed as 0xRRGGBB (ncurses direct-colour numbers use the same packing).
public typealias RGB = UInt32

@inline(__always) func rgb(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> RGB { RGB(r) << 16 | RGB(g) << 8 | RGB(b) }
@inline(__always) func channels(_ c: RGB) -> (Int, Int, Int) { (Int(c >> 16 & 0xFF), Int(c >> 8 & 0xFF), Int(c & 0xFF)) }

/// How many colours the canvas may use; the status bar names the active one.
public enum ColorMode: String, CaseIterable, Sendable {
    case truecolor, c256 = "256", c16 = "16", mono

    public var label: String {
        switch self {
        case .truecolor: "truecolor"
        case .c256: "256 colours"
        case .c16: "16 colours"
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
    let indices: [Int]  // palette indices this mode may use
    private let labs: [OKLab]
    private var memo: [RGB: Int] = [:]

    init(mode: ColorMode) {
        switch mode {
        // 0…15 are excluded in 256 mode: users re-theme them, so their RGB is unknown (chafa's "240" mode).
        case .c256: indices = Array(16..<256)
        case .c16: indices = Array(0..<16)
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
