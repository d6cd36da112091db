import CPNG
import Foundation

/// NumPy's `.npz` holding one uint8 array `arr_0` of shape N×H×W×3: the sample batch the ADM/VAR FID evaluator
/// reads (`np.load(path)["arr_0"]`, guided-diffusion `evaluations/evaluator.py`). An npz is a zip archive of `.npy`
/// files; this one holds `arr_0.npy` stored (no compression) with ZIP64 sizes, so batches beyond 4 GiB (50 000
/// images at 256 px are 9.8 GB) are read like small ones. Images are streamed in one at a time; the file is
/// written atomically (`AtomicFile`).
public enum NPZ {
    /// Writes `count` images of `width`×`height`, image i from `image(i)`.
    public static func writeImages(count: Int, width: Int, height: Int, to path: String, overwrite: Bool = false,
                                   image: (Int) throws -> RGBImage) throws {
        let npyHeader = header(shape: [count, height, width, 3])
        let dataBytes = UInt64(npyHeader.count) + UInt64(count) * UInt64(width * height * 3)
        let name = Array("arr_0.npy".utf8)
        try AtomicFile.write(to: path, overwrite: overwrite) { fd, _ in
            // Local file header with ZIP64 sizes; the CRC is filled in once the data is written.
            var local = le32(0x0403_4b50) + le16(45) + le16(0) + le16(0) + le16(0) + le16(0x21)
            let crcOffset = UInt64(local.count)
            local += le32(0) + le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF) + le16(name.count) + le16(20) + name
            local += le16(0x0001) + le16(16) + le64(dataBytes) + le64(dataBytes)
            try put(fd, local, path)
            var crc = crc32(0, nil, 0)
            func stream(_ bytes: [UInt8]) throws {
                crc = bytes.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
                try put(fd, bytes, path)
            }
            try stream(npyHeader)
            for i in 0..<count {
                let img = try image(i)
                guard img.width == width && img.height == height else {
                    throw FileWriteError.io(path, "image \(i) is \(img.width)×\(img.height), not \(width)×\(height)")
                }
                try stream(img.pixels)
            }
            let crcBytes = le32(Int(crc))
            guard crcBytes.withUnsafeBytes({ pwrite(fd, $0.baseAddress, 4, off_t(crcOffset)) }) == 4 else {
                throw FileWriteError.io(path, "write failed")
            }
            // Central directory (one entry), ZIP64 end record and locator, end record.
            let cdOffset = UInt64(local.count) + dataBytes
            var central = le32(0x0201_4b50) + le16(45) + le16(45) + le16(0) + le16(0) + le16(0) + le16(0x21)
            central += crcBytes + le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF) + le16(name.count) + le16(28) + le16(0)
            central += le16(0) + le16(0) + le32(0) + le32(0xFFFF_FFFF) + name
            central += le16(0x0001) + le16(24) + le64(dataBytes) + le64(dataBytes) + le64(0)
            let end64Offset = cdOffset + UInt64(central.count)
            var tail = le32(0x0606_4b50) + le64(44) + le16(45) + le16(45) + le32(0) + le32(0) + le64(1) + le64(1)
            tail += le64(UInt64(central.count)) + le64(cdOffset)
            tail += le32(0x0706_4b50) + le32(0) + le64(end64Offset) + le32(1)
            tail += le32(0x0605_4b50) + le16(0) + le16(0) + le16(1) + le16(1) + le32(central.count)
            tail += le32(0xFFFF_FFFF) + le16(0)
            try put(fd, central + tail, path)
        }
    }

    /// The `.npy` (format 1.0) header of a C-order uint8 array, padded so the data starts 64-byte aligned.
    static func header(shape: [Int]) -> [UInt8] {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (\(dims)), }"
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        return [0x93] + Array("NUMPY".utf8) + [1, 0] + le16(dict.utf8.count) + Array(dict.utf8)
    }

    private static func put(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws {
        try bytes.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: path) }
    }

    private static func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    private static func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
    private static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8((v >> (8 * UInt64($0))) & 0xFF) } }
}
