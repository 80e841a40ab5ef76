import CJemalloc
import CLarderCore
import CLarderSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Weighs an entry's key and value in heap bytes, as the allocator (jemalloc) holds them.
///
/// Every figure is a size class the allocator would actually hand out (`nallocx` of the
/// requested size), so a weight matches what `stats.allocated` grows by when the buffer
/// is allocated. Inline storage (an `Int`, a small string, the 16 bytes of a `String`
/// or `Data` value itself) lives in the cache's slot arrays and is charged there by the
/// cache as the entry's fixed share, not here.
///
/// The set path uses type checks (metadata compares and cached conformance lookups),
/// never `Mirror`.
enum EntryWeigher {
    /// The heap bytes held by `key` and `value` (0 for trivial types).
    static func heapBytes<Key, Value>(key: Key, value: Value) -> Int {
        bytes(of: key) + bytes(of: value)
    }

    /// Runs `body` and reports the net heap bytes this thread allocated while it
    /// ran (nil when that cannot be measured), for weighing computed values.
    ///
    /// Reads jemalloc's `thread.allocated`/`thread.deallocated` counters through their
    /// cached per-thread pointers: no `mallctl` call, no allocation. Bytes allocated by
    /// other threads on the body's behalf are not seen; a body that frees more than it
    /// allocates reports 0. What measurements nested in `body` covered (values
    /// computed for other keys on the way, charged to their own entries) is left out
    /// (larder_thread_weighing.h).
    static func measuring<T>(_ body: () throws -> T) rethrows -> (value: T, allocatedBytes: Int?) {
        guard let start = JemallocThreadCounters.current() else { return (try body(), nil) }
        let nested = larder_thread_nested_weighed()!
        let outer = nested.pointee
        nested.pointee = 0
        let value: T
        do {
            value = try body()
        } catch {
            nested.pointee = outer
            throw error
        }
        let inner = nested.pointee
        guard let end = JemallocThreadCounters.current() else {
            nested.pointee = outer
            return (value, nil)
        }
        let allocated = end.allocated &- start.allocated
        let deallocated = end.deallocated &- start.deallocated
        let total = allocated >= deallocated ? allocated - deallocated : 0
        nested.pointee = outer &+ total  // an enclosing measurement leaves all of it out
        return (value, Int(clamping: total > inner ? total - inner : 0))
    }

    /// The heap bytes one value holds; see ``CacheCost/heapBytes(of:)``.
    static func bytes<T>(of value: T) -> Int {
        switch WeighingKind.of(T.self) {
        case .none: return 0
        // The kind was derived from `T` itself, so these reinterpretations are exact.
        case .string: return stringBytes(unsafeBitCast(value, to: String.self))
        case .byteArray: return unsafeBitCast(value, to: [UInt8].self).heapBytes
        case .data: return dataBytes(unsafeBitCast(value, to: Data.self))
        case .object: return objectBytes(unsafeBitCast(value, to: AnyObject.self))
        case .dynamic: return dynamicBytes(of: value)
        }
    }

    /// The cast-based path: conformance lookups for reporting and measurable types, and
    /// existentials (`Any`, `any P`) whose dynamic type is only known per value.
    private static func dynamicBytes<T>(of value: T) -> Int {
        if let reporting = value as? any CacheCostReporting {
            let isObject = type(of: value as Any) is AnyObject.Type
            return (isObject ? objectBytes(value as AnyObject) : 0) + max(0, reporting.cacheCost)
        }
        if let measurable = value as? any HeapMeasurable { return measurable.heapBytes }
        if type(of: value as Any) is AnyObject.Type { return objectBytes(value as AnyObject) }
        return 0
    }

    // MARK: - String

    /// A native string's storage object: header, capacity and the NUL terminator, as the
    /// allocator rounded it. Small (inline) strings and literals hold no heap.
    static func stringBytes(_ string: String) -> Int {
        // `String` is two words on 64-bit Linux: count-and-flags, then an object word whose
        // top nibble is the discriminator (0 = native, mortal, large) and whose low bits
        // are the storage object's address. The UTF-8 bytes start 32 bytes (the native
        // bias) into that object. We only trust the address when the public API's pointer
        // to the bytes agrees with it, so a layout change degrades to an estimate instead
        // of handing a foreign pointer to the allocator.
        let (flags, object) = withUnsafeBytes(of: string) {
            ($0.load(fromByteOffset: 0, as: UInt64.self), $0.load(fromByteOffset: 8, as: UInt64.self))
        }
        let discriminator = object >> 60
        let immortal = discriminator & 0b1000 != 0
        let small = discriminator & 0b0010 != 0
        if small || immortal { return 0 }
        let nativelyStored = flags & (1 << 61) != 0 && flags & (1 << 60) != 0
        let storage = UInt(object & 0x0FFF_FFFF_FFFF_FFFF)
        if discriminator == 0, nativelyStored, storage != 0, Jemalloc.servesMalloc {
            let bytesStart = string.utf8.withContiguousStorageIfAvailable {
                UInt(bitPattern: $0.baseAddress)
            }
            if bytesStart == storage + stringNativeBias,
               let pointer = UnsafeRawPointer(bitPattern: storage) {
                return malloc_usable_size(UnsafeMutableRawPointer(mutating: pointer))
            }
        }
        // Shared, foreign or unrecognised: estimate a tight native storage.
        return nallocx(Int(stringNativeBias) + string.utf8.count + 1, 0)
    }

    private static let stringNativeBias: UInt = 32

    // MARK: - Data

    /// `Data` keeps up to 14 bytes inline; beyond that it holds a storage object
    /// (`__DataStorage`) and, usually, a byte buffer the storage allocated itself.
    ///
    /// The buffer's capacity is not public and differs from `count` (`Data(count:)`
    /// reserves a quarter more, appends grow it), so the storage object is read directly:
    /// its address is the second word of a non-inline `Data`, and its fields are
    /// `_bytes`, `_length`, `_capacity` (high bit a flag), `_offset`, `_deallocator`.
    /// That layout is confirmed once against a known `Data` (see ``dataStorageClass``);
    /// each read checks the object's class, so an unrecognised layout falls back to an
    /// estimate from `count`. A buffer with a custom deallocator (`bytesNoCopy`) is not the
    /// storage's own allocation and is not counted.
    static func dataBytes(_ data: Data) -> Int {
        let count = data.count
        if count <= dataInlineCapacity { return 0 }
        if let layout = dataStorageLayout, let storage = dataStorage(of: data, layout: layout) {
            var total = layout.objectBytes
            let bytes = storage.load(fromByteOffset: 16, as: UInt.self)
            let capacity = storage.load(fromByteOffset: 32, as: Int.self) & Int.max
            let deallocator = storage.load(fromByteOffset: 48, as: UInt.self)
            if bytes != 0, capacity > 0, deallocator == 0 {
                // The storage's own buffer: jemalloc's if it serves malloc.
                if Jemalloc.servesMalloc, let pointer = UnsafeMutableRawPointer(bitPattern: bytes) {
                    total += malloc_usable_size(pointer)
                } else {
                    total += nallocx(capacity, 0)
                }
            }
            return total
        }
        return nallocx(count, 0) + 80
    }

    private static let dataInlineCapacity = MemoryLayout<Data>.size - 2

    private struct DataStorageLayout {
        /// The class metadata of `__DataStorage`.
        var storageClass: UInt
        /// The allocator's size for one storage object.
        var objectBytes: Int
    }

    /// The storage object of a non-inline `Data`, if its second word points at one.
    private static func dataStorage(of data: Data, layout: DataStorageLayout) -> UnsafeRawPointer? {
        guard MemoryLayout<Data>.size == 16 else { return nil }
        let word = withUnsafeBytes(of: data) { $0.load(fromByteOffset: 8, as: UInt.self) }
        // The enum's case tag lives in the pointer's spare top byte.
        let address = word & 0x00FF_FFFF_FFFF_FFF8
        guard address >= 4096, address < 0x0000_8000_0000_0000,
              let storage = UnsafeRawPointer(bitPattern: address),
              storage.load(as: UInt.self) == layout.storageClass
        else { return nil }
        return storage
    }

    /// Confirms the storage layout on a freshly made `Data` whose fields are known. The
    /// candidate address is probed with a system call before it is read, so a different
    /// layout disables the direct read instead of faulting.
    private static let dataStorageLayout: DataStorageLayout? = {
        let data = Data(count: 100)
        guard MemoryLayout<Data>.size == 16, classInstanceSizeOffset >= 0 else { return nil }
        let word = withUnsafeBytes(of: data) { $0.load(fromByteOffset: 8, as: UInt.self) }
        let address = word & 0x00FF_FFFF_FFFF_FFF8
        guard address >= 4096, address < 0x0000_8000_0000_0000, isReadable(address, byteCount: 72),
              let storage = UnsafeRawPointer(bitPattern: address)
        else { return nil }
        let storageClass = storage.load(as: UInt.self)
        let base = data.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
        guard storageClass != 0, isReadable(storageClass, byteCount: classInstanceSizeOffset + 4),
              storage.load(fromByteOffset: 16, as: UInt.self) == base,
              storage.load(fromByteOffset: 24, as: Int.self) == 100,
              storage.load(fromByteOffset: 32, as: Int.self) & Int.max >= 100,
              let metadata = UnsafeRawPointer(bitPattern: storageClass)
        else { return nil }
        let size = Int(metadata.load(fromByteOffset: classInstanceSizeOffset, as: UInt32.self))
        guard size >= 64, size <= 256 else { return nil }
        return DataStorageLayout(storageClass: storageClass, objectBytes: nallocx(size, 0))
    }()

    /// Whether `byteCount` bytes at `address` can be read, asked of the kernel (a write
    /// from that memory into a pipe fails with EFAULT instead of faulting).
    private static func isReadable(_ address: UInt, byteCount: Int) -> Bool {
        guard let pointer = UnsafeRawPointer(bitPattern: address) else { return false }
        var fds: (Int32, Int32) = (-1, -1)
        let created = withUnsafeMutableBytes(of: &fds) {
            pipe($0.baseAddress!.assumingMemoryBound(to: Int32.self))
        }
        guard created == 0 else { return false }
        defer {
            close(fds.0)
            close(fds.1)
        }
        return write(fds.1, pointer, byteCount) == byteCount
    }

    // MARK: - Class instances

    /// The allocator's size class for an object's instance size.
    ///
    /// The instance size comes from the class metadata rather than from
    /// `malloc_usable_size` of the object's address: that call trusts its argument, and a
    /// statically allocated object (which the compiler may emit for constant globals) would
    /// crash it. The metadata read is checked against a known class once.
    static func objectBytes(_ object: AnyObject) -> Int {
        // Without Objective-C interop an object's first word is its class metadata.
        let metadata = Unmanaged.passUnretained(object).toOpaque().load(as: UnsafeRawPointer.self)
        guard classInstanceSizeOffset >= 0 else {
            return nallocx(16, 0)  // header only; layout not recognised
        }
        let size = Int(metadata.load(fromByteOffset: classInstanceSizeOffset, as: UInt32.self))
        return size > 0 ? nallocx(size, 0) : 0
    }

    private final class LayoutProbe {
        var a = 1, b = 2, c = 3
    }

    /// Offset of `InstanceSize` in Swift class metadata without Objective-C interop
    /// (kind, superclass, flags, instance address point, then instance size); -1 when a
    /// probe class does not confirm it.
    private static let classInstanceSizeOffset: Int = {
        let offset = 24
        let metadata = unsafeBitCast(LayoutProbe.self, to: UnsafeRawPointer.self)
        let size = metadata.load(fromByteOffset: offset, as: UInt32.self)
        return size == 16 + 3 * 8 ? offset : -1
    }()
}

// MARK: - Per-type dispatch

/// How values of one static type are weighed, decided once per type.
enum WeighingKind: UInt {
    /// Holds no heap the weigher can reach (trivial types, structs that do not report).
    case none = 1
    case string, byteArray, data
    /// A class instance that does not report a cost.
    case object
    /// Weighed through casts: adopts ``CacheCostReporting``, is a standard type the
    /// weigher knows (arrays, optionals, substrings), or is an existential whose dynamic
    /// type is only known per value.
    case dynamic

    /// A small direct-mapped table from type metadata to kind, one atomic word per slot
    /// (metadata is pointer-aligned, so the kind fits the low 3 bits): a lookup is one
    /// relaxed load and no lock. A collision or a race only costs a reclassification.
    nonisolated(unsafe) private static let table: UnsafeMutablePointer<Atomic<UInt>> = {
        let table = UnsafeMutablePointer<Atomic<UInt>>.allocate(capacity: tableSize)
        for i in 0..<tableSize { (table + i).initialize(to: Atomic(0)) }
        return table
    }()
    private static let tableSize = 256

    static func of<T>(_ type: T.Type) -> WeighingKind {
        let key = UInt(bitPattern: unsafeBitCast(type, to: UnsafeRawPointer.self))
        let slot = Int((key >> 4 ^ key >> 12) & UInt(tableSize - 1))
        let entry = table[slot].load(ordering: .relaxed)
        if entry & ~0x7 == key, let kind = WeighingKind(rawValue: entry & 0x7) { return kind }
        let kind = classify(type)
        table[slot].store(key | kind.rawValue, ordering: .relaxed)
        return kind
    }

    private static func classify<T>(_ type: T.Type) -> WeighingKind {
        if isExistential(T.self) { return .dynamic }
        if T.self == String.self { return .string }
        if T.self == [UInt8].self { return .byteArray }
        if T.self == Data.self { return .data }
        if T.self is any CacheCostReporting.Type || T.self is any HeapMeasurable.Type { return .dynamic }
        if T.self is AnyObject.Type {
            // A class (its instances are single references).
            return MemoryLayout<T>.size == MemoryLayout<AnyObject>.size ? .object : .dynamic
        }
        return .none
    }

    /// Whether `T` is an existential (`any P`) rather than a concrete type.
    private static func isExistential<T>(_ type: T.Type) -> Bool {
        // Swift metadata kind 0x303 is "existential type" (0x306: existential metatype).
        let kind = unsafeBitCast(type, to: UnsafeRawPointer.self).load(as: UInt.self)
        return kind == 0x303
    }
}

// MARK: - Types the weigher knows

/// Standard library and Foundation types whose heap buffers the weigher can reach.
protocol HeapMeasurable {
    var heapBytes: Int { get }
}

extension String: HeapMeasurable {
    var heapBytes: Int { EntryWeigher.stringBytes(self) }
}

extension Substring: HeapMeasurable {
    // A substring keeps its base string's whole storage alive.
    var heapBytes: Int { EntryWeigher.stringBytes(base) }
}

extension Data: HeapMeasurable {
    var heapBytes: Int { EntryWeigher.dataBytes(self) }
}

extension Optional: HeapMeasurable {
    var heapBytes: Int {
        switch self {
        case .some(let wrapped): EntryWeigher.bytes(of: wrapped)
        case .none: 0
        }
    }
}

/// Header of a native array buffer: isa, reference count, count, capacity-and-flags.
private let arrayHeaderBytes = 32

private func arrayBufferBytes<Element>(capacity: Int, of _: Element.Type) -> Int {
    // The empty array is a static singleton with capacity 0: nothing allocated.
    guard capacity > 0 else { return 0 }
    let alignment = MemoryLayout<Element>.alignment
    let header = (arrayHeaderBytes + alignment - 1) / alignment * alignment
    return nallocx(header + capacity * MemoryLayout<Element>.stride, 0)
}

/// Heap bytes held by the elements themselves: exact up to 64 elements, extrapolated
/// from 64 evenly spaced ones beyond, so a set stays O(1) in the array's length.
private func elementBytes<C: RandomAccessCollection>(_ elements: C) -> Int where C.Index == Int {
    if _isPOD(C.Element.self) { return 0 }
    let count = elements.count
    guard count > 0 else { return 0 }
    let samples = Swift.min(count, 64)
    var sum = 0
    for i in 0..<samples {
        sum += EntryWeigher.bytes(of: elements[elements.startIndex + i * count / samples])
    }
    return samples == count ? sum : sum * count / samples
}

extension Array: HeapMeasurable {
    var heapBytes: Int {
        arrayBufferBytes(capacity: capacity, of: Element.self) + elementBytes(self)
    }
}

extension ContiguousArray: HeapMeasurable {
    var heapBytes: Int {
        arrayBufferBytes(capacity: capacity, of: Element.self) + elementBytes(self)
    }
}
