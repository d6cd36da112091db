/// Gap in pixels between the images of a grid or contact sheet.
public let sheetGap = 2

/// Copies `image` into `sheet` with its top-left corner at (x, y).
public func blit(_ image: RGBImage, into sheet: inout RGBImage, x: Int, y: Int) {
    for row in 0..<image.height {
        let src = row * image.width * 3, dst = ((y + row) * sheet.width + x) * 3
        sheet.pixels.replaceSubrange(dst..<(dst + image.width * 3), with: image.pixels[src..<(src + image.width * 3)])
    }
}

/// Tiles images into a near-square grid with a 2-pixel gap (`--count … --grid`).
public func makeGrid(_ images: [RGBImage]) -> RGBImage {
    let cols = Int(Double(images.count).squareRoot().rounded(.up))
    let rowsN = (images.count + cols - 1) / cols
    let w = images[0].width, h = images[0].height
    var out = RGBImage(width: cols * w + (cols - 1) * sheetGap, height: rowsN * h + (rowsN - 1) * sheetGap)
    for (i, img) in images.enumerated() {
        blit(img, into: &out, x: (i % cols) * (w + sheetGap), y: (i / cols) * (h + sheetGap))
    }
    return out
}

/// An X/Y contact sheet: `cells` row by row (X fastest) at their own resolution on white, each centred in a slot
/// as large as the largest cell (and as wide as its column's label), the X labels above the columns and the Y
/// labels left of the rows.
public func makeContactSheet(_ cells: [RGBImage], columnLabels: [String], rowLabels: [String]) -> RGBImage {
    let margin = 3, textH = SheetFont.height
    let cols = columnLabels.count, rows = max(rowLabels.count, 1)
    let cellW = cells.map(\.width).max() ?? 1, cellH = cells.map(\.height).max() ?? 1
    let slotW = max(cellW, (columnLabels.map(SheetFont.measure).max() ?? 0) + 2 * margin)
    let left = rowLabels.isEmpty ? 0 : (rowLabels.map(SheetFont.measure).max() ?? 0) + 2 * margin
    let top = textH + 2 * margin
    var sheet = RGBImage(width: left + cols * slotW + (cols - 1) * sheetGap, height: top + rows * cellH + (rows - 1) * sheetGap)
    sheet.pixels = [UInt8](repeating: 255, count: sheet.pixels.count)
    let ink: (UInt8, UInt8, UInt8) = (0, 0, 0)
    for (c, label) in columnLabels.enumerated() {
        SheetFont.draw(label, at: left + c * (slotW + sheetGap) + (slotW - SheetFont.measure(label)) / 2, margin, rgb: ink, into: &sheet)
    }
    for (r, label) in rowLabels.enumerated() {
        SheetFont.draw(label, at: margin, top + r * (cellH + sheetGap) + (cellH - textH) / 2, rgb: ink, into: &sheet)
    }
    for (i, cell) in cells.enumerated() {
        let x = left + (i % cols) * (slotW + sheetGap) + (slotW - cell.width) / 2
        let y = top + (i / cols) * (cellH + sheetGap) + (cellH - cell.height) / 2
        blit(cell, into: &sheet, x: x, y: y)
    }
    return sheet
}
