import Foundation
import ScalewiseKernels

/// Mamba-2, the "SSD" layer (`mamba_ssm.modules.mamba2.Mamba2`), under mamba_ssm's names.
/// Per token u, with a conv window of the last K−1 inputs and a state S [H, P, N] carried between calls:
///   [z; xBC; dt] = in_proj·u;  xBC ← SiLU(causal depthwise conv);  [x; B; C] = xBC;  Δ = softplus(dt + dt_bias)
///   S ← e^{Δ·a}·S + Δ·x ⊗ B  with a = −exp(A_log);   y = S·C + D·x
///   out = out_proj·(RMSNorm(y ⊙ SiLU(z))·norm.weight)   (gate before the norm: norm_before_gate=False)
/// Two execution forms of the scan, which agree to rounding: token by token (`.recurrent`, AiM's sampler) and
/// chunked matrix products over a whole segment (`.chunked`, an M-VAR scale or a prefill), both continuing
/// from and advancing the same state — so a scale's tokens go through BLAS and the state carries on.
struct Mamba2 {
    /// Hyper-parameters, all implied by the weight shapes except `ngroups` (1 in every released model).
    struct Config: Sendable, Equatable {
        var d_model: Int, d_inner: Int, d_state: Int, d_conv: Int, nheads: Int, ngroups = 1
        var headdim: Int { d_inner / nheads }
        /// Channels of x, B and C: the conv's width.
        var convDim: Int { d_inner + 2 * ngroups * d_state }
        var inProjRows: Int { 2 * d_inner + 2 * ngroups * d_state + nheads }
        var ssd: SSDShape { SSDShape(heads: nheads, headDim: headdim, groups: ngroups, dState: d_state) }
    }

    enum Scan {
        case recurrent
        case chunked(Int)
    }

    /// mamba_ssm's Triton kernel uses 256; on a CPU a shorter chunk keeps the T×T products cheap.
    static let defaultChunk = 64

    let config: Config
    let inProj: Linear  // [2E + 2GN + H, d_model]: rows z | x | B | C | dt
    let convTaps: Tensor  // conv1d.weight [E + 2GN, 1, K], stored transposed [K, E + 2GN]
    let convBias: Tensor  // conv1d.bias [E + 2GN]
    let dtBias: Tensor  // dt_bias [H]
    let a: Tensor  // −exp(A_log), A_log [H]
    let D: Tensor  // D [H] (or [E] with D_has_hdim), expanded to [E]
    let normWeight: Tensor  // norm.weight [E]
    let outProj: Linear  // out_proj.weight [d_model, E]

    init(_ w: WeightSource, _ prefix: String, dModel: Int, ngroups: Int = 1) throws {
        let conv = try w.shape(prefix + ".conv1d.weight"), E = try w.shape(prefix + ".out_proj.weight").last ?? 0
        let H = try w.shape(prefix + ".A_log").first ?? 0
        guard conv.count == 3, H > 0, E > 0, E % H == 0, conv[0] > E, conv[2] >= 1, (conv[0] - E) % (2 * ngroups) == 0 else {
            throw WeightsError.mismatch(w.path, "\(prefix): conv1d \(conv), \(H) heads and d_inner \(E) are not a Mamba-2 layer")
        }
        let c = Config(d_model: dModel, d_inner: E, d_state: (conv[0] - E) / (2 * ngroups), d_conv: conv[2], nheads: H,
                       ngroups: ngroups)
        config = c
        inProj = try Linear(w, prefix + ".in_proj", cin: dModel, cout: c.inProjRows, bias: false)
        let taps = try param(w, prefix + ".conv1d.weight", [c.convDim, 1, c.d_conv])
        convTaps = Tensor(shape: [c.d_conv, c.convDim])
        transpose(taps.ptr, rows: c.convDim, cols: c.d_conv, into: convTaps.ptr)
        convBias = try param(w, prefix + ".conv1d.bias", [c.convDim])
        dtBias = try param(w, prefix + ".dt_bias", [H])
        a = Tensor(shape: [H], data: try w.floats(prefix + ".A_log", shape: [H]).map { -exp($0) })
        let d = try w.floats(prefix + ".D")
        guard d.count == H || d.count == E else { throw WeightsError.mismatch(w.path, "\(prefix).D has \(d.count) values") }
        D = Tensor(shape: [E], data: d.count == E ? d : (0..<E).map { d[$0 / c.headdim] })
        normWeight = try param(w, prefix + ".norm.weight", [E])
        outProj = try Linear(w, prefix + ".out_proj", cin: E, cout: dModel, bias: false, int8: true)
    }

    /// out [rows·l, d_model] for u [rows·l, d_model] (row-major by conditioning row, then token); each row
    /// continues from its own state in `state`, which is advanced in place.
    func callAsFunction(_ u: UnsafePointer<Float>, rows: Int, tokens l: Int, state: Mamba2State, scan: Scan,
                        work: Mamba2Workspace, into out: UnsafeMutablePointer<Float>) {
        let c = config, E = c.d_inner, cd = c.convDim, W = c.inProjRows, GN = c.ngroups * c.d_state, n = rows * l
        precondition(state.rows == rows, "Mamba2: state for \(state.rows) rows, called with \(rows)")
        let zxbcdt = work.buffer(0, n * W), xBC = work.buffer(1, n * cd), y = work.buffer(2, n * E)
        inProj(u, rows: n, into: zxbcdt)
        for r in 0..<rows {
            let row = zxbcdt + r * l * W, x = xBC + r * l * cd, dt = row + E + cd
            causalConv1dSiLU(row + E, ld: W, tokens: l, channels: cd, window: state.window(r), taps: convTaps.ptr,
                             kernel: c.d_conv, bias: convBias.ptr, out: x)
            softplusBias(dt, tokens: l, ld: W, bias: dtBias.ptr, count: c.nheads)
            switch scan {
            case .recurrent:
                ssdRecurrent(x: x, B: x + E, C: x + E + GN, ldx: cd, dt: dt, ldDt: W, a: a.ptr, D: D.ptr, shape: c.ssd,
                             tokens: l, state: state.ssm(r), y: y + r * l * E, ldy: E)
            case .chunked(let q):
                ssdChunked(x: x, B: x + E, C: x + E + GN, ldx: cd, dt: dt, ldDt: W, a: a.ptr, D: D.ptr, shape: c.ssd,
                           tokens: l, chunk: q, state: state.ssm(r), y: y + r * l * E, ldy: E)
            }
        }
        gatedRMSNorm(y, z: zxbcdt, ldz: W, rows: n, dim: E, groupSize: E / c.ngroups, weight: normWeight.ptr, eps: 1e-5)
        outProj(y, rows: n, into: out)
    }

    /// Multiply-adds ×2 for `l` tokens of one row with the chunked scan (in/out projections, conv, scan).
    func flops(tokens l: Int, chunk: Int = Mamba2.defaultChunk) -> Double {
        let c = config, L = Double(l), q = Double(min(l, chunk)), N = Double(c.d_state), E = Double(c.d_inner)
        let proj = 2 * L * Double(c.d_model) * Double(c.inProjRows + c.d_inner)
        let scan = 2 * L * (q * N * Double(c.ngroups) + q * E + 2 * N * E)
        return proj + 2 * L * Double(c.convDim * c.d_conv) + scan
    }
}

/// One layer's recurrent state for `rows` conditioning rows: the conv window [rows, K−1, E+2GN] (the last K−1
/// pre-conv xBC vectors, oldest first; mamba_ssm keeps [rows, E+2GN, K] with the current input last) and the
/// SSM state [rows, H, P, N]. Zero at the start of a sequence.
final class Mamba2State {
    let rows: Int, windowSize: Int, stateSize: Int
    let conv: Tensor, ssm: Tensor

    init(_ c: Mamba2.Config, rows: Int) {
        self.rows = rows
        windowSize = (c.d_conv - 1) * c.convDim
        stateSize = c.nheads * c.headdim * c.d_state
        conv = Tensor(shape: [rows, c.d_conv - 1, c.convDim])
        ssm = Tensor(shape: [rows, c.nheads, c.headdim, c.d_state])
    }

    private init(copying s: Mamba2State) {
        rows = s.rows
        windowSize = s.windowSize
        stateSize = s.stateSize
        conv = s.conv.copy()
        ssm = s.ssm.copy()
    }

    func copy() -> Mamba2State { Mamba2State(copying: self) }
    static func bytes(_ c: Mamba2.Config, rows: Int) -> Int {
        4 * rows * ((c.d_conv - 1) * c.convDim + c.nheads * c.headdim * c.d_state)
    }
    func window(_ r: Int) -> UnsafeMutablePointer<Float> { conv.ptr + r * windowSize }
    func ssm(_ r: Int) -> UnsafeMutablePointer<Float> { ssm.ptr + r * stateSize }
    var bytes: Int { 4 * (conv.count + ssm.count) }
}

/// Scratch buffers reused by every Mamba-2 call of a run (grown on demand, never shrunk).
final class Mamba2Workspace {
    private var buffers: [Tensor] = []

    func buffer(_ i: Int, _ count: Int) -> UnsafeMutablePointer<Float> {
        while buffers.count <= i { buffers.append(Tensor(shape: [0])) }
        if buffers[i].count < count { buffers[i] = Tensor(shape: [count]) }
        return buffers[i].ptr
    }
}

/// Every layer's Mamba state for one run, with a snapshot at each step boundary keyed by the number of tokens
/// consumed (as a KV cache's length), so stepping back to any completed step costs nothing.
final class RecurrentStates {
    let layers: [Mamba2.Config], rows: Int
    private var snapshots: [Int: [Mamba2State]] = [:]

    init(layers: [Mamba2.Config], rows: Int) {
        self.layers = layers
        self.rows = rows
    }

    func fresh() -> [Mamba2State] { layers.map { Mamba2State($0, rows: rows) } }

    /// Working copies of the states after `offset` tokens; snapshots beyond it are dropped.
    func resume(at offset: Int) -> [Mamba2State] {
        snapshots = snapshots.filter { $0.key <= offset }
        guard offset > 0 else { return fresh() }
        guard let s = snapshots[offset] else { preconditionFailure("no recurrent state after \(offset) tokens") }
        return s.map { $0.copy() }
    }

    /// Keeps `states` (now owned here) as the snapshot after `offset` tokens.
    func commit(_ states: [Mamba2State], at offset: Int) { snapshots[offset] = states }

    /// Bytes of one snapshot (all layers, all rows) and of all kept snapshots.
    var bytesPerSnapshot: Int { layers.reduce(0) { $0 + Mamba2State.bytes($1, rows: rows) } }
    var bytesKept: Int { snapshots.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.bytes } } }
}
