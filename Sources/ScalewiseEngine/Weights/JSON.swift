/// A small strict JSON reader/writer for safetensors headers. Our own rather than JSONSerialization so
/// that integers stay exact `Int`s (offsets reach 8 GB), object order and duplicate keys are visible,
/// nesting depth is bounded (a hostile header must not overflow the stack) and errors carry an offset.
enum JSON: Equatable {
    case null
    case bool(Bool)
    case int(Int)
    /// Any number that is not an integer fitting in Int.
    case double(Double)
    case string(String)
    case array([JSON])
    /// Members in file order; duplicates are kept for the caller to reject.
    case object([(String, JSON)])

    static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case let (.bool(x), .bool(y)): x == y
        case let (.int(x), .int(y)): x == y
        case let (.double(x), .double(y)): x == y
        case let (.string(x), .string(y)): x == y
        case let (.array(x), .array(y)): x == y
        case let (.object(x), .object(y)): x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    struct ParseError: Error { let offset: Int; let message: String }

    static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws(ParseError) -> JSON {
        var p = Parser(bytes: bytes, maxDepth: maxDepth)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.pos == bytes.count else { throw ParseError(offset: p.pos, message: "trailing characters") }
        return v
    }

    /// Compact encoding; strings are escaped as JSON requires (control characters as \u00XX).
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        let maxDepth: Int
        var pos = 0

        mutating func skipSpace() {
            while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) { pos += 1 }
        }

        func fail(_ message: String) -> ParseError { ParseError(offset: pos, message: message) }

        mutating func literal(_ word: String, _ v: JSON) throws(ParseError) -> JSON {
            for c in word.utf8 {
                guard pos < bytes.count, bytes[pos] == c else { throw fail("invalid literal") }
                pos += 1
            }
            return v
        }

        mutating func value(depth: Int) throws(ParseError) -> JSON {
            guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
            guard pos < bytes.count else { throw fail("unexpected end") }
            switch bytes[pos] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            default: return try number()
            }
        }

        mutating func object(depth: Int) throws(ParseError) -> JSON {
            pos += 1
            var members: [(String, JSON)] = []
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
            while true {
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let key = try string()
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                pos += 1
                skipSpace()
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard pos < bytes.count else { throw fail("unexpected end in object") }
                if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
                guard bytes[pos] == UInt8(ascii: ",") else { throw fail("expected ',' or '}'") }
                pos += 1
            }
        }

        mutating func array(depth: Int) throws(ParseError) -> JSON {
            pos += 1
            var items: [JSON] = []
            skipSpace()
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard pos < bytes.count else { throw fail("unexpected end in array") }
                if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                guard bytes[pos] == UInt8(ascii: ",") else { throw fail("expected ',' or ']'") }
                pos += 1
            }
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            guard bytes.count - pos >= 4 else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[pos]
                let d: UInt8
                switch c {
                case 0x30...0x39: d = c - 0x30
                case 0x41...0x46: d = c - 0x41 + 10
                case 0x61...0x66: d = c - 0x61 + 10
                default: throw fail("bad hex digit in \\u escape")
                }
                v = v << 4 | UInt32(d)
                pos += 1
            }
            return v
        }

        mutating func string() throws(ParseError) -> String {
            pos += 1
            var utf8: [UInt8] = []
            while true {
                guard pos < bytes.count else { throw fail("unterminated string") }
                let c = bytes[pos]
                pos += 1
                if c == UInt8(ascii: "\"") { break }
                if c < 0x20 { throw fail("control character in string") }
                if c != UInt8(ascii: "\\") { utf8.append(c); continue }
                guard pos < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(e)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard bytes.count - pos >= 2, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate")
                        }
                        pos += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("unpaired surrogate") }
                    utf8.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: throw fail("bad escape")
                }
            }
            guard let s = String(validating: utf8, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
            return s
        }

        mutating func number() throws(ParseError) -> JSON {
            let start = pos
            func digits() -> Int {
                let s = pos
                while pos < bytes.count, (0x30...0x39).contains(bytes[pos]) { pos += 1 }
                return pos - s
            }
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            let intStart = pos
            guard digits() > 0 else { throw fail("invalid value") }
            if bytes[intStart] == 0x30, pos - intStart > 1 { throw fail("leading zero in number") }
            var integral = true
            if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
                pos += 1
                integral = false
                guard digits() > 0 else { throw fail("digits expected after '.'") }
            }
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
                pos += 1
                integral = false
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
                guard digits() > 0 else { throw fail("digits expected in exponent") }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
            if integral, let i = Int(text) { return .int(i) }
            guard let d = Double(text) else { throw fail("invalid number") }
            return .double(d)
        }
    }
}
