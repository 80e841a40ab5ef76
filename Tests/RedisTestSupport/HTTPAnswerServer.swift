import NIOCore
import NIOPosix

/// A TCP server on a free loopback port that answers whatever it is sent with an HTTP 400 and
/// closes the connection: a server that does not speak RESP3, for the tests of what a client
/// reports when pointed at the wrong thing.
public final class HTTPAnswerServer: Sendable {
    /// The port it listens on (127.0.0.1).
    public let port: Int
    private let channel: any Channel

    public init() async throws {
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HTTPAnswer())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress?.port ?? 0
    }

    /// Stops listening.
    public func close() async throws { try await channel.close() }
}

private final class HTTPAnswer: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let response = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
