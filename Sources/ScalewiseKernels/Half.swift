// Bulk conversions between Float32 and the 16-bit formats checkpoints use. Pure integer/float bit
// manipulation without branches, so the loops vectorise; Swift's `Float16` conversions are per-element
// compiler-rt calls on baseline x86-64 (no F16C).

/// IEEE binary16 bit patterns → Float (exact for every input, subnormals, ±inf and NaN payloads included).
public func f16ToF32(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count n: Int) {
    for i in 0..<n {
        let h = UInt32(src[i])
        let magnitude = (h & 0x7fff) << 13  // exponent+mantissa moved to float position, bias still 15
        // Rebias by multiplying with 2^112 (= 2^(127−15)); this also normalises subnormals exactly.
        let scaled = Float(bitPattern: magnitude) * 0x1p112
        let special = Float(bitPattern: magnitude | 0x7f80_0000)  // inf/NaN: max exponent, same payload
        let value = (h & 0x7c00) == 0x7c00 ? special : scaled
        dst[i] = Float(bitPattern: value.bitPattern | ((h & 0x8000) << 16))
    }
}

/// bfloat16 bit patterns → Float: bf16 is the upper half of a float32.
public func bf16ToF32(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count n: Int) {
    for i in 0..<n { dst[i] = Float(bitPattern: UInt32(src[i]) << 16) }
}

/// Float → IEEE binary16 bit patterns, round to nearest even; overflow gives ±inf, NaN stays a (quiet) NaN.
public func f32ToF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count n: Int) {
    for i in 0..<n {
        let bitsIn = src[i].bitPattern
        let sign = (bitsIn >> 16) & 0x8000
        let a = bitsIn & 0x7fff_ffff
        var out: UInt32
        if a >= 0x4780_0000 {
            // |x| ≥ 65536 (beyond the rounding range of 65504) or inf/NaN.
            out = a > 0x7f80_0000 ? 0x7e00 | ((a >> 13) & 0x3ff) : 0x7c00
        } else if a < 0x3880_0000 {
            // Below the smallest normal half (2^−14): adding 0.5 makes the FPU round the mantissa
            // to a multiple of 2^−24 with round-to-nearest-even, then the low bits are the half subnormal.
            let f = Float(bitPattern: a) + 0.5
            out = f.bitPattern &- Float(0.5).bitPattern
        } else {
            // Normal: rebias the exponent and round the 13 dropped bits to nearest even.
            let odd = (a >> 13) & 1
            out = (a &+ 0xc800_0fff &+ odd) >> 13  // 0xc8000000 = (15 − 127) << 23
        }
        dst[i] = UInt16(truncatingIfNeeded: out | sign)
    }
}

public func f16ToF32(_ src: [UInt16]) -> [Float] {
    [Float](unsafeUninitializedCapacity: src.count) { buf, n in
        f16ToF32(src, buf.baseAddress!, count: src.count); n = src.count
    }
}

public func bf16ToF32(_ src: [UInt16]) -> [Float] {
    [Float](unsafeUninitializedCapacity: src.count) { buf, n in
        bf16ToF32(src, buf.baseAddress!, count: src.count); n = src.count
    }
}

public func f32ToF16(_ src: [Float]) -> [UInt16] {
    [UInt16](unsafeUninitializedCapacity: src.count) { buf, n in
        f32ToF16(src, buf.baseAddress!, count: src.count); n = src.count
    }
}
