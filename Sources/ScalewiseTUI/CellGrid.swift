import CNCursesW
import ScalewiseEngine

/// One tile of the side-by-side grids (variations, X/Y): the label under the picture, marked and reversed when
/// chosen, and the picture in cells, or `waiting` centred while there is none yet.
extension App {
    func drawTile(_ t: VariationLayout.Tile, label: String, chosen: Bool, image: RGBImage?, key: String, waiting: String) {
        // A narrow tile keeps the whole label and drops the marker: the reverse video alone marks the chosen one.
        let mark = label.count + 2 > t.label.width ? "" : (chosen ? "> " : "  ")
        painter.text(t.label.y, t.label.x, mark + label, attr: chosen ? CW_A_REVERSE : CW_A_NORMAL, maxWidth: t.label.width)
        guard let img = image else {
            let x = t.canvas.x + max(0, (t.canvas.cols - waiting.count) / 2)
            return painter.text(t.canvas.y + t.canvas.rows / 2, x, waiting, attr: CW_A_DIM, maxWidth: t.canvas.cols)
        }
        let box = t.canvas.fitted(width: img.width, height: img.height)
        painter.cells(cells("\(key):\(box.cols)x\(box.rows)", img, box.cols, box.rows), y: box.y, x: box.x, cols: box.cols)
    }
}
