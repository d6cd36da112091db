import Foundation
import ScalewiseEngine

/// Refuses, before any model loads, an output the write at the end would refuse: a path that is not a regular
/// file, a folder that is missing, not a folder or not writable, an existing file without `--force`. The write
/// itself stays atomic and checks again (`SafeOpen`).
func checkOutput(_ path: String, force: Bool) throws {
    if path == "-" {
        guard isatty(STDOUT_FILENO) == 0 else {
            throw EngineError.badArgument("-o - writes the PNG to standard output, which is a terminal here; redirect it or name a file")
        }
        return
    }
    let parent = (path as NSString).deletingLastPathComponent
    if let problem = folderProblem(parent.isEmpty ? "." : parent) { throw EngineError.badArgument("\(path): \(problem)") }
    if let problem = SafeOpen.outputProblem(path) { throw EngineError.badArgument("\(path): \(problem)") }
    if !force && FileManager.default.fileExists(atPath: path) {
        throw EngineError.badArgument("\(path) exists; use --force to overwrite")
    }
}

/// Why files cannot be made in `dir`, or nil when they can.
func folderProblem(_ dir: String) -> String? {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else { return "the folder \(dir) does not exist" }
    guard isDir.boolValue else { return "\(dir) is not a folder" }
    guard access(dir, W_OK | X_OK) == 0 else { return "the folder \(dir) is not writable" }
    return nil
}

/// A folder `sample` writes into: an existing writable folder, or one it can make (its nearest existing
/// ancestor a writable folder).
func checkOutputFolder(_ dir: String) throws {
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
        if let problem = folderProblem(dir) { throw EngineError.badArgument(isDir.boolValue ? problem : "\(dir) is not a folder") }
        return
    }
    var ancestor = (dir as NSString).deletingLastPathComponent
    while !ancestor.isEmpty && ancestor != "/" && !FileManager.default.fileExists(atPath: ancestor) {
        ancestor = (ancestor as NSString).deletingLastPathComponent
    }
    if let problem = folderProblem(ancestor.isEmpty ? "." : ancestor) { throw EngineError.badArgument("\(dir): \(problem)") }
}

/// Writes a PNG with its text chunks to `path`, atomically; `-` is standard output (checked by `checkOutput` not
/// to be a terminal), for pipes such as `scalewise generate … -o - | display`.
func writePNG(_ image: RGBImage, text: [(String, String)], to path: String, overwrite: Bool) throws {
    guard path == "-" else { return try PNG.write(image, text: text, to: path, overwrite: overwrite) }
    // libpng writes to files: the PNG is made in a private temporary file, then copied out.
    let temp = NSTemporaryDirectory() + "scalewise-stdout-\(UUID().uuidString).png"
    defer { try? FileManager.default.removeItem(atPath: temp) }
    try PNG.write(image, text: text, to: temp)
    try FileHandle.standardOutput.write(contentsOf: try Data(contentsOf: URL(fileURLWithPath: temp)))
}
