import NIOCore
import NIOSSL

/// A command on its way to the server, with the promise its reply completes.
struct RedisRequest {
    var command: RESPCommand
    var promise: EventLoopPromise<RESPValue>
    var timeout: TimeAmount?
}

/// The thin channel handler of a Redis connection: it feeds events into
/// ``RedisConnectionStateMachine`` and carries out the actions it returns.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = RESPCommand

    private var stateMachine = RedisConnectionStateMachine<EventLoopPromise<RESPValue>>()
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(.connectionClosed)
        self.context = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        switch stateMachine.enqueue(request.promise) {
        case .fail(let waiter, let error):
            waiter.fail(error)
            promise?.fail(error)
        case .write(let id):
            if let timeout = request.timeout {
                let task = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) { [weak self] in
                    self?.timeoutFired(id: id)
                }
                // A reply (or a close) completes the promise first; the timer is then moot.
                request.promise.futureResult.whenComplete { _ in task.cancel() }
            }
            context.write(wrapOutboundOut(request.command), promise: promise)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch stateMachine.replyReceived(unwrapInboundIn(data)) {
        case .succeed(let waiter, let value):
            waiter.succeed(value)
        case .failServerError(let waiter, let error):
            waiter.fail(RedisError.server(error))
        case .discard:
            break
        case .closeConnection(let error):
            failAll(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(Self.tlsError(error) ?? (error as? RedisError) ?? .protocolViolation(String(describing: error)))
        context.close(promise: nil)
    }

    /// A failure of NIOSSLClientHandler (ahead of this handler on a rediss:// connection) as
    /// ``RedisError/tls(_:)``; nil for any other error.
    static func tlsError(_ error: any Error) -> RedisError? {
        switch error {
        case is NIOSSLError, is NIOSSLExtraError, is BoringSSLError: .tls(String(describing: error))
        default: nil
        }
    }

    private func timeoutFired(id: UInt64) {
        if case .fail(let waiter) = stateMachine.timeoutFired(id: id) {
            waiter.fail(RedisError.timeout)
        }
    }

    private func failAll(_ error: RedisError) {
        for waiter in stateMachine.closed(error) {
            waiter.fail(error)
        }
    }
}
