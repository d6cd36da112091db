// Our own loops (normalisation, Winograd transforms, softmax, …) on as many threads as BLAS uses. On two
// cores they were a third of the decoder's time on one thread while OpenBLAS's second thread spun idle.
// Work is split into contiguous index ranges and every element is computed exactly as in the serial loop,
// so results do not depend on the thread count, nor on the pool that runs them.
import CDNNL
import Dispatch

/// Which threads run our loops. The fp32 path pairs them with OpenBLAS and uses Dispatch's pool; the bf16
/// and int8 paths run oneDNN, whose OpenMP threads spin for a while after each product, so their loops go to
/// the same OpenMP pool: two pools on two cores took turns preempting each other (sched_yield and libgomp's
/// spin were 25 % of a VAR-d16 image's profile).
public enum LoopPool: Sendable {
    case dispatch, openmp
}

extension Threads {
    /// The pool of the current computation (a task-local, so concurrent sessions each keep their own).
    @TaskLocal public static var pool: LoopPool = .dispatch
}

/// Calls `body` on disjoint ranges covering 0..<count, concurrently on up to `Threads.count` threads.
/// Ranges hold at least `grain` indices, so small jobs stay on the calling thread.
@inline(__always)
public func parallelRanges(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    let chunks = min(Threads.count, count / max(grain, 1))
    guard chunks > 1 else {
        if count > 0 { body(0..<count) }
        return
    }
    // The body writes through raw pointers into disjoint ranges, which the compiler cannot see; the box
    // vouches for it (and `withoutActuallyEscaping` for the closure not outliving this call).
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        if Threads.pool == .openmp {
            let job = OpenMPJob(chunks: chunks) { i in box.value((i * count / chunks)..<((i + 1) * count / chunks)) }
            withExtendedLifetime(job) {
                GOMP_parallel({ raw in
                    let job = Unmanaged<OpenMPJob>.fromOpaque(raw!).takeUnretainedValue()
                    var i = Int(omp_get_thread_num())
                    let stride = max(1, Int(omp_get_num_threads()))
                    while i < job.chunks {
                        job.body(i)
                        i += stride
                    }
                }, Unmanaged.passUnretained(job).toOpaque(), UInt32(chunks), 0)
            }
        } else {
            DispatchQueue.concurrentPerform(iterations: chunks) { i in
                box.value((i * count / chunks)..<((i + 1) * count / chunks))
            }
        }
    }
}

/// One `parallelRanges` call handed to libgomp through a context pointer.
private final class OpenMPJob {
    let chunks: Int
    let body: (Int) -> Void
    init(chunks: Int, body: @escaping (Int) -> Void) {
        self.chunks = chunks
        self.body = body
    }
}

struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
