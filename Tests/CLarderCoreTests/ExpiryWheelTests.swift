import CLarderCore
import Testing

private let millisecond: UInt64 = 1_000_000
private let second: UInt64 = 1_000 * millisecond
private let minute: UInt64 = 60 * second
private let hour: UInt64 = 60 * minute
private let day: UInt64 = 24 * hour

/// A start time like a monotonic clock's, not aligned to any wheel tick.
private let start: UInt64 = 123_456_789_012_345

/// Time to live values that land on every wheel level, the overflow bucket included.
private let ttls: [UInt64] = [millisecond, 100 * millisecond, 5 * second, 3 * minute, 2 * hour, day, 40 * day]

@Suite struct ExpiryWheelTests {
    /// A core at `start` with five entries due at start + ttl, two due a
    /// nanosecond later, and one without a deadline.
    func makeCore(ttl: UInt64) -> (TestCore, due: [UInt32], later: [UInt32]) {
        let core = TestCore(capacity: 16, expiry: true)
        #expect(core.expireAll(now: start, max: 4).isEmpty)
        var due: [UInt32] = [], later: [UInt32] = []
        for key in 0..<8 {
            var slot = LARDER_NIL
            #expect(larder_core_insert(core.raw, mix64(UInt64(key)), 1, &slot) == LARDER_OK)
            switch key {
            case 0..<5:
                #expect(larder_core_set_deadline(core.raw, slot, start + ttl) == LARDER_OK)
                due.append(slot)
            case 5..<7:
                #expect(larder_core_set_deadline(core.raw, slot, start + ttl + 1) == LARDER_OK)
                later.append(slot)
            default:
                break
            }
        }
        #expect(larder_core_check(core.raw) == 0)
        return (core, due, later)
    }

    @Test(arguments: ttls)
    func expiresAtTheDeadlineAndNotBefore(ttl: UInt64) {
        let (core, due, later) = makeCore(ttl: ttl)
        let deadline = start + ttl
        // Approach in steps, so entries cascade down the levels on the way.
        for t in [start + ttl / 2, deadline - ttl / 16, deadline - ttl / 1000, deadline - 1] {
            #expect(core.expireAll(now: t, max: 2).isEmpty, "nothing is due at \(t - start) of \(ttl)")
            #expect(larder_core_check(core.raw) == 0)
        }
        // At the deadline, in batches of two: 2, 2, 1.
        var out = [UInt32](repeating: LARDER_NIL, count: 2)
        var handed: [UInt32] = []
        var batches: [UInt32] = []
        repeat {
            let n = larder_core_expire(core.raw, deadline, &out, 2)
            batches.append(n)
            handed += out.prefix(Int(n))
        } while batches.last == 2
        #expect(batches == [2, 2, 1])
        #expect(Set(handed) == Set(due) && handed.count == 5)
        for slot in handed { #expect(larder_core_deadline(core.raw, slot) == deadline) }
        #expect(larder_core_count(core.raw) == 8)  // handed out, still live
        #expect(core.expireAll(now: deadline, max: 2).isEmpty)
        #expect(Set(core.expireAll(now: deadline + 1, max: 2)) == Set(later))
        #expect(core.expireAll(now: deadline + 1000 * day, max: 2).isEmpty)
        #expect(larder_core_check(core.raw) == 0)
    }

    @Test(arguments: ttls)
    func oneJumpToTheDeadlineExpiresEverythingDue(ttl: UInt64) {
        let (core, due, later) = makeCore(ttl: ttl)
        #expect(Set(core.expireAll(now: start + ttl, max: 3)) == Set(due))
        let (core2, due2, later2) = makeCore(ttl: ttl)
        #expect(core2.expireAll(now: start + ttl - 1, max: 3).isEmpty)
        #expect(Set(core2.expireAll(now: start + 100 * day, max: 3)) == Set(due2 + later2))
        #expect(Set(core.expireAll(now: start + 100 * day, max: 3)) == Set(later))
        #expect(larder_core_check(core.raw) == 0 && larder_core_check(core2.raw) == 0)
    }

    @Test func aDeadlineAtOrBeforeNowIsDueAtOnce() {
        let core = TestCore(capacity: 4, expiry: true)
        #expect(core.expireAll(now: start, max: 4).isEmpty)
        var a = LARDER_NIL, b = LARDER_NIL
        #expect(larder_core_insert(core.raw, 1, 1, &a) == LARDER_OK)
        #expect(larder_core_insert(core.raw, 2, 1, &b) == LARDER_OK)
        #expect(larder_core_set_deadline(core.raw, a, start) == LARDER_OK)
        #expect(larder_core_set_deadline(core.raw, b, 5) == LARDER_OK)
        #expect(Set(core.expireAll(now: start, max: 4)) == [a, b])
    }

    @Test func removeAndNewDeadlinesUnfileFromWhereverTheEntryIs() {
        let core = TestCore(capacity: 8, expiry: true)
        #expect(core.expireAll(now: start, max: 8).isEmpty)
        var slots: [UInt32] = []
        for key in 0..<5 {
            var slot = LARDER_NIL
            #expect(larder_core_insert(core.raw, mix64(UInt64(key)), 1, &slot) == LARDER_OK)
            slots.append(slot)
        }
        let (onExpiredList, inWheel, cleared, moved, rescheduled) = (slots[0], slots[1], slots[2], slots[3], slots[4])
        #expect(larder_core_set_deadline(core.raw, onExpiredList, start - 1) == LARDER_OK)
        #expect(larder_core_set_deadline(core.raw, inWheel, start + 2 * hour) == LARDER_OK)
        #expect(larder_core_set_deadline(core.raw, cleared, start + 3 * minute) == LARDER_OK)
        #expect(larder_core_set_deadline(core.raw, moved, start) == LARDER_OK)
        #expect(larder_core_set_deadline(core.raw, rescheduled, start + day) == LARDER_OK)
        larder_core_remove(core.raw, onExpiredList)
        larder_core_remove(core.raw, inWheel)
        #expect(larder_core_set_deadline(core.raw, cleared, LARDER_NO_DEADLINE) == LARDER_OK)
        #expect(larder_core_set_deadline(core.raw, moved, start + 5 * second) == LARDER_OK)  // off the expired list
        #expect(larder_core_set_deadline(core.raw, rescheduled, start + 5 * second) == LARDER_OK)  // to another level
        #expect(larder_core_check(core.raw) == 0)
        #expect(core.expireAll(now: start + 5 * second - 1, max: 8).isEmpty)
        #expect(Set(core.expireAll(now: start + 5 * second, max: 8)) == [moved, rescheduled])
        #expect(core.expireAll(now: start + 100 * day, max: 8).isEmpty)
        #expect(larder_core_deadline(core.raw, cleared) == LARDER_NO_DEADLINE)
        // A handed-out entry given a new deadline expires again.
        #expect(larder_core_set_deadline(core.raw, moved, start + 101 * day) == LARDER_OK)
        #expect(core.expireAll(now: start + 101 * day, max: 8) == [moved])
        #expect(larder_core_check(core.raw) == 0)
    }

    @Test func earlierTimesAreTreatedAsTheLatest() {
        let core = TestCore(capacity: 4, expiry: true)
        var slot = LARDER_NIL
        #expect(larder_core_insert(core.raw, 1, 1, &slot) == LARDER_OK)
        #expect(core.expireAll(now: start, max: 4).isEmpty)
        #expect(larder_core_set_deadline(core.raw, slot, start + 10) == LARDER_OK)
        #expect(core.expireAll(now: start + 5, max: 4).isEmpty)
        #expect(core.expireAll(now: 0, max: 4).isEmpty)  // clamped to start + 5
        // A deadline before the latest time is due at once, even asked with an earlier time.
        #expect(larder_core_set_deadline(core.raw, slot, start + 2) == LARDER_OK)
        #expect(core.expireAll(now: start, max: 4) == [slot])
        #expect(larder_core_check(core.raw) == 0)
    }

    @Test func zeroMaxOnlyAdvancesTheWheel() {
        let core = TestCore(capacity: 4, expiry: true)
        var slot = LARDER_NIL
        #expect(larder_core_insert(core.raw, 1, 1, &slot) == LARDER_OK)
        #expect(larder_core_set_deadline(core.raw, slot, start) == LARDER_OK)
        #expect(larder_core_expire(core.raw, start, nil, 0) == 0)
        #expect(larder_core_check(core.raw) == 0)
        #expect(core.expireAll(now: start, max: 1) == [slot])
    }

    /// Many entries spread over every level, each handed out exactly when due
    /// while the clock moves in uneven steps.
    @Test func manyDeadlinesExpireInOrderOfTime() {
        let count = 2000
        let core = TestCore(capacity: UInt32(count), expiry: true)
        var rng = SplitMix64(seed: 146)
        #expect(core.expireAll(now: start, max: 64).isEmpty)
        var deadlineOf: [UInt32: UInt64] = [:]
        for key in 0..<count {
            var slot = LARDER_NIL
            #expect(larder_core_insert(core.raw, mix64(UInt64(key)), 1, &slot) == LARDER_OK)
            let deadline = start + 1 + rng.next() % (1 << UInt64([20, 28, 34, 40, 46, 52][key % 6]))
            #expect(larder_core_set_deadline(core.raw, slot, deadline) == LARDER_OK)
            deadlineOf[slot] = deadline
        }
        var now = start, expired = 0
        while expired < count {
            now += 1 + rng.next() % (1 << UInt64([16, 24, 30, 36, 42, 48][Int(rng.next() % 6)]))
            let handed = core.expireAll(now: now, max: 16)
            let expected = Set(deadlineOf.filter { $0.value <= now }.keys)
            #expect(Set(handed) == expected, "at \(now - start)")
            for slot in handed {
                larder_core_remove(core.raw, slot)
                deadlineOf[slot] = nil
            }
            expired += handed.count
            if expected != Set(handed) { break }
        }
        #expect(larder_core_count(core.raw) == 0)
        #expect(larder_core_check(core.raw) == 0)
    }
}
