/// A line of separate facts that must fit a width: the least important whole fields go first, so a narrow terminal
/// loses a fact rather than shows half a number ("max 1" for "max 148").
struct Fields {
    private var items: [(text: String, keep: Int)] = []

    /// Adds a field; of those that do not fit, the lowest `keep` goes first (the later one among equals).
    mutating func add(_ text: String, keep: Int) {
        if !text.isEmpty { items.append((text, keep)) }
    }

    /// The fields that fit `width` in their order, joined by `separator`; the most important one always stays (the
    /// painter may still cut it, when even it alone is too wide).
    func joined(_ separator: String, width: Int) -> String {
        var left = items
        func line() -> String { left.map(\.text).joined(separator: separator) }
        while left.count > 1, line().count > width {
            let drop = left.indices.min { a, b in left[a].keep < left[b].keep || (left[a].keep == left[b].keep && a > b) }!
            left.remove(at: drop)
        }
        return line()
    }
}
