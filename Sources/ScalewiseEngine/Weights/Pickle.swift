/// A value on the unpickler's stack. Lists and dicts are reference types because pickle memoizes them
/// before filling them (EMPTY_DICT, BINPUT, …, SETITEMS): the memo and the stack must see one object.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits (LONG1/LONG4); kept only as a placeholder.
    case bigInt
    case float(Double)
    case string(String)
    case bytes(count: Int)
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case global(module: String, name: String)
    indirect case storage(TorchStorage)
    indirect case tensor(TensorEntry)
    /// Anything we do not model (an unknown class, a call we do not run): inert, never executed.
    case opaque(String)
}

final class PickleList {
    var items: [PickleValue]
    /// Nesting depth of the list with what it holds (an empty list is 1); see `Unpickler.maxDepth`.
    var depth = 1
    /// Set once the list is placed inside another value: from then on it may not change (see `Unpickler.seal`).
    var sealed = false
    init(_ items: [PickleValue] = []) { self.items = items }
}

final class PickleDict {
    var pairs: [(key: PickleValue, value: PickleValue)] = []
    var depth = 1
    var sealed = false

    /// Python dict semantics for string keys: the last assignment wins.
    subscript(key: String) -> PickleValue? {
        for pair in pairs.reversed() { if case .string(key) = pair.key { return pair.value } }
        return nil
    }
}

/// A pickle virtual machine for the opcode subset `torch.save` emits (protocols 2–5, binary forms).
/// Nothing is ever imported or called: GLOBAL only names a callable, and REDUCE/NEWOBJ hand the name
/// and arguments to `reduce`, which recognises the few torch/collections functions and returns
/// `.opaque` for the rest. Every read is bounds-checked; malformed input throws `.badPickle`.
struct Unpickler {
    let data: UnsafeRawBufferPointer
    /// For error messages: "<file> (<entry>)".
    let path: String
    let persistentLoad: (PickleValue) throws -> PickleValue
    let reduce: (_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue

    /// A value on the stack or in the memo with its nesting depth (containers keep their own, as they grow).
    private struct Item {
        var value: PickleValue
        var depth: Int
    }

    private var pos = 0
    private var stack: [Item] = []
    private var marks: [Int] = []
    private var memo: [Int: Item] = [:]
    /// Values created so far (every push and every item put into a container).
    private var created = 0
    /// A real state dict's pickle holds thousands of values; a hostile one of DUPs must not exhaust memory.
    static let maxValues = 2_000_000
    /// A state dict nests about five deep (dict → dict → tensor arguments → size tuple). Values are freed
    /// recursively, so a pickle of 100,000 nested tuples would overflow the stack when dropped: deeper than
    /// this is refused while it is being built.
    static let maxDepth = 100

    init(data: UnsafeRawBufferPointer, path: String, persistentLoad: @escaping (PickleValue) throws -> PickleValue,
         reduce: @escaping (PickleValue, PickleValue) throws -> PickleValue) {
        self.data = data
        self.path = path
        self.persistentLoad = persistentLoad
        self.reduce = reduce
    }

    func fail(_ message: String) -> WeightsError {
        WeightsError(.badPickle, file: path, "pickle offset \(pos): \(message)")
    }

    private mutating func u8() throws -> UInt8 {
        guard pos < data.count else { throw fail("truncated") }
        pos += 1
        return data[pos - 1]
    }

    private mutating func uint(_ width: Int) throws -> UInt64 {
        guard data.count - pos >= width else { throw fail("truncated") }
        var v: UInt64 = 0
        var i = width
        while i > 0 {
            i -= 1
            v = v << 8 | UInt64(data[pos + i])
        }
        pos += width
        return v
    }

    private mutating func take(_ n: UInt64) throws -> UnsafeRawBufferPointer {
        guard n <= UInt64(data.count - pos) else { throw fail("length \(n) runs past the end") }
        defer { pos += Int(n) }
        return UnsafeRawBufferPointer(rebasing: data[pos..<pos + Int(n)])
    }

    private mutating func utf8(_ n: UInt64) throws -> String {
        guard let s = String(validating: try take(n), as: UTF8.self) else { throw fail("invalid UTF-8 string") }
        return s
    }

    private mutating func line() throws -> String {
        var bytes: [UInt8] = []
        while true {
            let c = try u8()
            if c == 0x0A { break }
            guard bytes.count < 1024 else { throw fail("line too long") }
            bytes.append(c)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private mutating func count(_ n: Int) throws {
        created += n
        guard created <= Self.maxValues else { throw fail("more than \(Self.maxValues) values") }
    }

    private mutating func push(_ v: PickleValue, depth: Int = 1) throws {
        try count(1)
        stack.append(Item(value: v, depth: depth))
    }

    private mutating func push(_ item: Item) throws {
        try count(1)
        stack.append(item)
    }

    private mutating func popItem() throws -> Item {
        guard let v = stack.popLast(), marks.last ?? -1 <= stack.count else { throw fail("stack underflow") }
        return v
    }

    private mutating func pop() throws -> PickleValue { try popItem().value }

    private func topItem() throws -> Item {
        guard let v = stack.last, marks.last ?? -1 < stack.count else { throw fail("stack underflow") }
        return v
    }

    private func top() throws -> PickleValue { try topItem().value }

    private mutating func popMark() throws -> [Item] {
        guard let m = marks.popLast(), m <= stack.count else { throw fail("no MARK") }
        defer { stack.removeSubrange(m...) }
        return Array(stack[m...])
    }

    /// An item's current depth: a list or dict keeps its own (it may have grown since it was pushed).
    private static func depth(_ item: Item) -> Int {
        switch item.value {
        case .list(let l): l.depth
        case .dict(let d): d.depth
        default: item.depth
        }
    }

    /// Depth of a container holding `items`, refused beyond `maxDepth`. The items are sealed: a list or dict
    /// inside another value may not grow afterwards, so the depth recorded for the outer value stays true
    /// (otherwise lists could be chained while empty and filled later, nesting without bound). `torch.save`
    /// fills every container before it places it anywhere.
    private mutating func nest(_ items: [Item], into outer: Int = 1) throws -> Int {
        var d = outer
        for item in items {
            d = max(d, Self.depth(item) + 1)
            switch item.value {
            case .list(let l): l.sealed = true
            case .dict(let x): x.sealed = true
            default: break
            }
        }
        guard d <= Self.maxDepth else { throw fail("values nested deeper than \(Self.maxDepth)") }
        return d
    }

    private mutating func tuple(_ items: [Item]) throws {
        let d = try nest(items)
        try push(.tuple(items.map(\.value)), depth: d)
    }

    private mutating func setItems(_ items: [Item]) throws {
        guard items.count % 2 == 0 else { throw fail("odd number of SETITEMS values") }
        switch try top() {
        case .dict(let d):
            guard !d.sealed else { throw fail("SETITEM(S) on a dict that is already inside another value") }
            // With sealing, only a container put into itself could form a cycle (which would never be freed).
            for item in items { if case .dict(let x) = item.value, x === d { throw fail("a dict cannot contain itself") } }
            d.depth = try nest(items, into: d.depth)
            try count(items.count)
            for i in stride(from: 0, to: items.count, by: 2) { d.pairs.append((items[i].value, items[i + 1].value)) }
        case .opaque: break
        default: throw fail("SETITEM(S) on a non-dict")
        }
    }

    private mutating func append(_ items: [Item]) throws {
        switch try top() {
        case .list(let l):
            guard !l.sealed else { throw fail("APPEND(S) on a list that is already inside another value") }
            for item in items { if case .list(let x) = item.value, x === l { throw fail("a list cannot contain itself") } }
            l.depth = try nest(items, into: l.depth)
            try count(items.count)
            l.items += items.map(\.value)
        case .opaque: break
        default: throw fail("APPEND(S) on a non-list")
        }
    }

    /// Little-endian two's complement, as LONG1/LONG4 store it.
    private func long(_ b: UnsafeRawBufferPointer) -> PickleValue {
        guard let last = b.last else { return .int(0) }
        let fill: UInt8 = last & 0x80 != 0 ? 0xFF : 0
        if b.count > 8 {
            guard b[8...].allSatisfy({ $0 == fill }), (b[7] & 0x80 != 0) == (fill == 0xFF) else { return .bigInt }
        }
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(i < b.count ? b[i] : fill) }
        return .int(Int(Int64(bitPattern: v)))
    }

    private mutating func memoKey(_ width: Int) throws -> Int { Int(try uint(width)) }

    mutating func run() throws -> PickleValue {
        while true {
            let opcode = try u8()
            switch opcode {
            case 0x80: _ = try u8()                                       // PROTO
            case 0x95: _ = try uint(8)                                    // FRAME (framing is irrelevant in memory)
            case 0x2E: return try pop()                                   // STOP
            case 0x28: marks.append(stack.count)                          // MARK
            case 0x29: try push(.tuple([]))                               // EMPTY_TUPLE
            case 0x74: try tuple(try popMark())                           // TUPLE
            case 0x85, 0x86, 0x87:                                        // TUPLE1/2/3
                var items: [Item] = []
                for _ in 0..<Int(opcode - 0x84) { items.insert(try popItem(), at: 0) }
                try tuple(items)
            case 0x5D, 0x8F: try push(.list(PickleList()))               // EMPTY_LIST, EMPTY_SET (sets as lists)
            case 0x6C, 0x91:                                              // LIST, FROZENSET
                let items = try popMark()
                try push(.list(PickleList()))
                try append(items)
            case 0x61: let v = try popItem(); try append([v])             // APPEND
            case 0x65, 0x90: try append(try popMark())                    // APPENDS, ADDITEMS
            case 0x7D: try push(.dict(PickleDict()))                      // EMPTY_DICT
            case 0x64:                                                    // DICT
                let items = try popMark()
                try push(.dict(PickleDict()))
                try setItems(items)
            case 0x73: let v = try popItem(); let k = try popItem(); try setItems([k, v])  // SETITEM
            case 0x75: try setItems(try popMark())                        // SETITEMS
            case 0x4A: try push(.int(Int(Int32(bitPattern: UInt32(try uint(4))))))  // BININT
            case 0x4B: try push(.int(Int(try u8())))                      // BININT1
            case 0x4D: try push(.int(Int(try uint(2))))                   // BININT2
            case 0x8A: try push(long(try take(UInt64(try u8()))))         // LONG1
            case 0x8B:                                                    // LONG4
                let n = Int32(bitPattern: UInt32(try uint(4)))
                guard n >= 0 else { throw fail("negative LONG4 length") }
                try push(long(try take(UInt64(n))))
            case 0x47: try push(.float(Double(bitPattern: (try take(8)).reduce(0) { $0 << 8 | UInt64($1) })))  // BINFLOAT, big-endian
            case 0x4E: try push(.none)                                    // NONE
            case 0x88: try push(.bool(true))                              // NEWTRUE
            case 0x89: try push(.bool(false))                             // NEWFALSE
            case 0x8C: try push(.string(try utf8(UInt64(try u8()))))      // SHORT_BINUNICODE
            case 0x58: try push(.string(try utf8(try uint(4))))           // BINUNICODE
            case 0x8D: try push(.string(try utf8(try uint(8))))           // BINUNICODE8
            case 0x55, 0x54:                                              // SHORT_BINSTRING, BINSTRING (bytes as Latin-1)
                let n = opcode == 0x55 ? UInt64(try u8()) : try uint(4)
                try push(.string(String(String.UnicodeScalarView((try take(n)).map { Unicode.Scalar($0) }))))
            case 0x43: try push(.bytes(count: (try take(UInt64(try u8()))).count))  // SHORT_BINBYTES
            case 0x42: try push(.bytes(count: (try take(try uint(4))).count))       // BINBYTES
            case 0x8E, 0x96: try push(.bytes(count: (try take(try uint(8))).count)) // BINBYTES8, BYTEARRAY8
            case 0x63: let module = try line(); try push(.global(module: module, name: try line()))  // GLOBAL
            case 0x93:                                                    // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                try push(.global(module: module, name: name))
            case 0x71: memo[try memoKey(1)] = try topItem()               // BINPUT
            case 0x72: memo[try memoKey(4)] = try topItem()               // LONG_BINPUT
            case 0x94: memo[memo.count] = try topItem()                   // MEMOIZE
            case 0x68, 0x6A:                                              // BINGET, LONG_BINGET
                let k = try memoKey(opcode == 0x68 ? 1 : 4)
                guard let v = memo[k] else { throw fail("memo key \(k) is unset") }
                try push(v)
            case 0x51: try push(try persistentLoad(try pop()))            // BINPERSID
            case 0x52, 0x81:                                              // REDUCE, NEWOBJ
                let args = try pop()
                try push(try reduce(try pop(), args))
            case 0x92:                                                    // NEWOBJ_EX
                _ = try pop()
                let args = try pop()
                try push(try reduce(try pop(), args))
            case 0x62: _ = try pop(); _ = try top()                       // BUILD: state ignored (e.g. _metadata)
            case 0x30:                                                    // POP (a mark on top is popped instead)
                if let m = marks.last, m == stack.count { marks.removeLast() } else { _ = try pop() }
            case 0x31: _ = try popMark()                                  // POP_MARK
            case 0x32: try push(try topItem())                            // DUP
            default: pos -= 1; throw fail("unsupported opcode 0x\(String(opcode, radix: 16))")
            }
        }
    }
}
