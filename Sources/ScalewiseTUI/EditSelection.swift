import ScalewiseEngine

/// The edit being picked in edit mode: a rectangle on a grid of the final step's token cells (the finest
/// unit a mask can change), or a side to extend, or a refine size. Pure, so it is unit-tested.
struct EditSelection: Equatable {
    enum Mode: Equatable {
        case inpaint
        case extend(String)
        case refine
    }

    static let sides = ["left", "right", "up", "down"]

    let cols: Int, rows: Int
    /// The rectangle's cells: x0..<x1, y0..<y1, never empty.
    var x0: Int, y0: Int, x1: Int, y1: Int
    /// Which corner the arrows move: the bottom-right one, or (after Tab) the top-left one.
    var movingTopLeft = false
    var mode: Mode = .inpaint
    /// Refine keeps the steps up to this size; one of `sizes` (the schedule's, the finest left out).
    var refineSize: Int
    let sizes: [Int]

    /// Starts on the centre quarter of a `cols`×`rows` grid; `sizes` are the schedule's step sizes.
    init(cols: Int, rows: Int, sizes: [Int]) {
        self.cols = max(1, cols)
        self.rows = max(1, rows)
        let s = Array(sizes.dropLast())
        self.sizes = s.isEmpty ? [1] : s
        refineSize = self.sizes[self.sizes.count / 2]
        (x0, y0, x1, y1) = (0, 0, 1, 1)
        preset(5)
    }

    /// Moves the active corner by whole cells, keeping at least one cell inside.
    mutating func move(dx: Int, dy: Int) {
        if movingTopLeft {
            x0 = max(0, min(x1 - 1, x0 + dx))
            y0 = max(0, min(y1 - 1, y0 + dy))
        } else {
            x1 = max(x0 + 1, min(cols, x1 + dx))
            y1 = max(y0 + 1, min(rows, y1 + dy))
        }
    }

    /// 1 left half, 2 right half, 3 top half, 4 bottom half, 5 centre (half the width and height).
    mutating func preset(_ n: Int) {
        let hc = max(1, cols / 2), hr = max(1, rows / 2)
        switch n {
        case 1: (x0, y0, x1, y1) = (0, 0, hc, rows)
        case 2: (x0, y0, x1, y1) = (min(hc, cols - 1), 0, cols, rows)
        case 3: (x0, y0, x1, y1) = (0, 0, cols, hr)
        case 4: (x0, y0, x1, y1) = (0, min(hr, rows - 1), cols, rows)
        case 5: (x0, y0) = (cols / 4, rows / 4); (x1, y1) = (max(x0 + 1, cols - cols / 4), max(y0 + 1, rows - rows / 4))
        default: return
        }
        mode = .inpaint
    }

    /// In-paint → extend left, right, up, down → refine → in-paint.
    mutating func nextMode() {
        switch mode {
        case .inpaint: mode = .extend(Self.sides[0])
        case .extend(let s):
            let i = Self.sides.firstIndex(of: s)! + 1
            mode = i < Self.sides.count ? .extend(Self.sides[i]) : .refine
        case .refine: mode = .inpaint
        }
    }

    /// The next larger or smaller refine size.
    mutating func adjustRefine(by d: Int) {
        let i = sizes.firstIndex(of: refineSize) ?? 0
        refineSize = sizes[max(0, min(sizes.count - 1, i + d))]
    }

    /// What the engine runs on an image of `width`×`height` pixels.
    func plan(width: Int, height: Int) -> EditPlan {
        switch mode {
        case .inpaint: return .inpaint(mask: mask(width: width, height: height))
        case .extend(let s): return .extend(s)
        case .refine: return .refine(upTo: refineSize)
        }
    }

    func mask(width: Int, height: Int) -> RGBImage {
        .gridMask(width: width, height: height, cols: cols, rows: rows, x0: x0, y0: y0, x1: x1, y1: y1)
    }

    /// For the screen and the PNG's record, e.g. "inpaint x4-12 y4-12 of 16x16".
    var label: String {
        switch mode {
        case .inpaint: return "inpaint x\(x0)-\(x1) y\(y0)-\(y1) of \(cols)x\(rows)"
        case .extend(let s): return "extend \(s)"
        case .refine: return "refine from \(refineSize)"
        }
    }

    static let tint: (Int, Int, Int) = (255, 0, 170)

    /// The image as edit mode shows it: what will be regenerated tinted magenta (in-paint: the rectangle;
    /// extend: the new half, next to the image; refine: everything, lightly).
    func preview(_ image: RGBImage) -> RGBImage {
        switch mode {
        case .inpaint:
            let m = mask(width: image.width, height: image.height)
            return Self.blend(image, amount: 0.55) { m.pixels[$0 * 3] != 0 }
        case .refine:
            return Self.blend(image, amount: 0.25) { _ in true }
        case .extend(let s):
            let horizontal = s == "left" || s == "right"
            let w = image.width * (horizontal ? 2 : 1), h = image.height * (horizontal ? 1 : 2)
            var out = RGBImage(width: w, height: h)
            let ox = s == "left" ? image.width : 0, oy = s == "up" ? image.height : 0
            for p in 0..<(w * h) {
                let x = p % w, y = p / w, sx = x - ox, sy = y - oy
                let inside = sx >= 0 && sx < image.width && sy >= 0 && sy < image.height
                let src = (sy * image.width + sx) * 3
                // The new half: a dim tint with a faint checker, so it reads as "empty, to be generated".
                let dim = (x / 4 + y / 4) % 2 == 0 ? 0.35 : 0.25
                out.pixels[p * 3] = inside ? image.pixels[src] : UInt8(Double(Self.tint.0) * dim)
                out.pixels[p * 3 + 1] = inside ? image.pixels[src + 1] : UInt8(Double(Self.tint.1) * dim)
                out.pixels[p * 3 + 2] = inside ? image.pixels[src + 2] : UInt8(Double(Self.tint.2) * dim)
            }
            return out
        }
    }

    private static func blend(_ image: RGBImage, amount: Double, where inside: (Int) -> Bool) -> RGBImage {
        var out = image
        let t = [tint.0, tint.1, tint.2]
        for p in 0..<(image.width * image.height) where inside(p) {
            for c in 0..<3 {
                let v = Double(image.pixels[p * 3 + c]) * (1 - amount) + Double(t[c]) * amount
                out.pixels[p * 3 + c] = UInt8(v.rounded())
            }
        }
        return out
    }
}
