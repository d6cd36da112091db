import CNCursesW
import Foundation
import ScalewiseEngine

/// The variations view (`V`): the image re-sampled from the shown scale on under several seeds, side by side.
struct Variations {
    /// The first re-sampled scale (0-based); the scales before it are the current image's.
    var from: Int
    var seeds: [UInt64]
    /// Each candidate's final image, as it arrives.
    var images: [RGBImage?]
    var selected = 0

    init(from: Int, seeds: [UInt64]) {
        self.from = from
        self.seeds = seeds
        images = Array(repeating: nil, count: seeds.count)
    }

    /// FNV-1a of the pixels: the log names each candidate's picture, so that the kept image can be checked against it.
    static func fingerprint(_ image: RGBImage) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in image.pixels { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }

    /// Tiles in a grid: columns, rows.
    static func grid(_ n: Int) -> (cols: Int, rows: Int) {
        let cols = n <= 2 ? n : (n <= 4 ? 2 : 4)
        return (cols, (n + cols - 1) / cols)
    }
}

/// Where the tiles go for `n` candidates in `width`×`height` cells: pure, so it is unit-tested.
struct VariationLayout {
    struct Tile { var label: (x: Int, y: Int, width: Int); var canvas: Layout.Canvas }
    let tiles: [Tile]

    init(width: Int, height: Int, count n: Int) {
        let (cols, rows) = Variations.grid(n)
        self.init(width: width, height: height, cols: cols, rows: rows, count: n)
    }

    /// `count` tiles (row by row) of a `cols`×`rows` grid below `top` rows and right of `left` columns, each a
    /// picture with a label line under it.
    init(width: Int, height: Int, cols: Int, rows: Int, count n: Int, left: Int = 0, top: Int = 2) {
        let areaH = max(2, height - top - 1)
        let tileW = max(4, (width - left - (cols - 1)) / cols), tileH = max(2, areaH / rows)
        var out: [Tile] = []
        for i in 0..<n {
            let x = left + (i % cols) * (tileW + 1), y = top + (i / cols) * tileH
            let picRows = max(1, tileH - 1)
            var picCols = min(tileW, picRows * 2)
            picCols -= picCols % 2
            out.append(Tile(label: (x, y + tileH - 1, tileW),
                            canvas: Layout.Canvas(x: x + (tileW - picCols) / 2, y: y, cols: max(1, picCols), rows: picRows)))
        }
        tiles = out
    }
}

extension App {
    static let variationRange = 2...8

    /// Re-samples from the shown scale (all scales when none is shown) for `variationCount` new seeds.
    func openVariations() {
        if edit != nil { return message = "no variations while editing (Esc leaves edit mode)" }
        if lanes.count > 1 { return message = "variations need one model (v closes compare mode)" }
        let from = max(0, shown(0) - 1)
        // The run in flight stops; the image on screen stays as it is until a candidate is kept.
        dropWork()
        viewGoal = min(viewGoal, lanes[0].frames.count)
        let seeds = (0..<variationCount).map { _ in randomSeed() }
        variations = Variations(from: from, seeds: seeds)
        worker.submit(.variations(from: from, seeds: seeds), epoch: epoch)
        message = "variations from scale \(from + 1)…"
        logLine("variations from=\(from) seeds=\(seeds.map(String.init).joined(separator: ","))")
    }

    /// Enter keeps the selected candidate: lane 0 re-samples as it did, so the candidate becomes the image.
    func keepVariation() {
        guard let v = variations else { return }
        guard v.images[v.selected] != nil else { message = "variation \(v.selected + 1) is still running"; return }
        let seed = v.seeds[v.selected], total = lanes[0].total
        variations = nil
        if v.from == 0 {
            // Every scale re-sampled: the candidate is simply the image of its seed.
            options.seed = seed
            reconfigure(advanceTo: total)
        } else {
            reroll(from: v.from, seed: seed, to: total)
        }
        viewGoal = total
        message = "kept variation \(v.selected + 1) (seed \(seed) from scale \(v.from + 1))"
        logLine("kept variation \(v.selected + 1) seed \(seed)")
    }

    func closeVariations() {
        dropWork()
        variations = nil
        message = "variations closed, image unchanged"
        logLine("variations closed")
    }

    /// Keys while the view is open; true when consumed (q still quits, everything else the view ignores).
    func variationChar(_ c: UInt32) -> Bool {
        switch c {
        case 0x0D, 0x0A: keepVariation()
        case 0x1B: closeVariations()
        case 0x71: return false  // q
        case 0x2B, 0x2D:  // + -
            let n = max(App.variationRange.lowerBound, min(App.variationRange.upperBound, variationCount + (c == 0x2B ? 1 : -1)))
            guard n != variationCount else { return true }
            variationCount = n
            rollAgain()
        case 0x72: rollAgain()  // r
        default: break
        }
        return true
    }

    func variationKey(_ code: Int32) {
        guard var v = variations else { return }
        let cols = Variations.grid(v.seeds.count).cols
        switch code {
        case KEY_LEFT: v.selected -= 1
        case KEY_RIGHT: v.selected += 1
        case KEY_UP: v.selected -= cols
        case KEY_DOWN: v.selected += cols
        case KEY_ENTER: return keepVariation()
        default: return
        }
        v.selected = max(0, min(v.seeds.count - 1, v.selected))
        variations = v
    }

    /// New seeds from the same scale (after `r`, or a changed count).
    private func rollAgain() {
        guard let v = variations else { return }
        dropWork()
        let seeds = (0..<variationCount).map { _ in randomSeed() }
        variations = Variations(from: v.from, seeds: seeds)
        worker.submit(.variations(from: v.from, seeds: seeds), epoch: epoch)
        message = "variations from scale \(v.from + 1)…"
    }

    /// Full-screen between the title and the status line; pictures in cells in every mode.
    func drawVariations(_ v: Variations, _ w: Int, _ h: Int) {
        let title = "variations from scale \(v.from + 1)/\(lanes[0].total): Enter keeps, Esc returns, + - count \(v.seeds.count), r re-rolls"
        painter.text(1, 0, title, attr: CW_A_BOLD, maxWidth: w)
        let L = VariationLayout(width: w, height: h, count: v.seeds.count)
        for (i, t) in L.tiles.enumerated() {
            drawTile(t, label: "\(i + 1) seed \(v.seeds[i])", chosen: i == v.selected, image: v.images[i], key: "v\(v.seeds[i])",
                     waiting: "running…")
        }
    }
}
