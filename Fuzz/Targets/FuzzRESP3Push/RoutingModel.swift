import LarderFuzzSupport
import NIOCore
import RESP3

/// Where the handler's contract sends each value of a stream, worked out from the stream decoded
/// on its own: pushes aside, replies to the oldest pending request, and nothing after the first
/// protocol error or reply without a request.
struct RoutingModel {
    var pushes: [RESP3Value] = []
    /// Each request's replies, nil for a request that fails.
    var replies: [[RESP3Value]?]

    init(stream: [UInt8], requests: [Int]) {
        replies = requests.map { $0 == 0 ? [] : nil }  // an empty request completes when written
        var decoder = RESP3Decoder()
        var buffer = ByteBuffer(bytes: stream)
        var head = requests.firstIndex { $0 > 0 } ?? requests.count
        var gathered: [RESP3Value] = []
        while let value = try? decoder.decode(buffer: &buffer) {
            if case .push = value {
                pushes.append(value)
                continue
            }
            guard head < requests.count else { return }  // a reply nobody asked for ends the connection
            gathered.append(value)
            if gathered.count == requests[head] {
                replies[head] = gathered
                gathered = []
                head += 1
                while head < requests.count && requests[head] == 0 { head += 1 }
            }
        }
    }
}
