// Our own loops (normalisation, Winograd transforms, softmax, …) on as many threads as BLAS uses. On two
// cores they were a third of the decoder's time on one thread while OpenBLAS's second thread spun idle.
// Work is split into contiguous index ranges and every element is computed exactly as in the serial loop,
// so results do not depend on the thread count.
import Dispatch

/// Calls `body` on disjoint ranges covering 0..<count, concurrently on up to `Threads.count` threads.
/// Ranges hold at least `grain` indices, so small jobs stay on the calling thread.
@inline(__always)
func parallelRanges(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    let chunks = min(Threads.count, count / max(grain, 1))
    guard chunks > 1 else {
        if count > 0 { body(0..<count) }
        return
    }
    // The body writes through raw pointers into disjoint ranges, which the compiler cannot see; the box
    // vouches for it (and `withoutActuallyEscaping` for the closure not outliving this call).
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { i in
            box.value((i * count / chunks)..<((i + 1) * count / chunks))
        }
    }
}

struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
