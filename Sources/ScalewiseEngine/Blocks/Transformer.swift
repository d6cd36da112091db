import Foundation
import ScalewiseKernels

/// PyTorch `nn.Linear`: y = x·Wᵀ + b, W stored [out, in], held in the precision the weights were loaded for
/// (`WeightSource.linearPrecision`); the bias stays fp32.
///
/// int8 is for the bulk of the work only — attention's qkv and output projections, the FFN, Mamba's output
/// projection — which callers mark with `int8: true`. The layers whose errors the network amplifies (the
/// vocabulary head, AdaLN modulation, embeddings, Mamba's input projection that produces Δ, B and C) stay in
/// bf16 when int8 is asked for, as LLM.int8() and SmoothQuant keep their sensitive parts in 16 bits; they are
/// a few percent of the FLOPs.
struct Linear {
    let weight: PackedWeight
    let bias: Tensor?  // [out]

    init(_ w: WeightSource, _ prefix: String, cin: Int, cout: Int, bias hasBias: Bool = true, int8: Bool = false) throws {
        weight = PackedWeight(try param(w, prefix + ".weight", [cout, cin]), precision: Linear.precision(w, int8: int8))
        bias = hasBias ? try param(w, prefix + ".bias", [cout]) : nil
    }

    init(weight: Tensor, bias: Tensor?, precision: Precision, int8: Bool = false) {
        self.weight = PackedWeight(weight, precision: precision == .int8 && !int8 ? .bf16 : precision)
        self.bias = bias
    }

    static func precision(_ w: WeightSource, int8: Bool) -> Precision {
        w.linearPrecision == .int8 && !int8 ? .bf16 : w.linearPrecision
    }

    var cout: Int { weight.outFeatures }
    var cin: Int { weight.inFeatures }

    func callAsFunction(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        weight.apply(x, rows: rows, bias: bias?.ptr, out: y)
    }
}

/// VAR's `SelfAttention` projections: fused q/k/v weight without bias, the bias being
/// [q_bias; 0; v_bias]; q and k L2-normalised per head, q scaled by exp(min(scale_mul, ln 100)) with a
/// softmax scale of 1. Checkpoints from before April 2024 lack `scale_mul_1H11`: plain attention, scale 1/32.
struct SelfAttention {
    let qkv: Linear  // [3C, C]
    let proj: Linear  // [C, C]
    let heads: Int, headDim: Int
    /// exp(min(scale_mul_h, ln 100)) per head, or nil for the legacy un-normalised attention.
    let headScale: [Float]?

    init(_ w: WeightSource, _ prefix: String, C: Int, heads: Int) throws {
        self.heads = heads
        headDim = C / heads
        let qb = try w.floats(prefix + ".q_bias", shape: [C])
        let vb = try w.floats(prefix + ".v_bias", shape: [C])
        qkv = Linear(weight: try param(w, prefix + ".mat_qkv.weight", [3 * C, C]),
                     bias: Tensor(shape: [3 * C], data: qb + [Float](repeating: 0, count: C) + vb), precision: w.linearPrecision, int8: true)
        proj = try Linear(w, prefix + ".proj", cin: C, cout: C, int8: true)
        if w.has(prefix + ".scale_mul_1H11") {
            let s = try w.floats(prefix + ".scale_mul_1H11", shape: [1, heads, 1, 1])
            headScale = s.map { Float(exp(Double(min($0, Float(log(100.0)))))) }
        } else {
            headScale = nil
        }
    }

    /// Softmax scale applied to q·k.
    var scale: Float { headScale == nil ? 0.25 / Float(headDim).squareRoot() : 1 }

    /// Normalises q and k in place in a [n, 3C] qkv buffer (no-op for legacy checkpoints).
    func normalizeQK(_ buf: UnsafeMutablePointer<Float>, rows n: Int) {
        guard let hs = headScale else { return }
        hs.withUnsafeBufferPointer { ScalewiseKernels.normalizeQK(buf, rows: n, heads: heads, headDim: headDim, qScale: $0.baseAddress!) }
    }
}

/// The official `AdaLNSelfAttn` block: x += γ1·Attn(LN(x)(1+s1)+b1); x += γ2·FFN(LN(x)(1+s2)+b2).
/// M-VAR's block puts x += γ2·Mamba2(LN(x)(1+s2)+b2) over the whole token history
/// between the two, and its AdaLN gives 9C: γ1 γ2 γ3, s1 s2 s3, b1 b2 b3 — γs, scales, shifts, one per sublayer.
struct AdaLNBlock {
    let adaLin: Linear  // [6C, C] (VAR) or [9C, C] (M-VAR)
    let attn: SelfAttention
    /// M-VAR's `mamba.*`, present when the checkpoint has it.
    let mamba: Mamba2?
    let fc1: Linear, fc2: Linear  // [4C, C], [C, 4C]
    let C: Int
    let eps: Float

    init(_ w: WeightSource, _ prefix: String, C: Int, heads: Int, mlpRatio: Double, eps: Float) throws {
        self.C = C
        self.eps = eps
        mamba = w.has(prefix + ".mamba.in_proj.weight") ? try Mamba2(w, prefix + ".mamba", dModel: C) : nil
        adaLin = try Linear(w, prefix + ".ada_lin.1", cin: C, cout: (mamba == nil ? 6 : 9) * C)
        attn = try SelfAttention(w, prefix + ".attn", C: C, heads: heads)
        let hidden = Int((Double(C) * mlpRatio).rounded())
        fc1 = try Linear(w, prefix + ".ffn.fc1", cin: C, cout: hidden, int8: true)
        fc2 = try Linear(w, prefix + ".ffn.fc2", cin: hidden, cout: C, int8: true)
    }

    /// Residual sublayers: attention, (Mamba,) FFN.
    var sublayers: Int { mamba == nil ? 2 : 3 }

    /// The modulation vectors for each conditioning row: [rows, 3·sublayers·C]. Constant for a whole image, so
    /// a session computes them once instead of once per scale as upstream does.
    func modulation(_ condSiLU: Tensor) -> Tensor {
        let rows = condSiLU.shape[0]
        let m = Tensor(shape: [rows, adaLin.cout])
        adaLin(condSiLU.ptr, rows: rows, into: m.ptr)
        return m
    }
}

extension AdaLNBlock {
    /// Runs the block on `x` [rows·l, C] (row-major by conditioning row, then token).
    /// `attend(qkv, o)` computes the attention output of every row from the normalised qkv buffer —
    /// the only part in which VAR (KV cache), MVAR (local/neighbourhood) and others differ. `recurrent` is the
    /// Mamba sublayer's state (advanced in place over these tokens) and scratch, required when it has one.
    func forward(_ x: Tensor, rows: Int, tokens l: Int, mod: Tensor, h: Tensor, qkv: Tensor, o: Tensor, hidden: Tensor,
                 recurrent: (state: Mamba2State, work: Mamba2Workspace)? = nil,
                 attend: (_ qkv: UnsafeMutablePointer<Float>, _ o: UnsafeMutablePointer<Float>) -> Void) {
        let n = rows * l, k = sublayers
        // In bf16 the normalised rows are written as the linear layer's bf16 source (in h's storage).
        let hHalf = UnsafeMutableRawPointer(h.ptr).assumingMemoryBound(to: UInt16.self)
        if attn.qkv.weight.precision == .bf16 {
            modulatedNorm(x, rows: rows, tokens: l, mod: mod, sublayer: 0, bf16: hHalf)
            attn.qkv.weight.apply(bf16: hHalf, rows: n, bias: attn.qkv.bias?.ptr, out: qkv.ptr)
        } else {
            modulatedNorm(x, rows: rows, tokens: l, mod: mod, sublayer: 0, into: h)
            attn.qkv(h.ptr, rows: n, into: qkv.ptr)
        }
        attn.normalizeQK(qkv.ptr, rows: n)
        attend(qkv.ptr, o.ptr)
        attn.proj(o.ptr, rows: n, into: h.ptr)
        gatedAdd(x, h, rows: rows, tokens: l, mod: mod, sublayer: 0)
        if let mamba {
            guard let r = recurrent else { preconditionFailure("a Mamba block needs its recurrent state") }
            modulatedNorm(x, rows: rows, tokens: l, mod: mod, sublayer: 1, into: h)
            mamba(h.ptr, rows: rows, tokens: l, state: r.state, scan: .chunked(Mamba2.defaultChunk), work: r.work,
                  into: o.ptr)
            gatedAdd(x, o, rows: rows, tokens: l, mod: mod, sublayer: 1)
        }
        if fc1.weight.precision == .bf16 && fc2.weight.precision == .bf16 {
            // GELU applied by fc1 as it writes, in bf16: fc2's source without two more passes over [n, 4C].
            modulatedNorm(x, rows: rows, tokens: l, mod: mod, sublayer: k - 1, bf16: hHalf)
            let half = UnsafeMutableRawPointer(hidden.ptr).assumingMemoryBound(to: UInt16.self)
            fc1.weight.applyGELU(bf16: hHalf, rows: n, bias: fc1.bias?.ptr, out: half)
            fc2.weight.apply(bf16: half, rows: n, bias: fc2.bias?.ptr, out: h.ptr)
        } else {
            modulatedNorm(x, rows: rows, tokens: l, mod: mod, sublayer: k - 1, into: h)
            fc1(h.ptr, rows: n, into: hidden.ptr)
            geluTanh(hidden.ptr, count: n * fc1.cout)
            fc2(hidden.ptr, rows: n, into: h.ptr)
        }
        gatedAdd(x, h, rows: rows, tokens: l, mod: mod, sublayer: k - 1)
    }

    /// LN(x)·(1 + scale) + shift with the sublayer's scale and shift chunks.
    private func modulatedNorm(_ x: Tensor, rows: Int, tokens l: Int, mod: Tensor, sublayer i: Int, into out: Tensor) {
        let k = sublayers
        for r in 0..<rows {
            let m = mod.ptr + r * adaLin.cout
            layerNormModulate(x.ptr + r * l * C, rows: l, channels: C, eps: eps, scale: m + (k + i) * C,
                              shift: m + (2 * k + i) * C, out: out.ptr + r * l * C)
        }
    }

    /// `modulatedNorm` written as bf16 (packed rows).
    private func modulatedNorm(_ x: Tensor, rows: Int, tokens l: Int, mod: Tensor, sublayer i: Int,
                               bf16 out: UnsafeMutablePointer<UInt16>) {
        let k = sublayers
        for r in 0..<rows {
            let m = mod.ptr + r * adaLin.cout
            layerNormModulate(x.ptr + r * l * C, rows: l, channels: C, eps: eps, scale: m + (k + i) * C,
                              shift: m + (2 * k + i) * C, bf16: out + r * l * C)
        }
    }

    /// x += γ ⊙ y with the sublayer's γ chunk.
    private func gatedAdd(_ x: Tensor, _ y: Tensor, rows: Int, tokens l: Int, mod: Tensor, sublayer i: Int) {
        for r in 0..<rows {
            ScalewiseKernels.gatedAdd(y.ptr + r * l * C, gate: mod.ptr + r * adaLin.cout + i * C, into: x.ptr + r * l * C,
                                      rows: l, channels: C)
        }
    }
}

/// `AdaLNBeforeHead` + `head`: logits = head(LN(x)(1+scale)+shift).
struct Head {
    let adaLin: Linear  // [2C, C] → scale, shift
    let head: Linear  // [V, C]
    let C: Int, eps: Float

    init(_ w: WeightSource, C: Int, vocab: Int, eps: Float) throws {
        self.C = C
        self.eps = eps
        adaLin = try Linear(w, "head_nm.ada_lin.1", cin: C, cout: 2 * C)
        head = try Linear(w, "head", cin: C, cout: vocab)
    }

    func modulation(_ condSiLU: Tensor) -> Tensor {
        let m = Tensor(shape: [condSiLU.shape[0], 2 * C])
        adaLin(condSiLU.ptr, rows: condSiLU.shape[0], into: m.ptr)
        return m
    }

    func logits(_ x: Tensor, rows: Int, tokens l: Int, mod: Tensor, scratch: Tensor, into out: Tensor) {
        let bf16 = head.weight.precision == .bf16
        let half = UnsafeMutableRawPointer(scratch.ptr).assumingMemoryBound(to: UInt16.self)
        for r in 0..<rows {
            let m = mod.ptr + r * 2 * C
            if bf16 {
                layerNormModulate(x.ptr + r * l * C, rows: l, channels: C, eps: eps, scale: m, shift: m + C,
                                  bf16: half + r * l * C)
            } else {
                layerNormModulate(x.ptr + r * l * C, rows: l, channels: C, eps: eps, scale: m, shift: m + C,
                                  out: scratch.ptr + r * l * C)
            }
        }
        if bf16 {
            head.weight.apply(bf16: half, rows: rows * l, bias: head.bias?.ptr, out: out.ptr)
        } else {
            head(scratch.ptr, rows: rows * l, into: out.ptr)
        }
    }
}

/// SiLU(x) as a new tensor: the AdaLN linears all read SiLU(cond).
func siluCopy(_ x: Tensor) -> Tensor {
    let y = x.copy()
    silu(y.ptr, count: y.count)
    return y
}
