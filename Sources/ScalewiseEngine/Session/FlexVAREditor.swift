import Foundation
import ScalewiseKernels

/// What to regenerate in an image (FlexVAR paper §4.4).
public enum EditPlan: CustomStringConvertible, Sendable {
    /// White mask pixels are regenerated, black ones kept.
    case inpaint(mask: RGBImage)
    /// Double the canvas on one side ("left", "right", "up", "down") and generate the new half.
    case extend(String)
    /// Keep every step up to this size from the image, regenerate the finer ones.
    case refine(upTo: Int)

    public var description: String {
        switch self {
        case .inpaint: return "inpaint"
        case .extend(let s): return "extend \(s)"
        case .refine(let n): return "refine from \(n)"
        }
    }

    /// `schedule` reshaped to an image's aspect, so an edit keeps it: the longer side keeps each step's size, the
    /// shorter one scales with it (FlexVAR takes any h×w per step). A square image keeps the schedule as it is.
    public static func schedule(_ schedule: [ScaleShape], width: Int, height: Int) -> [ScaleShape] {
        guard width != height, width > 0, height > 0 else { return schedule }
        return schedule.map { s in
            let n = max(s.h, s.w)
            let short = max(1, Int((Double(n) * Double(min(width, height)) / Double(max(width, height))).rounded()))
            return width > height ? ScaleShape(short, n) : ScaleShape(n, short)
        }
    }

    /// The steps an edit over `schedule` runs: the same, except that extending doubles every size on one
    /// side (the first step stays 1×1).
    public func steps(for schedule: [ScaleShape]) -> [ScaleShape] {
        guard case .extend(let side) = self else { return schedule }
        let horizontal = side == "left" || side == "right"
        var steps = schedule.map { horizontal ? ScaleShape($0.h, $0.w * 2) : ScaleShape($0.h * 2, $0.w) }
        if !steps.isEmpty { steps[0] = ScaleShape(1, 1) }
        return steps
    }
}

/// Zero-shot editing with FlexVAR: encode the image, and at every step teacher-force the ground-truth tokens
/// of the known region (its tokens at that step's size) so only the unknown region is sampled. Because each
/// step's input depends only on the previous step's codes, this is all it takes.
public struct FlexVAREditor {
    public let generator: FlexVARGenerator

    public init(generator: FlexVARGenerator) { self.generator = generator }

    /// Builds a session whose constraints implement `plan`; also returns the per-step keep masks.
    public func prepare(image: RGBImage, plan: EditPlan, classIndex: Int, options: SamplingOptions,
                        schedule: [ScaleShape]) throws -> (FlexVARSession, [[Bool]]) {
        let tok = generator.model.tokenizer
        let steps = plan.steps(for: schedule)
        var canvas = image
        var regen: [Float]  // per pixel of the canvas: 1 = regenerate
        let last = schedule.last!
        switch plan {
        case .inpaint(let mask):
            canvas = resize(image, width: last.w * tok.downsample, height: last.h * tok.downsample)
            let m = resize(mask, width: canvas.width, height: canvas.height)
            regen = (0..<(canvas.width * canvas.height)).map { Float(m.pixels[$0 * 3]) / 255 }
        case .extend(let side):
            let e = steps.last!, d = tok.downsample
            let src = resize(image, width: last.w * d, height: last.h * d)
            canvas = RGBImage(width: e.w * d, height: e.h * d)
            regen = [Float](repeating: 1, count: canvas.width * canvas.height)
            let ox = side == "left" ? canvas.width - src.width : 0, oy = side == "up" ? canvas.height - src.height : 0
            for y in 0..<src.height {
                for x in 0..<src.width {
                    let p = (oy + y) * canvas.width + ox + x
                    for c in 0..<3 { canvas.pixels[p * 3 + c] = src.pixels[(y * src.width + x) * 3 + c] }
                    regen[p] = 0
                }
            }
        case .refine:
            canvas = resize(image, width: last.w * tok.downsample, height: last.h * tok.downsample)
            regen = [Float](repeating: 0, count: canvas.width * canvas.height)
        }
        let f = try tok.encodeF(unitTensor(canvas))
        let session = try FlexVARSession(model: generator.model, classIndex: classIndex, options: options, schedule: steps)
        var masks: [[Bool]] = []
        let regenMap = Tensor(shape: [1, canvas.height, canvas.width], data: regen)
        for (si, s) in steps.enumerated() {
            let gt = tok.tokens(of: f, h: s.h, w: s.w)
            let m = Tensor(shape: [1, s.h, s.w])
            areaResize(regenMap, to: m)
            var keep = (0..<s.count).map { m.ptr[$0] < 0.5 }
            if case .refine(let n) = plan { keep = [Bool](repeating: max(s.h, s.w) <= n, count: s.count) }
            session.constraints[si] = (gt, keep)
            masks.append(keep)
        }
        return (session, masks)
    }

    /// RGB bytes → [3, H, W] in [−1, 1].
    func unitTensor(_ img: RGBImage) -> Tensor {
        let n = img.width * img.height, t = Tensor(shape: [3, img.height, img.width])
        for p in 0..<n { for c in 0..<3 { t.ptr[c * n + p] = Float(img.pixels[p * 3 + c]) / 127.5 - 1 } }
        return t
    }

    /// Area resampling when shrinking, bicubic when enlarging (PyTorch semantics).
    func resize(_ img: RGBImage, width: Int, height: Int) -> RGBImage {
        if img.width == width && img.height == height { return img }
        let src = unitTensor(img), dst = Tensor(shape: [3, height, width])
        if width <= img.width && height <= img.height { areaResize(src, to: dst) } else { bicubicResize(src, to: dst) }
        return imageFromUnit(dst)
    }
}
