/// Where everything goes for a terminal of `width`×`height` cells. Pure, so it is unit-tested.
struct Layout {
    struct Strip { var x: Int, y: Int, rows: Int, thumb: Int, width: Int }
    struct Canvas { var x: Int, y: Int, cols: Int, rows: Int }

    static let minWidth = 64, minHeight = 18

    let width: Int, height: Int
    let tooSmall: Bool
    let listWidth: Int
    let listTop = 2
    let listRows: Int
    let panelX: Int
    let panelWidth: Int
    /// Per lane: the label row, the canvas and the filmstrip under it.
    var labels: [(x: Int, y: Int, width: Int)] = []
    var canvases: [Canvas] = []
    var strips: [Strip] = []

    init(width: Int, height: Int, lanes: Int, total: [Int]) {
        self.width = width
        self.height = height
        listWidth = min(26, max(14, width / 5))
        listRows = height - listTop - 1
        panelWidth = width >= 100 ? 36 : 30
        panelX = width - panelWidth
        let x0 = listWidth + 1, centerWidth = panelX - 1 - x0
        tooSmall = width < Layout.minWidth || height < Layout.minHeight || centerWidth < 16 * lanes
        guard !tooSmall else { return }
        let laneWidth = lanes == 2 ? (centerWidth - 2) / 2 : centerWidth
        for l in 0..<lanes {
            let lx = x0 + l * (laneWidth + 2), n = max(1, total[min(l, total.count - 1)])
            // Thumbnails as wide as fits (2…8 cells), half as tall: square in half-block pixels.
            let thumb = max(2, min(8, (laneWidth + 1) / n - 1))
            let thumbRows = max(1, thumb / 2)
            let canvasTop = 2
            let stripY = height - 2 - thumbRows  // leaves the number row and the status bar below
            let avail = stripY - 1 - canvasTop
            var cols = min(laneWidth, avail * 2)
            cols -= cols % 2
            let rows = cols / 2
            labels.append((lx, 1, laneWidth))
            canvases.append(Canvas(x: lx + (laneWidth - cols) / 2, y: canvasTop + max(0, (avail - rows) / 2), cols: cols, rows: rows))
            strips.append(Strip(x: lx, y: stripY, rows: thumbRows, thumb: thumb, width: laneWidth))
        }
    }
}

extension Layout.Canvas {
    /// The part of the canvas an image of `w`×`h` pixels fills without distortion, centred (a cell
    /// being two half-block pixels tall): a 2:1 extension shows at 2:1, not squeezed into the square.
    func fitted(width w: Int, height h: Int) -> Layout.Canvas {
        guard w > 0, h > 0, cols > 0, rows > 0 else { return self }
        let scale = min(Double(cols) / Double(w), Double(2 * rows) / Double(h))
        let c = max(1, min(cols, Int((Double(w) * scale).rounded())))
        let r = max(1, min(rows, Int((Double(h) * scale / 2).rounded())))
        return Layout.Canvas(x: x + (cols - c) / 2, y: y + (rows - r) / 2, cols: c, rows: r)
    }
}
