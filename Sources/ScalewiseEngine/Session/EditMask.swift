/// Masks for `EditPlan.inpaint` built from a rectangle, so a UI can pick one without touching pixels itself.
extension RGBImage {
    /// A `width`×`height` mask over a `cols`×`rows` grid of cells laid on the image: white (regenerate) in the
    /// cells `x0..<x1`, `y0..<y1`, black (keep) elsewhere. Cell edges fall on `i * width / cols` (and the same
    /// for rows), so the cells tile the image exactly for any size.
    public static func gridMask(width: Int, height: Int, cols: Int, rows: Int,
                                x0: Int, y0: Int, x1: Int, y1: Int) -> RGBImage {
        var mask = RGBImage(width: width, height: height)
        guard cols > 0, rows > 0 else { return mask }
        let px0 = max(0, x0) * width / cols, px1 = min(cols, x1) * width / cols
        let py0 = max(0, y0) * height / rows, py1 = min(rows, y1) * height / rows
        guard px0 < px1, py0 < py1 else { return mask }
        for y in py0..<py1 {
            let row = (y * width + px0) * 3
            mask.pixels.replaceSubrange(row..<(row + (px1 - px0) * 3), with: repeatElement(255, count: (px1 - px0) * 3))
        }
        return mask
    }
}
