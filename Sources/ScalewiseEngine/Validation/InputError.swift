import Foundation

/// A value read from outside (a flag, a model's metadata, a PNG's record) that breaks a rule. One line;
/// anything taken from the input is escaped (`terminalSafe`) before it is shown.
public struct InputError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = terminalSafe(message) }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// `s` with every control character escaped (`\n`, `\t`, `\u{1b}` …) and cut to `limit` characters: what
/// is safe to print on a terminal when `s` comes from a file (metadata, class names, paths in records).
/// Without it a downloaded model could send escape sequences (OSC, CSI) to the user's terminal.
public func terminalSafe(_ s: String, limit: Int = 300) -> String {
    var out = ""
    var n = 0
    for scalar in s.unicodeScalars {
        if n >= limit { out += "…"; break }
        n += 1
        switch scalar {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        // C0, DEL, C1 (0x9B is a one-byte CSI on some terminals), and the bidirectional overrides.
        case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
            || (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value):
            out += "\\u{\(String(scalar.value, radix: 16))}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// Text for a number in a message that never traps (Int(x) traps on ±∞, NaN and |x| ≥ 2^63).
func shown(_ v: Float) -> String {
    if let i = Int(exactly: v) { return String(i) }
    return String(v)
}
