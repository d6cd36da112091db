// The arithmetic a model's linear layers run in. fp32 is the exact reference path (OpenBLAS); bf16 and int8
// hold the weights in that format and run oneDNN's matrix products (LowPrecisionLinear.swift).
import CDNNL

public enum Precision: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Float32 weights and OpenBLAS sgemm: the reference every parity test checks.
    case fp32
    /// bfloat16 weights and activations, float32 accumulation (oneDNN, AVX512-BF16 or AMX).
    case bf16
    /// int8 weights with one scale per output row, activations quantised per token (oneDNN, VNNI).
    case int8

    public var description: String { rawValue }

    /// Bytes per weight element as held in memory (scales and padding aside).
    public var weightBytes: Int {
        switch self {
        case .fp32: 4
        case .bf16: 2
        case .int8: 1
        }
    }

    /// What oneDNN runs on this CPU, from its own dispatcher (the ISA it would JIT for).
    public static var cpuISA: String {
        let isa = dnnl_get_effective_cpu_isa().rawValue
        if isa & dnnl_cpu_isa_avx512_core_amx.rawValue == dnnl_cpu_isa_avx512_core_amx.rawValue { return "AMX" }
        if isa & dnnl_cpu_isa_avx512_core_bf16.rawValue == dnnl_cpu_isa_avx512_core_bf16.rawValue { return "AVX512-BF16" }
        if isa & dnnl_cpu_isa_avx512_core_vnni.rawValue == dnnl_cpu_isa_avx512_core_vnni.rawValue { return "AVX512-VNNI" }
        if isa & dnnl_cpu_isa_avx2_vnni.rawValue == dnnl_cpu_isa_avx2_vnni.rawValue { return "AVX2-VNNI" }
        if isa & dnnl_cpu_isa_avx512_core.rawValue == dnnl_cpu_isa_avx512_core.rawValue { return "AVX-512" }
        if isa & dnnl_cpu_isa_avx2.rawValue == dnnl_cpu_isa_avx2.rawValue { return "AVX2" }
        return isa == 0 ? "baseline" : "SSE4.1/AVX"
    }

    /// Whether this CPU multiplies bf16 natively (AVX512_BF16 or AMX). Elsewhere oneDNN's bf16 products are
    /// emulated and slower than fp32.
    public static var nativeBF16: Bool { ["AMX", "AVX512-BF16"].contains(cpuISA) }

    /// `auto`: bf16 where the CPU computes it natively, fp32 elsewhere; with the reason, for `bench` and `info`.
    public static func automatic() -> (precision: Precision, reason: String) {
        nativeBF16 ? (.bf16, "auto: \(cpuISA) computes bf16 natively")
                   : (.fp32, "auto: \(cpuISA) has no native bf16 (AVX512_BF16 or AMX)")
    }

    /// Parses `auto|fp32|bf16|int8`; nil for anything else.
    public static func resolve(_ text: String) -> (precision: Precision, reason: String)? {
        if text == "auto" { return automatic() }
        guard let p = Precision(rawValue: text) else { return nil }
        if p == .bf16 && !nativeBF16 { return (p, "requested; \(cpuISA) emulates bf16 (slower than fp32)") }
        return (p, "requested")
    }
}
