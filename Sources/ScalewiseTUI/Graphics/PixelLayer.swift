import CNCursesW
import Foundation
import ScalewiseEngine

/// Pixel images drawn next to curses: after each refresh, straight to the terminal, with the cursor
/// saved and restored around them (DECSC/DECRC) so curses' idea of the cursor stays true. Curses only
/// sees blank cells where an image lies.
///
/// kitty keeps images in its own layer: each distinct picture is transmitted once, then placed and
/// re-placed (a=p) by id; a placement that changes is deleted. Sixel and iTerm2 pixels belong to the
/// cells they cover: they are drawn again only when something changed, after curses has repainted
/// the screen (which is what erases the old pixels).
final class PixelLayer {
    struct Placement: Equatable {
        var key: String
        var x: Int, y: Int, cols: Int, rows: Int
        /// The picture's size in pixels once fitted into the cells.
        var width = 0, height = 0

        /// Whether `other`, drawn over this one, leaves none of this one's pixels visible.
        func covered(by other: Placement) -> Bool {
            other.x == x && other.y == y && other.cols == cols && other.rows == rows && other.width == width && other.height == height
        }
    }

    private struct Fitted {
        var image: RGBImage
        var zoom: Int
        /// Encoded bytes (sixel / iTerm2), made once per picture.
        var bytes: [UInt8]?
    }

    private(set) var mode: GraphicsMode
    let cellW: Int, cellH: Int
    let tmux: Bool
    /// Sixel colour registers to use.
    var sixelColors = 256
    /// Slot (placement id) → what it shows: this frame's wish and what is on screen.
    private var wanted: [Int: (Placement, RGBImage)] = [:]
    private var onScreen: [Int: Placement] = [:]
    private var fitted: [String: Fitted] = [:]
    /// kitty: picture key → image id, for the pictures the terminal holds (or is about to).
    private var kittyIds: [String: Int] = [:]
    private var transmitted: Set<String> = []
    private var nextId = 1
    private var forced = false
    /// The zoom of the last picture placed in slot 1 (the first canvas), for the status line.
    private(set) var canvasZoom: Int?

    init(mode: GraphicsMode, cellW: Int, cellH: Int, tmux: Bool) {
        self.mode = mode
        self.cellW = max(1, cellW)
        self.cellH = max(1, cellH)
        self.tmux = tmux
    }

    var active: Bool { mode != .blocks }

    /// kitty inside tmux: placeholder cells drawn by curses, uploads through passthrough. Image ids
    /// are then 16…255, so that a 256-colour foreground can carry them.
    var placeholders: Bool { mode == .kitty && tmux }

    /// Next draw puts every picture on screen again (after a resize or Ctrl-L).
    func invalidate() { forced = true }

    /// Switches protocol: everything shown so far is removed first.
    func setMode(_ m: GraphicsMode, out: Int32) {
        clearAll(out: out)
        mode = m
        fitted.removeAll()
    }

    func beginFrame() { wanted.removeAll(keepingCapacity: true) }

    /// Asks for `image` in the cell rectangle; it is only scaled and encoded when not already on screen.
    /// With placeholders, returns the image id whose placeholder cells the caller draws (nil: none free).
    @discardableResult
    func add(slot: Int, key: String, x: Int, y: Int, cols: Int, rows: Int, image: RGBImage) -> Int? {
        guard active, cols > 0, rows > 0 else { return nil }
        let (pw, ph) = PixelScale.fittedSize(image.width, image.height, boxW: cols * cellW, boxH: rows * cellH)
        let p = Placement(key: "\(key)@\(cols)x\(rows)", x: x, y: y, cols: cols, rows: rows, width: pw, height: ph)
        if slot == 1 { canvasZoom = PixelScale.zoom(image.width, image.height, boxW: cols * cellW, boxH: rows * cellH) }
        guard placeholders else { wanted[slot] = (p, image); return nil }
        if kittyIds[p.key] == nil {
            let used = Set(kittyIds.values)
            guard let free = (16...255).first(where: { !used.contains($0) }) else { return nil }
            kittyIds[p.key] = free
        }
        wanted[slot] = (p, image)
        return kittyIds[p.key]
    }

    /// Before curses' update: sixel and iTerm2 pictures that move or vanish are only erased by curses
    /// rewriting their cells, so the whole window is marked for repainting then.
    func prepare(_ win: UnsafeMutablePointer<WINDOW>) {
        guard mode == .sixel || mode == .iterm else { return }
        let gone = onScreen.contains { slot, p in
            guard let w = wanted[slot]?.0 else { return true }
            return !p.covered(by: w)
        }
        if gone || forced { redrawwin(win) }
    }

    /// After curses' update: writes what changed.
    func flush(out: Int32) {
        guard active else { return }
        var bytes = [UInt8]()
        let changedSlots = wanted.keys.sorted().filter { forced || onScreen[$0] != wanted[$0]!.0 }
        let removed = onScreen.keys.filter { wanted[$0] == nil }
        let repaintAll = (mode == .sixel || mode == .iterm) && (forced || onScreen.contains { s, p in
            guard let w = wanted[s]?.0 else { return true }
            return !p.covered(by: w)
        })
        let slots = repaintAll ? wanted.keys.sorted() : changedSlots
        if mode == .kitty && !placeholders {
            for s in removed { if let id = kittyIds[onScreen[s]!.key] { bytes += KittyEncoder.deletePlacement(id: id, placement: s, tmux: tmux) } }
            for s in changedSlots {
                if let old = onScreen[s], old.key != wanted[s]!.0.key, let id = kittyIds[old.key] {
                    bytes += KittyEncoder.deletePlacement(id: id, placement: s, tmux: tmux)
                }
            }
        }
        for s in slots {
            let (p, image) = wanted[s]!
            let f = fit(p, image)
            let bw = p.cols * cellW, bh = p.rows * cellH
            let ox = max(0, (bw - f.image.width) / 2), oy = max(0, (bh - f.image.height) / 2)
            switch mode {
            case .kitty:
                let id: Int
                if let known = kittyIds[p.key] {
                    id = known
                } else {
                    id = nextId
                    nextId += 1
                    kittyIds[p.key] = id
                }
                if !transmitted.contains(p.key) {
                    bytes += KittyEncoder.transmit(f.image, id: id, tmux: tmux)
                    transmitted.insert(p.key)
                }
                if placeholders {
                    bytes += KittyEncoder.placeVirtual(id: id, cols: p.cols, rows: p.rows, tmux: tmux)
                } else {
                    bytes += cursor(p.y + oy / cellH, p.x + ox / cellW)
                    bytes += KittyEncoder.place(id: id, placement: s, dx: ox % cellW, dy: oy % cellH, tmux: tmux)
                }
            case .sixel, .iterm:
                // Whole cells only: round the centring offset.
                bytes += cursor(p.y + (oy + cellH / 2) / cellH, p.x + (ox + cellW / 2) / cellW)
                bytes += encoded(p.key, f)
            case .blocks:
                break
            }
        }
        onScreen = wanted.mapValues(\.0)
        forced = false
        if mode == .kitty {
            // Pictures no slot shows any more are freed (d=I), so the terminal's memory stays bounded.
            let live = Set(onScreen.values.map(\.key))
            for (key, id) in kittyIds where !live.contains(key) {
                if transmitted.contains(key) { bytes += KittyEncoder.deleteImage(id: id, tmux: tmux) }
                kittyIds[key] = nil
                transmitted.remove(key)
            }
        }
        if fitted.count > 64 {
            let live = Set(onScreen.values.map(\.key))
            fitted = fitted.filter { live.contains($0.key) }
        }
        guard !bytes.isEmpty else { return }
        write(out, [0x1B, 0x37] + bytes + [0x1B, 0x38])  // DECSC … DECRC
    }

    /// Removes every picture (leaving, switching protocol).
    func clearAll(out: Int32) {
        if mode == .kitty && !kittyIds.isEmpty {
            var bytes = [UInt8]()
            for (key, id) in kittyIds where transmitted.contains(key) { bytes += KittyEncoder.deleteImage(id: id, tmux: tmux) }
            write(out, bytes)
        }
        kittyIds.removeAll()
        transmitted.removeAll()
        onScreen.removeAll()
        forced = true
    }

    private func fit(_ p: Placement, _ image: RGBImage) -> Fitted {
        if let f = fitted[p.key] { return f }
        let r = PixelScale.fit(image, boxW: p.cols * cellW, boxH: p.rows * cellH)
        let f = Fitted(image: r.image, zoom: r.zoom)
        fitted[p.key] = f
        return f
    }

    private func encoded(_ key: String, _ f: Fitted) -> [UInt8] {
        if let b = fitted[key]?.bytes { return b }
        let b = mode == .sixel ? SixelEncoder.encode(f.image, maxColors: sixelColors) : ITermEncoder.encode(f.image, tmux: tmux)
        fitted[key]?.bytes = b
        return b
    }

    private func cursor(_ row: Int, _ col: Int) -> [UInt8] { Array("\u{1B}[\(row + 1);\(col + 1)H".utf8) }

    private func write(_ fd: Int32, _ bytes: [UInt8]) {
        var off = 0
        bytes.withUnsafeBytes { p in
            while off < p.count {
                let n = Glibc.write(fd, p.baseAddress! + off, p.count - off)
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                guard n > 0 else { return }
                off += n
            }
        }
    }
}
