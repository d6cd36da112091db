// The engine's public face: what the CLI and the TUI use. Nothing here knows about BLAS or curses.

/// An 8-bit RGB image, row-major, 3 bytes per pixel.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3)
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: 0, count: width * height * 3))
    }
}

/// Sampling knobs, named as in the official code and stable-diffusion.cpp.
public struct SamplingOptions: Sendable, Equatable, Codable {
    /// Classifier-free guidance strength (VAR ramps it linearly over the scales).
    public var cfg: Float
    /// Keep the k most likely tokens (ties kept); 0 = off.
    public var topK: Int
    /// Nucleus mass after top-k; 0 = off.
    public var topP: Float
    /// VAR's Gumbel-softmax smoothing of the token embedding (visual quality, not FID).
    public var moreSmooth: Bool
    /// Seed of the engine's own RNG (see `Rng`): same seed, same image, on every machine.
    public var seed: UInt64
    /// Constant guidance u + cfg·(c − u) at every step (LlamaGen / FlexVAR demo) instead of VAR's ramp.
    public var constantCFG: Bool
    /// Divides the guided logits before top-k (nil = 1; AiM's official sampler accepts but ignores it).
    public var temperature: Float?

    public init(cfg: Float = 4, topK: Int = 900, topP: Float = 0.95, moreSmooth: Bool = false, seed: UInt64 = 0,
                constantCFG: Bool = false, temperature: Float? = nil) {
        self.cfg = cfg
        self.topK = topK
        self.topP = topP
        self.moreSmooth = moreSmooth
        self.seed = seed
        self.constantCFG = constantCFG
        self.temperature = temperature
    }
}

/// How classifier-free guidance weighs the conditional logits c against the unconditional u at step si of n.
public enum CFGMode: String, Sendable, CaseIterable, Codable {
    /// VAR's rule (`models/var.py: VAR.autoregressive_infer_cfg`): (1 + t)·c − t·u with t = cfg·si/(n − 1),
    /// no guidance at the first step and full `cfg` at the last.
    case ramp
    /// LlamaGen's rule (FlexVAR's demo, AiM): u + cfg·(c − u) at every step.
    case constant
}

extension SamplingOptions {
    /// The guidance rule `constantCFG` selects.
    public var cfgMode: CFGMode {
        get { constantCFG ? .constant : .ramp }
        set { constantCFG = newValue == .constant }
    }
}

/// The size of one generation step's token map.
public struct ScaleShape: Sendable, Equatable, Codable, CustomStringConvertible {
    public var h: Int
    public var w: Int
    public init(_ h: Int, _ w: Int) { self.h = h; self.w = w }
    public var count: Int { h * w }
    public var description: String { "\(h)×\(w)" }
}

/// Cheap-to-expensive ways to show the latent after a scale.
public enum PreviewTier: Sendable {
    /// Linear latent → RGB projection, one pixel per latent cell (microseconds).
    case projection
    /// The full decoder (the final image's quality).
    case decoded
}

/// What one `step()` produced.
public struct ScaleResult: Sendable {
    public var index: Int
    public var shape: ScaleShape
    public var tokens: [Int32]
    /// The guidance actually applied at this step, in the units of `cfg`: the ramp's t = cfg·si/(n−1), or `cfg`
    /// under the constant rule; 0 when the step ran unguided (the conditional logits alone).
    public var guidance: Float
    /// Wall time of the transformer + sampling for this scale.
    public var milliseconds: Double
}

/// Incremental generation: after scale k the session holds exactly what scale k+1 needs.
public protocol GenerationSession: AnyObject {
    var scales: [ScaleShape] { get }
    var completed: Int { get }
    var classIndex: Int { get }
    var options: SamplingOptions { get }
    /// Runs exactly one more scale.
    func step() throws -> ScaleResult
    /// Runs one more scale with its tokens given (teacher forcing), or sampled when `forcing` is nil.
    func step(forcing: [Int32]?) throws -> ScaleResult
    /// Keep each step's guided logits in `lastLogits` (tests, analysis).
    var keepLogits: Bool { get set }
    /// The guided logits of the last step, [tokens, V], when `keepLogits` is set.
    var lastLogits: [Float] { get }
    /// Returns to the state right after scale `k` (k = 0 means nothing generated) without recomputing.
    func rewind(to k: Int)
    /// Rewinds to `k` and changes the seed for the scales after it.
    func reroll(from k: Int, seed: UInt64)
    /// Results of the completed scales.
    var results: [ScaleResult] { get }
    /// The seed each scale draws from (all equal to `options.seed` unless re-rolled).
    var scaleSeeds: [UInt64] { get }
    /// Sets one scale's seed (reproducing a re-rolled image from its record).
    func overrideSeed(scale k: Int, seed: UInt64)
    /// The image after completed scale `k` (1-based count), at the given tier.
    func preview(after k: Int, tier: PreviewTier) -> RGBImage
}
