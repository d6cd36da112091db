/// Element types, spelled as in the safetensors header.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    public var size: Int {
        switch self {
        case .f64, .i64: 8
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .i8, .u8, .bool: 1
        }
    }

    public var isFloatingPoint: Bool { self == .f64 || self == .f32 || self == .f16 || self == .bf16 }
    public var description: String { rawValue }
}

/// Element conversions. Sources may be unaligned (safetensors offsets are arbitrary), so every load is
/// `loadUnaligned`; all formats here are little-endian, like every machine we run on.
enum ElementCodec {
    static func floats(_ src: UnsafeRawBufferPointer, _ dtype: DType, count n: Int) -> [Float] {
        guard n > 0, let p = src.baseAddress else { return [] }
        return [Float](unsafeUninitializedCapacity: n) { out, initialized in
            switch dtype {
            case .f32: out.baseAddress!.withMemoryRebound(to: UInt8.self, capacity: n * 4) {
                $0.update(from: p.assumingMemoryBound(to: UInt8.self), count: n * 4)
            }
            case .f64: for i in 0..<n { out[i] = Float(p.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            case .f16: for i in 0..<n { out[i] = Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case .bf16: for i in 0..<n { out[i] = Float(bitPattern: UInt32(p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
            case .i64: for i in 0..<n { out[i] = Float(p.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
            case .i32: for i in 0..<n { out[i] = Float(p.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
            case .i16: for i in 0..<n { out[i] = Float(p.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)) }
            case .i8: for i in 0..<n { out[i] = Float(p.load(fromByteOffset: i, as: Int8.self)) }
            case .u8: for i in 0..<n { out[i] = Float(p.load(fromByteOffset: i, as: UInt8.self)) }
            case .bool: for i in 0..<n { out[i] = p.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
            }
            initialized = n
        }
    }

    /// Integer view; nil for floating-point dtypes (a float buffer is never silently truncated).
    static func ints(_ src: UnsafeRawBufferPointer, _ dtype: DType, count n: Int) -> [Int]? {
        guard n > 0, let p = src.baseAddress else { return dtype.isFloatingPoint ? nil : [] }
        switch dtype {
        case .i64: return (0..<n).map { Int(p.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        case .i32: return (0..<n).map { Int(p.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        case .i16: return (0..<n).map { Int(p.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self)) }
        case .i8: return (0..<n).map { Int(p.load(fromByteOffset: $0, as: Int8.self)) }
        case .u8: return (0..<n).map { Int(p.load(fromByteOffset: $0, as: UInt8.self)) }
        case .bool: return (0..<n).map { p.load(fromByteOffset: $0, as: UInt8.self) != 0 ? 1 : 0 }
        case .f64, .f32, .f16, .bf16: return nil
        }
    }

    /// Encodes floats as F32, F16 (round to nearest even, overflow → ±inf, as torch's `.half()`)
    /// or BF16 (round to nearest even, as torch's `.bfloat16()`).
    static func encode(_ values: [Float], as dtype: DType) -> [UInt8]? {
        switch dtype {
        case .f32:
            return values.withUnsafeBytes { [UInt8]($0) }
        case .f16:
            var out = [UInt8](repeating: 0, count: values.count * 2)
            out.withUnsafeMutableBytes { raw in
                for (i, v) in values.enumerated() { raw.storeBytes(of: Float16(v).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            }
            return out
        case .bf16:
            var out = [UInt8](repeating: 0, count: values.count * 2)
            out.withUnsafeMutableBytes { raw in
                for (i, v) in values.enumerated() { raw.storeBytes(of: bf16Bits(v).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
            }
            return out
        default:
            return nil
        }
    }

    static func bf16Bits(_ v: Float) -> UInt16 {
        let b = v.bitPattern
        if v.isNaN { return UInt16(b >> 16) | 0x0040 }  // keep it a (quiet) NaN after truncation
        return UInt16((b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
    }
}
