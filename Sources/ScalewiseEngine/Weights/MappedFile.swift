import Foundation

/// A whole file mapped read-only. Weights are read straight from the page cache, so opening a
/// multi-gigabyte checkpoint costs nothing until a tensor is touched.
/// `@unchecked Sendable`: the mapping is read-only and lives as long as the object, but it is reached through a raw
/// pointer, which the compiler cannot check.
final class MappedFile: @unchecked Sendable {
    let path: String
    let count: Int
    private let base: UnsafeRawPointer?

    init(path: String) throws {
        self.path = path
        // Non-blocking open, then regular files only: a FIFO or device must not hang the program.
        let (fd, size): (Int32, Int)
        switch SafeOpen.openInput(path) {
        case .success(let r): (fd, size) = r
        case .failure(let e): throw WeightsError(.io, file: path, e.detail)
        }
        defer { close(fd) }
        count = size
        if count == 0 {
            base = nil  // mmap refuses length 0; an empty file is rejected later as "too short"
        } else {
            let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
            guard let p, p != MAP_FAILED else { throw WeightsError(.io, file: path, "cannot mmap: \(errnoText())") }
            base = UnsafeRawPointer(p)
        }
    }

    /// A copy of `bytes` in an anonymous read-only mapping, read as a file named `path` would be: how the
    /// parsers' fuzz harness (tools/fuzz) feeds the zip and safetensors readers without touching the disk.
    init(copying bytes: UnsafeRawBufferPointer, path: String) throws {
        self.path = path
        count = bytes.count
        guard count > 0, let source = bytes.baseAddress else { base = nil; return }
        let p = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { throw WeightsError(.io, file: path, "cannot map \(count) bytes: \(errnoText())") }
        p.copyMemory(from: source, byteCount: count)
        mprotect(p, count, PROT_READ)
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// The bytes `offset ..< offset+length`, or nil when any part lies outside the file.
    func bytes(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer? {
        guard offset >= 0, length >= 0, offset <= count, length <= count - offset else { return nil }
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + offset, count: length)
    }

    /// Drops the pages of a range that has been converted, so loading a multi-gigabyte checkpoint into
    /// F32 tensors does not also keep the whole mapping resident (peak RSS ≈ the tensors, not twice that).
    /// The mapping is read-only and file-backed: a later read simply faults the pages back in.
    func release(_ offset: Int, _ length: Int) {
        guard let base, length > 0, offset >= 0, offset + length <= count else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (offset + page - 1) / page * page, end = (offset + length) / page * page
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    /// Little-endian unsigned integer of `width` bytes at `offset`, nil when out of range.
    func uint(at offset: Int, width: Int) -> UInt64? {
        guard let b = bytes(offset, width) else { return nil }
        var v: UInt64 = 0
        var i = width
        while i > 0 {
            i -= 1
            v = v << 8 | UInt64(b[i])
        }
        return v
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }

/// Overflow-checked arithmetic for sizes read from untrusted files: Swift traps on overflow, and a
/// trap is a crash, so every size computed from file contents goes through these.
enum Checked {
    static func mul(_ a: Int, _ b: Int) -> Int? {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        return o ? nil : r
    }
    static func add(_ a: Int, _ b: Int) -> Int? {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? nil : r
    }
    /// Product of the dims; nil when a dim is negative or the product overflows.
    static func numel(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0, let m = mul(n, d) else { return nil }
            n = m
        }
        return n
    }
}
