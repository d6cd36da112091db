import ScalewiseKernels
import XCTest

final class TensorTests: XCTestCase {
    func testZerosValuesAndAlignment() {
        let z = Tensor(zeros: [3, 5, 7])
        XCTAssertEqual(z.count, 105)
        XCTAssertEqual(z.array, [Float](repeating: 0, count: 105))
        XCTAssertEqual(Int(bitPattern: z.ptr) % 64, 0, "storage must be 64-byte aligned")
        let t = Tensor(shape: [2, 3], [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(t.shape, [2, 3])
        XCTAssertEqual(t.array, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(Tensor(zeros: [0, 4]).count, 0)
    }

    func testReshapedSharesStorageAndCopyDoesNot() {
        let t = Tensor(shape: [2, 3], [1, 2, 3, 4, 5, 6])
        let r = t.reshaped([3, 2])
        let c = t.copy()
        XCTAssertEqual(r.shape, [3, 2])
        t.ptr[4] = 50
        XCTAssertEqual(r.array, [1, 2, 3, 4, 50, 6], "a reshaped view sees writes to the original")
        XCTAssertEqual(c.array, [1, 2, 3, 4, 5, 6], "a copy does not")
        var view: Tensor? = Tensor(shape: [4], [9, 8, 7, 6]).reshaped([2, 2])
        XCTAssertEqual(view!.array, [9, 8, 7, 6], "a view keeps its storage alive after the original is gone")
        view = nil
    }

    func testScratchReusesAndGrowsSlots() {
        let s = Scratch()
        let a = s.floats(100, .im2col)
        XCTAssertEqual(s.floats(50, .im2col), a, "a smaller request reuses the buffer")
        XCTAssertNotEqual(s.floats(10, .scores), a, "slots are independent")
        XCTAssertNotEqual(s.floats(10, .user(1)), s.floats(10, .user(2)))
        let b = s.floats(1000, .im2col)
        XCTAssertEqual(Int(bitPattern: b) % 64, 0)
        XCTAssertGreaterThanOrEqual(s.capacity, 1000 + 10 + 10 + 10)
        let view = s.tensor([4, 5], .user(3))
        XCTAssertEqual(view.shape, [4, 5])
        XCTAssertEqual(s.tensor([2, 10], .user(3)).ptr, view.ptr)
    }

    func testThreadsSetAndRead() {
        let before = Threads.count
        Threads.set(1)
        XCTAssertEqual(Threads.count, 1)
        Threads.set(before)
        XCTAssertEqual(Threads.count, before)
    }
}
