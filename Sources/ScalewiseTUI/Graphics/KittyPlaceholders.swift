/// kitty's Unicode placeholders (sw.kovidgoyal.net/kitty/graphics-protocol, "Unicode placeholders"):
/// an image given a virtual placement (a=p,U=1) is shown wherever cells hold U+10EEEE with the
/// image id as foreground colour and two combining marks naming the cell's row and column. The cells
/// are ordinary text, so the picture survives tmux (only the upload needs passthrough) and curses
/// repaints it like any other text.
enum KittyPlaceholder {
    static let character: UInt32 = 0x10EEEE

    /// The row/column marks, in the order of kitty's rowcolumn-diacritics.txt (combining marks of
    /// class 230 from Unicode 6.0), as inclusive ranges; the first 151 entries.
    private static let ranges: [(UInt32, UInt32)] = [
        (0x0305, 0x0305), (0x030D, 0x030E), (0x0310, 0x0310), (0x0312, 0x0312), (0x033D, 0x033F), (0x0346, 0x0346),
        (0x034A, 0x034C), (0x0350, 0x0352), (0x0357, 0x0357), (0x035B, 0x035B), (0x0363, 0x036F), (0x0483, 0x0487),
        (0x0592, 0x0595), (0x0597, 0x0599), (0x059C, 0x05A1), (0x05A8, 0x05A9), (0x05AB, 0x05AC), (0x05AF, 0x05AF),
        (0x05C4, 0x05C4), (0x0610, 0x0617), (0x0657, 0x065B), (0x065D, 0x065E), (0x06D6, 0x06DC), (0x06DF, 0x06E2),
        (0x06E4, 0x06E4), (0x06E7, 0x06E8), (0x06EB, 0x06EC), (0x0730, 0x0730), (0x0732, 0x0733), (0x0735, 0x0736),
        (0x073A, 0x073A), (0x073D, 0x073D), (0x073F, 0x0741), (0x0743, 0x0743), (0x0745, 0x0745), (0x0747, 0x0747),
        (0x0749, 0x074A), (0x07EB, 0x07F1), (0x07F3, 0x07F3), (0x0816, 0x0819), (0x081B, 0x0823), (0x0825, 0x0827),
        (0x0829, 0x082D), (0x0951, 0x0951), (0x0953, 0x0954), (0x0F82, 0x0F83), (0x0F86, 0x0F87), (0x135D, 0x135F),
        (0x17DD, 0x17DD), (0x193A, 0x193A), (0x1A17, 0x1A17), (0x1A75, 0x1A7C), (0x1B6B, 0x1B6B),
    ]

    static let diacritics: [UInt32] = ranges.flatMap { Array($0.0...$0.1) }

    /// The most rows or columns one placement can address.
    static var maxCells: Int { diacritics.count }

    /// The code points of the cell at (`row`, `column`) of a placement.
    static func cell(row: Int, column: Int) -> [UInt32] {
        [character, diacritics[min(row, maxCells - 1)], diacritics[min(column, maxCells - 1)]]
    }
}
