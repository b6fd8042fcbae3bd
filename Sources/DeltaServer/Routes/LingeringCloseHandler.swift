import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes the connection after a response that says `Connection: close`, with a lingering close
/// when the request body has not all arrived (an early 401/403/413/503 on an upload).
///
/// Hummingbird drains an unread request body after the reply; for a rejected multi-gigabyte
/// upload that would mean reading all of it. Closing at once instead makes the client's kernel
/// answer its further writes with a reset, and a client that writes its whole body before
/// reading (most do) may never see the 413. So after such a reply this handler keeps reading and
/// discarding what arrives for at most `maxDiscardBytes` or `maxLinger` (counted in
/// `deltasync_upload_bytes_discarded_total`), then closes.
final class LingeringCloseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let maxDiscardBytes = 64 << 20
    static let maxLinger = TimeAmount.seconds(10)
    /// How long a connection stays open once a rejected body has fully arrived.
    static let graceAfterBody = TimeAmount.seconds(1)

    private let counters: ServerCounters
    private var closeAfterEnd = false
    private var requestComplete = true
    private var lingering = false
    private var discarded = 0
    private var timer: Scheduled<Void>?

    init(counters: ServerCounters) { self.counters = counters }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requestComplete = false
        case .body(let buffer):
            if lingering {
                // Dropped here, at socket speed: handing them on would leave the pace to the
                // framework's back-pressured drain, and the 10 s bound could cut a client off
                // before it has written what it is allowed to.
                discarded += buffer.readableBytes
                counters.discardUploadBytes(buffer.readableBytes)
                if discarded > Self.maxDiscardBytes { finish(context) }
                return
            }
        case .end:
            requestComplete = true
            if lingering {
                // The whole body has arrived: the client is reading the reply (and, told
                // `Connection: close`, will close). Give it a moment rather than closing under a
                // client that is still finishing its write, which some report as an I/O error.
                timer?.cancel()
                let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                timer = context.eventLoop.scheduleTask(in: Self.graceAfterBody) { loopBound.value.close(promise: nil) }
                lingering = false
                return
            }
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Nothing reaches the framework while lingering, so it asks for no more: keep reading.
        if lingering { context.read() }
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            closeAfterEnd = head.headerFields[.connection]?.lowercased() == "close"
            context.write(data, promise: promise)
        case .end:
            guard closeAfterEnd else {
                context.write(data, promise: promise)
                return
            }
            closeAfterEnd = false
            context.writeAndFlush(data, promise: promise)
            if requestComplete {
                context.close(promise: nil)
            } else {
                linger(context)
            }
        case .body:
            context.write(data, promise: promise)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    private func linger(_ context: ChannelHandlerContext) {
        // The sending side stays open too: a client that reads the reply early (as
        // AsyncHTTPClient does) fails the request if it sees the connection half-closed while
        // its upload is still in flight, and one that writes everything first reads the reply
        // once it is done.
        lingering = true
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: Self.maxLinger) {
            loopBound.value.close(promise: nil)
        }
    }

    private func finish(_ context: ChannelHandlerContext) {
        lingering = false
        timer?.cancel()
        timer = nil
        context.close(promise: nil)
    }
}
