import Foundation

/// A weight file named by path (`-m /some/path/model.safetensors`, `--tokenizer FILE`), as a PNG's record keeps
/// it: the absolute path and the size in bytes. `--from-png` loads it from there again when a file of that size
/// is still there; a model loaded by name from the search paths needs neither (its name finds it).
public struct ModelFile: Codable, Sendable, Equatable {
    public var path: String
    public var bytes: Int

    public init(path: String, bytes: Int) {
        self.path = path
        self.bytes = bytes
    }

    /// The file at `path` as it is now; nil when it cannot be read.
    public init?(at path: String) {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard let size = (try? FileManager.default.attributesOfItem(atPath: absolute))?[.size] as? NSNumber else { return nil }
        self.init(path: absolute, bytes: size.intValue)
    }

    /// The recorded file's path, when the same file is still there: the size tells a file replaced by another
    /// apart (a different model must never be loaded silently). `what` names the record field and `flag` the
    /// flag that overrides it, for the one-line error.
    public func located(field: String, flag: String, record path: String) throws -> String {
        let source = SamplingRules.Source.record(path)
        guard let now = ModelFile(at: self.path) else {
            throw InputError("record field '\(field)' names \(self.path) (\(bytes) bytes), which is not there any more "
                             + "(from \(source)); pass \(flag) with that file")
        }
        guard now.bytes == bytes else {
            throw InputError("record field '\(field)' names \(self.path) of \(bytes) bytes, but the file there now has "
                             + "\(now.bytes) bytes (from \(source)); pass \(flag) with the file the image was made with")
        }
        return self.path
    }
}
