import Foundation

/// Every problem with a weights file, as a single line that names the file (and the tensor when there
/// is one), so the CLI can print `description` verbatim and a script can grep it.
public struct WeightsError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    public enum Kind: String, Sendable, Equatable {
        case io, fileTooShort, badHeader, invalidJSON, unknownDType, badShape, badOffsets
        case missingKey, wrongShape, wrongDType, badZip, unsupported, badPickle, noStateDict, badArgument
    }

    public let kind: Kind
    public let file: String
    public let key: String?
    public let detail: String

    public init(_ kind: Kind, file: String, key: String? = nil, _ detail: String) {
        self.kind = kind
        self.file = file
        self.key = key
        self.detail = detail
    }

    public var description: String {
        var line = Self.sanitized(file) + ": "
        if let key { line += "tensor '\(Self.sanitized(key))': " }
        return line + Self.sanitized(detail)
    }

    public var errorDescription: String? { description }

    /// Keys and messages can come from hostile files: keep the message on one line and of sane length.
    static func sanitized(_ s: String, limit: Int = 300) -> String { terminalSafe(s, limit: limit) }
}
