import Foundation
import ScalewiseKernels

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
        let steps = try checkedSteps(plan: plan, schedule: schedule, width: image.width, height: image.height,
                                     allowLarge: true)
        var canvas = image
        var regen: [Float]  // per pixel of the canvas: 1 = regenerate
        let last = schedule.last!
        switch plan {
        case .inpaint(let mask):
            canvas = resize(image, width: last.w * tok.downsample, height: last.h * tok.downsample)
            let m = resize(mask, width: canvas.width, height: canvas.height)
            regen = (0..<(canvas.width * canvas.height)).map { Float(m.pixels[$0 * 3]) / 255 }
        case .extend(let side):
            // The image at its own token map (resampled only to the nearest multiple of the downsampling).
            let e = steps.last!, k = plan.kept(e), d = tok.downsample
            let src = resize(image, width: k.w * d, height: k.h * d)
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

    /// `plan.steps`, refused when an extend's output is beyond what the model can make (`ScheduleRules.check`'s
    /// limit) or, unless `allowLarge`, beyond `ScheduleRules.largeFactor` × the largest size it has learned. An
    /// extend never shrinks the image to fit: the refusal says how large the output would be.
    public func checkedSteps(plan: EditPlan, schedule: [ScaleShape], width: Int, height: Int,
                             allowLarge: Bool) throws -> [ScaleShape] {
        let d = generator.model.tokenizer.downsample
        let steps = plan.steps(for: schedule, width: width, height: height, downsample: d)
        guard case .extend(let side) = plan, let e = steps.last else { return steps }
        let trained = generator.model.config.patch_nums.last ?? 1, side1 = max(e.h, e.w)
        let limit = min(ScheduleRules.maxSide, ScheduleRules.extrapolation * max(trained, 1))
        let learned = generator.schedules.flatMap { $0 }.map { max($0.h, $0.w) }.max() ?? trained
        let what = "extending \(width)×\(height) \(side) makes a \(e.w * d)×\(e.h * d) image (\(e.w)×\(e.h) tokens)"
        if side1 > limit {
            throw InputError("\(what), beyond this model's limit of \(limit) tokens (\(limit * d) px) per side; "
                             + "extend a smaller image")
        }
        if side1 > ScheduleRules.largeFactor * learned && !allowLarge {
            throw InputError("\(what), more than \(ScheduleRules.largeFactor)× the model's \(learned)×\(learned); "
                             + "--allow-large runs it anyway")
        }
        return steps
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
