import Foundation

/// The weights' hashes in a record: checked as read, and against the files a replay is about to use. Same
/// weights, parameters, precision and seed make the same image; a file of the same name, path and size with
/// other bytes would make another one silently.
extension GenerationRecord {
    /// `model_sha256` and `tokenizer_sha256`, when present, are 64 lowercase hex digits.
    func checkHashes(source: SamplingRules.Source) throws {
        for (field, value) in [("model_sha256", modelSHA256), ("tokenizer_sha256", tokenizerSHA256)] {
            guard let h = value, !FileDigest.isSHA256(h) else { continue }
            let shown = h.count > 70 ? String(h.prefix(70)) + "…" : h
            throw InputError("record field '\(field)' must be a SHA-256 as 64 lowercase hex digits, got '\(shown)' from \(source)")
        }
    }

    /// The first recorded hash that the generator's files do not have, as a one-line message that ends in
    /// `remedy` (what to pass or do); nil when they match or the record has none. `model` and `tokenizer` say
    /// which files come from the record (a file the user named is theirs to choose).
    public func fileMismatch(_ generator: Generator, model: Bool, tokenizer: Bool, path: String,
                             remedy: (_ field: String) -> String) -> String? {
        let info = generator.info
        let checks = [("model_sha256", model, modelSHA256, info.sha256, info.path ?? generator.name),
                      ("tokenizer_sha256", tokenizer, tokenizerSHA256, info.tokenizerSHA256,
                       info.tokenizerPath ?? "\(generator.name)'s tokenizer")]
        for (field, applies, recorded, now, file) in checks where applies {
            guard let r = recorded, r != now else { continue }
            let found = now.map { "\(file) has SHA-256 \($0.prefix(12))…" } ?? "\(file) is inside the model's own file"
            return "record field '\(field)' is \(r.prefix(12))…, but \(found) (from \(SamplingRules.Source.record(path))); "
                + remedy(field)
        }
        return nil
    }

    /// `fileMismatch` as the command line's error: the flag to pass names the file the image was made with.
    public func checkFiles(_ generator: Generator, model: Bool, tokenizer: Bool, path: String, modelFlag: String) throws {
        if let message = fileMismatch(generator, model: model, tokenizer: tokenizer, path: path, remedy: { field in
            "pass \(field == "model_sha256" ? modelFlag : "--tokenizer") with the file the image was made with"
        }) {
            throw InputError(message)
        }
    }
}
