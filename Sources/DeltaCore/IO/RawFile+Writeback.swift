import CDeltaSys

extension RawFile {
    /// Starts writing the file's dirty pages out without waiting (best effort): the flush that
    /// later makes it durable then finds little left to write.
    public func startWriteback() { _ = cdeltasys_start_writeback(fd) }
}
