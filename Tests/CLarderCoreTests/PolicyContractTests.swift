import CLarderCore
import Testing

/// The policy layer's contract (larder_core.h, "Policies" and "Eviction"),
/// case by case; PolicyDifferentialTests checks every decision at random.
@Suite struct PolicyContractTests {
    static let wtinylfu = UInt32(LARDER_CORE_WTINYLFU), s3fifo = UInt32(LARDER_CORE_S3FIFO)
    static let fixed = UInt32(LARDER_CORE_FIXED_WINDOW)

    func make(_ capacity: UInt32, _ flags: UInt32) -> OpaquePointer {
        var out: OpaquePointer?
        let status = larder_core_create(capacity, flags, &out)
        precondition(status == LARDER_OK)
        return out!
    }

    func insert(_ core: OpaquePointer, _ key: Int, weight: UInt64 = 1) -> UInt32 {
        var slot = LARDER_NIL
        precondition(larder_core_insert(core, mix64(UInt64(key)), weight, &slot) == LARDER_OK)
        return slot
    }

    @Test func unknownOrContradictoryPoliciesAreRejected() {
        var out: OpaquePointer? = nil
        for flags in [UInt32(3) << 8, 0xF << 8, Self.fixed, Self.s3fifo | Self.fixed, 1 << 13] {
            #expect(larder_core_create(16, flags, &out) == LARDER_ERR_UNSUPPORTED)
            #expect(larder_core_footprint(16, flags) == 0)
        }
        #expect(out == nil)
        for flags in [UInt32(0), Self.wtinylfu, Self.wtinylfu | Self.fixed, Self.s3fifo] {
            let core = make(16, flags | UInt32(LARDER_CORE_EXPIRY))
            #expect(larder_core_policy(core) == flags & UInt32(LARDER_CORE_POLICY_MASK))
            #expect(larder_core_check(core) == 0)
            larder_core_destroy(core)
        }
    }

    /// W-TinyLFU's frequency sketch costs 8 bytes per slot, and its record
    /// of recent departures (the ghost its window adapts on) 2; S3-FIFO's
    /// ghost 8: each at most 8 bytes per slot, plus the policy's fixed state,
    /// two list sentinels and (for tiny capacities) the tables' minimum
    /// sizes. Beside them, each policy's per-slot state: W-TinyLFU's byte
    /// (count and region), S3-FIFO's 2-bit hit counter, LRU's byte (its mark).
    @Test(arguments: [UInt32(8), 1000, 1 << 20])
    func sketchAndGhostCostAtMostEightBytesPerSlotEach(capacity: UInt32) {
        let lruStates = larder_core_slot_state_bytes(capacity, 0)
        #expect(lruStates == (Int(capacity) + 7) / 8 * 8, "LRU: \(lruStates) bytes of marks")
        let lru = larder_core_footprint(capacity, 0) - lruStates
        #expect(larder_core_sketch_bytes(capacity, 0) == 0 && larder_core_sketch_bytes(capacity, Self.s3fifo) == 0)
        let sketch = larder_core_sketch_bytes(capacity, Self.wtinylfu)
        #expect(sketch == max(64, Int(capacity) / 8 * 64), "\(sketch) bytes of sketch")
        for (flags, bitsPerSlot, ghostBytesPerSlot) in [(Self.wtinylfu, 8, 2), (Self.s3fifo, 2, 8)] {
            let states = larder_core_slot_state_bytes(capacity, flags)
            #expect(states == (Int(capacity) * bitsPerSlot + 63) / 64 * 8, "flags \(flags): \(states) bytes of states")
            let ghost = larder_core_footprint(capacity, flags) - lru - states - larder_core_sketch_bytes(capacity, flags)
            #expect(
                ghost >= (ghostBytesPerSlot - 1) * Int(capacity) && ghost <= ghostBytesPerSlot * Int(capacity) + 512,
                "flags \(flags): \(ghost) bytes")
        }
    }

    @Test func everyPolicyRunsInCallerMemory() {
        for flags in [Self.wtinylfu, Self.s3fifo] {
            let bytes = larder_core_footprint(500, flags)
            let block = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
            defer { block.deallocate() }
            block.initializeMemory(as: UInt8.self, repeating: 0xA5, count: bytes)  // no reliance on zeroed memory
            var out: OpaquePointer?
            #expect(larder_core_init(block, bytes, 500, flags, &out) == LARDER_OK)
            #expect(larder_core_init(block, bytes - 1, 500, flags, &out) == LARDER_ERR_NOMEM)
            let core = out!
            for key in 0..<2000 {
                if larder_core_count(core) == 500 {
                    var victim = LARDER_NIL
                    if larder_core_victim_for(core, mix64(UInt64(key)), 1, &victim) == LARDER_REJECTED { continue }
                    larder_core_remove(core, victim)
                }
                _ = insert(core, key)
            }
            #expect(larder_core_count(core) == 500)
            #expect(larder_core_check(core) == 0)
            larder_core_destroy(core)  // leaves the caller's block alone
        }
    }

    /// A hot set requested often survives a long scan of one-off keys under
    /// W-TinyLFU and S3-FIFO; under LRU the scan flushes it.
    @Test func aScanDoesNotFlushTheHotSet() {
        for flags in [UInt32(0), Self.wtinylfu, Self.wtinylfu | Self.fixed, Self.s3fifo] {
            let core = make(100, flags)
            var slotOf: [Int: UInt32] = [:]
            var keyOf: [UInt32: Int] = [:]
            func request(_ key: Int) {
                if let slot = slotOf[key] { return larder_core_touch(core, slot) }
                if larder_core_count(core) == 100 {
                    var victim = LARDER_NIL
                    guard larder_core_victim_for(core, mix64(UInt64(key)), 1, &victim) == LARDER_OK else { return }
                    slotOf[keyOf.removeValue(forKey: victim)!] = nil
                    larder_core_remove(core, victim)
                }
                let slot = insert(core, key)
                slotOf[key] = slot
                keyOf[slot] = key
            }
            for _ in 0..<20 { for key in 0..<50 { request(key) } }
            for key in 1000..<6000 { request(key) }
            let hotLeft = (0..<50).filter { slotOf[$0] != nil }.count
            if flags == 0 { #expect(hotLeft == 0) } else { #expect(hotLeft >= 45, "flags \(flags): \(hotLeft) of 50 hot keys left") }
            #expect(larder_core_check(core) == 0)
            larder_core_destroy(core)
        }
    }

    @Test func anS3FIFOHitMovesNothing() {
        let core = make(10, Self.s3fifo)
        let slots = (0..<10).map { insert(core, $0) }
        let before = TestCoreOrder.walk(core)
        for slot in slots.reversed() { larder_core_touch(core, slot); larder_core_touch_inline(core, slot) }
        slots.withUnsafeBufferPointer { larder_core_touch_batch(core, $0.baseAddress, 10) }
        #expect(TestCoreOrder.walk(core) == before)
        larder_core_clear(core)
        let fresh = (0..<10).map { insert(core, $0) }
        for slot in fresh.prefix(5) { larder_core_touch(core, slot) }
        // Small's oldest five were hit: they move to main; the sixth, never hit, leaves.
        var victim = LARDER_NIL
        #expect(larder_core_victim_for(core, 99, 1, &victim) == LARDER_OK)
        #expect(victim == fresh[5])
        #expect(TestCoreOrder.walk(core) == Array(fresh.prefix(5).reversed()) + Array(fresh.suffix(5).reversed()))
        #expect(larder_core_check(core) == 0)
        larder_core_destroy(core)
    }

    /// S3-FIFO's ghost: a hash evicted from small returns to main while its
    /// record is among the last `limit` evictions (main's count, 18 here),
    /// to small after that; and a record long dead does not come back when
    /// the ghost's 12-bit stamps wrap (4,096 evictions later), though no
    /// other record ever shares its bucket.
    @Test func theS3FIFOGhostRemembersTheLastEvictionsOnly() {
        let core = make(20, Self.s3fifo)
        let probe = ModelGhost(capacity: 20, maxRecords: 18)
        let wrapped = mix64(0)
        var hashes = (UInt64(1)...).lazy.map { mix64($0) }
            .filter { probe.bucketStart($0) != probe.bucketStart(wrapped) }.makeIterator()
        var evictions = 0
        func insert(_ hash: UInt64) -> UInt32 {
            var slot = LARDER_NIL
            precondition(larder_core_insert(core, hash, 1, &slot) == LARDER_OK)
            return slot
        }
        func evict() {
            var victim = LARDER_NIL
            precondition(larder_core_victim_for(core, 0, 1, &victim) == LARDER_OK)
            larder_core_remove(core, victim)
            evictions += 1  // each from small, never hit: each adds a record
        }
        let returning = hashes.next()!, late = hashes.next()!
        let hot = insert(hashes.next()!)
        larder_core_touch(core, hot)  // moves to main at the first eviction
        _ = insert(wrapped)
        _ = insert(returning)
        _ = insert(late)
        for _ in 0..<16 { _ = insert(hashes.next()!) }
        evict()  // `hot` to main; `wrapped` leaves
        evict()  // `returning` leaves
        let back = insert(returning)
        #expect(Array(TestCoreOrder.walk(core).prefix(2)) == [back, hot], "a recent ghost goes to main's front")
        evict()  // `late` leaves
        for _ in 0..<18 {
            _ = insert(hashes.next()!)
            evict()
        }
        let lateSlot = insert(late)
        #expect(Array(TestCoreOrder.walk(core).prefix(3)) == [back, hot, lateSlot], "18 evictions later: small")
        while true {
            evict()
            if evictions == 1 + 4096 { break }
            _ = insert(hashes.next()!)
        }
        let wrappedSlot = insert(wrapped)
        #expect(TestCoreOrder.walk(core).firstIndex(of: wrappedSlot) == 2, "a dead record stays dead: small's front")
        #expect(larder_core_check(core) == 0)
        larder_core_destroy(core)
    }

    /// The ghost's sweeps, which an addition makes in its own bucket when the
    /// last one is 1,024 stamps old, keep every record's age exact long
    /// before its 12-bit stamp could wrap, also where a stamp spans several
    /// additions (5 at 5,000 entries): through ten wraps of one-off keys,
    /// `larder_core_check` (each age within its bucket's bound) holds
    /// throughout, and a record dead for a wrap stays dead.
    @Test func theS3FIFOGhostSweepsBeforeAnyStampWraps() {
        let capacity: UInt32 = 5_000
        let core = make(capacity, Self.s3fifo)
        for key in 0..<Int(capacity) { _ = insert(core, key) }
        let additionsPerStamp = (capacity - capacity / 10 + 1_023) / 1_024
        let additions = 10 * 4_096 * Int(additionsPerStamp)
        var victim = LARDER_NIL, newest = LARDER_NIL
        for step in 0..<additions {
            precondition(larder_core_victim_for(core, 0, 1, &victim) == LARDER_OK)
            larder_core_remove(core, victim)  // from small, never hit: into the ghost
            newest = insert(core, Int(capacity) + step)
            if step % 1_009 == 0 {
                let status = larder_core_check(core)
                #expect(status == 0, "after \(step) additions")
                if status != 0 { break }
            }
        }
        #expect(larder_core_check(core) == 0)
        // The first one-off keys left a wrap and more ago: back, one goes to small's
        // front, just before the newest one-off key (main's front is the walk's start).
        precondition(larder_core_victim_for(core, 0, 1, &victim) == LARDER_OK)
        larder_core_remove(core, victim)
        let back = insert(core, 0)
        let order = TestCoreOrder.walk(core)
        #expect(order.firstIndex(of: back)! + 1 == order.firstIndex(of: newest)!)
        larder_core_destroy(core)
    }

    /// A cold newcomer heavier than the window is judged against main's
    /// victim, loses, and is declined; nothing is evicted for it.
    @Test func aColdHeavyNewcomerIsDeclined() {
        let core = make(100, Self.wtinylfu)
        larder_core_set_maximum(core, 1000)
        let slots = (0..<100).map { insert(core, $0, weight: 10) }
        for _ in 0..<5 { for slot in slots { larder_core_touch(core, slot) } }
        let order = TestCoreOrder.walk(core)
        var victim: UInt32 = 77
        #expect(larder_core_victim_for(core, mix64(12345), 500, &victim) == LARDER_REJECTED)
        #expect(victim == 77)
        #expect(TestCoreOrder.walk(core) == order)
        // Asked again, it is a miss on a key that just lost admission: the
        // window grows by an entry (moving one from probation), and still
        // nothing is evicted for it.
        var slot: UInt32 = 77
        #expect(larder_core_replace_lru(core, mix64(12345), 500, 1000, &slot) == LARDER_REJECTED)
        #expect(slot == 77 && larder_core_count(core) == 100 && larder_core_total_weight(core) == 1000)
        #expect(TestCoreOrder.walk(core).sorted() == order.sorted())
        // A light newcomer enters the window; the window's overflow competes instead.
        #expect(larder_core_victim_for(core, mix64(54321), 10, &victim) == LARDER_OK)
        var again = LARDER_NIL
        #expect(larder_core_victim_for(core, mix64(54321), 10, &again) == LARDER_OK && again == victim)
        #expect(larder_core_victim(core) == victim)
        larder_core_remove(core, victim)
        #expect(larder_core_check(core) == 0)
        larder_core_destroy(core)
    }

    /// Against a victim asked for at most once, a newcomer must lead by two:
    /// asked for once before (a lead of one) it is declined, and asked for
    /// twice it wins. A newcomer heavier than the window is judged directly,
    /// so each request is one decision; the window is fixed so that nothing
    /// else moves between them.
    @Test func aNewcomerMustLeadARarelyAskedVictimByTwo() {
        let core = make(100, Self.wtinylfu | Self.fixed)
        larder_core_set_maximum(core, 1000)
        // The first half fills before the sketch counts: main's victim (the
        // least recent, key 0) was never counted.
        let slots = (0..<100).map { insert(core, $0, weight: 10) }
        let order = TestCoreOrder.walk(core)
        let newcomer = mix64(12345)
        var victim: UInt32 = 77
        // Never asked for: a tie, declined.
        #expect(larder_core_victim_for(core, newcomer, 500, &victim) == LARDER_REJECTED)
        // Asked for once: a lead of one over a victim never asked for, declined.
        #expect(larder_core_victim_for(core, newcomer, 500, &victim) == LARDER_REJECTED)
        #expect(victim == 77 && TestCoreOrder.walk(core) == order)
        // Asked for twice: it wins, and main's victim is named.
        #expect(larder_core_victim_for(core, newcomer, 500, &victim) == LARDER_OK)
        #expect(victim == slots[0])
        #expect(larder_core_check(core) == 0)
        larder_core_destroy(core)
    }

    /// The adaptive window grows when a key declined on a tie returns (a
    /// larger window would have kept it), but not when one declined by that
    /// margin alone returns: its return is the request the margin waited
    /// for, and it wins then.
    @Test func aNewcomerDeclinedByTheMarginDoesNotOpenTheWindow() {
        let core = make(100, Self.wtinylfu)
        larder_core_set_maximum(core, 1000)
        for key in 0..<100 { _ = insert(core, key, weight: 10) }
        let newcomer = mix64(12345)
        var victim = LARDER_NIL
        let initial = larder_core_window_limit(core)
        #expect(larder_core_victim_for(core, newcomer, 500, &victim) == LARDER_REJECTED)  // a tie
        #expect(larder_core_window_limit(core) == initial)
        #expect(larder_core_victim_for(core, newcomer, 500, &victim) == LARDER_REJECTED)  // the margin
        let grown = larder_core_window_limit(core)
        #expect(grown > initial)
        // Asked for twice: it wins; the caller evicts until it fits and inserts it.
        while larder_core_total_weight(core) + 500 > 1000 {
            #expect(larder_core_victim_for(core, newcomer, 500, &victim) == LARDER_OK)
            larder_core_remove(core, victim)
        }
        var slot = LARDER_NIL
        #expect(larder_core_insert(core, newcomer, 500, &slot) == LARDER_OK)
        #expect(larder_core_window_limit(core) == grown)
        #expect(larder_core_check(core) == 0)
        larder_core_destroy(core)
    }

    /// W-TinyLFU counts a resident's hits in the entry, not the sketch; they
    /// join the sketch when it leaves, so a key asked for often and then
    /// removed still outranks main's victim when it returns (as a newcomer
    /// heavier than the window, judged by the sketch alone), where a key
    /// never asked for loses.
    @Test func aResidentsHitsOutliveIt() {
        let core = make(100, Self.wtinylfu)
        larder_core_set_maximum(core, 1000)
        let slots = (0..<99).map { insert(core, $0, weight: 10) }
        let returning = insert(core, 500, weight: 10)
        for _ in 0..<2 { for slot in slots { larder_core_touch(core, slot) } }
        for _ in 0..<12 { larder_core_touch(core, returning) }
        larder_core_remove(core, returning)
        var victim = LARDER_NIL
        #expect(larder_core_victim_for(core, mix64(501), 500, &victim) == LARDER_REJECTED)
        #expect(larder_core_victim_for(core, mix64(500), 500, &victim) == LARDER_OK && victim != LARDER_NIL)
        #expect(larder_core_check(core) == 0)
        larder_core_destroy(core)
    }

    /// The prefetch hints a full core's eviction and miss paths give
    /// (larder_core_prefetch_lru, larder_core_prefetch_for_miss) change
    /// nothing the core decides.
    @Test func prefetchHintsChangeNothing() {
        for flags in [UInt32(0), Self.wtinylfu, Self.s3fifo] {
            let core = make(64, flags)
            let slots = (0..<64).map { insert(core, $0) }
            for slot in slots.prefix(20) { larder_core_touch(core, slot) }
            var before = LARDER_NIL
            #expect(larder_core_victim_for(core, mix64(1000), 1, &before) == LARDER_OK)
            let order = TestCoreOrder.walk(core)  // the touches applied
            for i in 0..<100 {
                _ = larder_core_prefetch_lru(core)
                _ = larder_core_prefetch_for_miss(core, mix64(2000 + UInt64(i)))
            }
            var after = LARDER_NIL
            #expect(larder_core_victim_for(core, mix64(1000), 1, &after) == LARDER_OK && after == before)
            #expect(TestCoreOrder.walk(core) == order)
            #expect(larder_core_check(core) == 0)
            larder_core_destroy(core)
        }
    }

    /// Under LRU the eviction passes over a marked least-recent entry, so the
    /// prefetch hint names the entry behind it: the victim the eviction picks.
    @Test func prefetchHintPassesAMarkedLeastRecentEntry() {
        let core = make(8, 0)
        let slots = (0..<8).map { insert(core, $0) }
        #expect(larder_core_prefetch_lru(core) == slots[0])
        var marked = slots[0]
        larder_core_mark_batch(core, &marked, 1)
        let order = TestCoreOrder.walk(core)
        #expect(larder_core_prefetch_lru(core) == slots[1])
        #expect(TestCoreOrder.walk(core) == order, "a hint moves nothing")
        #expect(larder_core_victim(core) == slots[1])
        #expect(larder_core_check(core) == 0)
        larder_core_destroy(core)
    }

    /// A reader's mark without the lock (larder_core_mark_concurrent) is a
    /// mark like a locked one: the eviction passes the entry over once. A
    /// stray one, on a slot emptied since the read, leaves the core valid and
    /// is gone when the slot is filled again.
    @Test func aConcurrentMarkIsAMarkAndAStrayOneIsHarmless() {
        let core = make(8, 0)
        let slots = (0..<8).map { insert(core, $0) }
        larder_core_mark_concurrent(core, slots[0])
        #expect(larder_core_slot_marked_concurrent(core, slots[0]) != 0)
        #expect(larder_core_victim(core) == slots[1])
        #expect(larder_core_slot_marked_concurrent(core, slots[0]) == 0, "the hand spent it")
        larder_core_remove(core, slots[3])
        larder_core_mark_concurrent(core, slots[3])
        #expect(larder_core_check(core) == 0)
        let refilled = insert(core, 100)
        #expect(refilled == slots[3])
        #expect(larder_core_slot_marked_concurrent(core, refilled) == 0)
        #expect(larder_core_check(core) == 0)
        larder_core_destroy(core)
    }

    /// An LRU eviction rewrites no links: the new entry takes its victim's slot
    /// and place in the circle, and the hand's step past it makes it the most
    /// recent; a marked entry's second chance is the same step. (Links that a
    /// set rewrites are lines another thread's sets on the shard write too.)
    @Test func anLRUEvictionRewritesNoLinks() {
        let core = make(8, 0)
        let slots = (0..<8).map { insert(core, $0) }
        var marked = slots[0]
        larder_core_mark_batch(core, &marked, 1)
        let nodes = UnsafeRawPointer(core).assumingMemoryBound(to: larder_core_view.self).pointee.nodes!
        func links() -> [UInt32] { (0...8).flatMap { [nodes[$0].prev, nodes[$0].next] } }  // the slots and the sentinel
        let before = links()
        var slot = LARDER_NIL
        #expect(larder_core_replace_lru(core, mix64(100), 1, UInt64.max, &slot) == LARDER_OK)
        #expect(slot == slots[1], "the marked least recent entry is passed over")
        #expect(links() == before)
        #expect(TestCoreOrder.walk(core) == [slot, slots[0]] + slots[2...].reversed())
        #expect(larder_core_lru(core) == slots[2] && larder_core_newer(core, slots[0]) == slot)
        #expect(larder_core_check(core) == 0)
        larder_core_destroy(core)
    }

    /// Pressure eviction and draining empty any policy; removeAll keeps working.
    @Test func victimsDrainEveryPolicy() {
        for flags in [UInt32(0), Self.wtinylfu, Self.s3fifo] {
            let core = make(64, flags | UInt32(LARDER_CORE_EXPIRY))
            for key in 0..<64 { _ = insert(core, key, weight: UInt64(key)) }
            var drained = 0
            while case let victim = larder_core_victim(core), victim != LARDER_NIL {
                larder_core_remove(core, victim)
                drained += 1
                #expect(larder_core_check(core) == 0)
            }
            #expect(drained == 64 && larder_core_count(core) == 0 && larder_core_total_weight(core) == 0)
            var victim = LARDER_NIL
            #expect(larder_core_victim_for(core, 1, 1, &victim) == LARDER_REJECTED)
            for key in 0..<10 { _ = insert(core, key) }
            larder_core_clear(core)
            #expect(larder_core_count(core) == 0 && larder_core_victim(core) == LARDER_NIL && larder_core_check(core) == 0)
            larder_core_destroy(core)
        }
    }

    /// insert_lru rebuilds a persisted order, most valuable first, under every policy.
    @Test func restoringAnOrderKeepsIt() {
        for flags in [UInt32(0), Self.wtinylfu, Self.s3fifo] {
            let core = make(32, flags)
            var slots: [UInt32] = []
            for key in 0..<32 {
                var slot = LARDER_NIL
                #expect(larder_core_insert_lru(core, mix64(UInt64(key)), 1, &slot) == LARDER_OK)
                slots.append(slot)
            }
            #expect(TestCoreOrder.walk(core) == slots)
            #expect(larder_core_check(core) == 0)
            larder_core_destroy(core)
        }
    }
}

enum TestCoreOrder {
    /// Slots from most to least valuable.
    static func walk(_ core: OpaquePointer) -> [UInt32] {
        var result: [UInt32] = []
        var slot = larder_core_mru(core)
        while slot != LARDER_NIL {
            result.append(slot)
            slot = larder_core_older(core, slot)
        }
        return result
    }
}
