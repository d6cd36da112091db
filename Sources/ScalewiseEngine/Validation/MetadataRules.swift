import Foundation

/// The metadata keys a weight file may carry besides its configs and `defaults` (which `ConfigSource` and
/// `SamplingRules` check): `family`, `tokenizer`, `classes` and `preview`. A malformed value is an error that
/// names the key, never skipped in favour of a fallback: a model that silently lost its class names or its
/// preview would look like it loaded fine.
enum MetadataRules {
    static func fail(_ w: WeightSource, _ key: String, expected: String, got: String) -> WeightsError {
        WeightsError(.invalidJSON, file: w.path, "metadata '\(key)': expected \(expected), got \(got)")
    }

    static func parse(_ text: String) -> JSON? { Array(text.utf8).withUnsafeBytes { try? JSON.parse($0) } }

    /// What a value is, in words, for "got …".
    static func describe(_ v: JSON?) -> String {
        switch v {
        case nil: "text that is not JSON"
        case .null?: "null"
        case .bool?: "a boolean"
        case .int?, .double?: "a number"
        case .string?: "a string"
        case .array(let a)?: "an array of \(a.count) entries"
        case .object?: "an object"
        }
    }

    /// `classes`: a JSON array of exactly `count` strings; nil when the key is absent.
    static func classes(_ w: WeightSource, count: Int) throws -> [String]? {
        guard let text = w.metadata["classes"] else { return nil }
        let expected = "a JSON array of strings, one per class (\(count))"
        let value = parse(text)
        guard case .array(let items)? = value else { throw fail(w, "classes", expected: expected, got: describe(value)) }
        var names: [String] = []
        for (i, item) in items.enumerated() {
            guard case .string(let name) = item else {
                throw fail(w, "classes", expected: expected, got: "\(describe(item)) at index \(i)")
            }
            names.append(name)
        }
        guard names.count == count else { throw fail(w, "classes", expected: expected, got: "\(names.count) strings") }
        return names
    }

    /// `preview`: `[[w_r…], [w_g…], [w_b…], [b_r, b_g, b_b]]`, finite numbers, `channels` weights per colour;
    /// nil when the key is absent.
    static func preview(_ w: WeightSource, channels: Int) throws -> LatentPreview? {
        guard let text = w.metadata["preview"] else { return nil }
        let expected = "a JSON array of 3 rows of \(channels) numbers and a row of 3 biases"
        let value = parse(text)
        guard case .array(let items)? = value, items.count == 4 else {
            throw fail(w, "preview", expected: expected, got: describe(value))
        }
        var rows: [[Float]] = []
        for (r, item) in items.enumerated() {
            let want = r < 3 ? channels : 3
            guard case .array(let cells) = item, cells.count == want else {
                throw fail(w, "preview", expected: expected, got: "\(describe(item)) in row \(r)")
            }
            var row: [Float] = []
            for cell in cells {
                let v: Double
                switch cell {
                case .int(let i): v = Double(i)
                case .double(let d): v = d
                default: throw fail(w, "preview", expected: expected, got: "\(describe(cell)) in row \(r)")
                }
                guard v.isFinite, Float(v).isFinite else {
                    throw fail(w, "preview", expected: expected, got: "a number beyond Float's range in row \(r)")
                }
                row.append(Float(v))
            }
            rows.append(row)
        }
        return LatentPreview(weights: Array(rows[0..<3]), bias: rows[3])
    }

    /// `tokenizer`: a file name or path, not empty, no NUL.
    static func tokenizer(_ w: WeightSource) throws -> String? {
        guard let name = w.metadata["tokenizer"] else { return nil }
        guard !name.isEmpty, !name.contains("\0"), !name.hasSuffix("/") else {
            throw fail(w, "tokenizer", expected: "the tokenizer's file name or path", got: "'\(name)'")
        }
        return name
    }

    /// `family`: one of `ModelFamily.all`.
    static func family(_ w: WeightSource) throws -> ModelFamily? {
        guard let name = w.metadata["family"] else { return nil }
        guard let f = ModelFamily.named(name) else {
            let known = ModelFamily.all.map(\.name).joined(separator: ", ")
            throw fail(w, "family", expected: "one of \(known)", got: "'\(name)'")
        }
        return f
    }
}
