#if DELTASYNC_LIBFUZZER
    #if canImport(Glibc)
        import Glibc
    #elseif canImport(Darwin)
        import Darwin
    #endif

    /// The target libFuzzer drives, made on the first input; its work directory goes at exit.
    let fuzzTarget: BundleFuzzTarget = {
        let target = BundleFuzzTarget()
        atexit { fuzzTarget.removeWorkDirectory() }
        return target
    }()

    /// libFuzzer's per-input entry point. Built only with `-DDELTASYNC_LIBFUZZER` and
    /// `-sanitize=fuzzer`; see `scripts/fuzz.sh`.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        _ = fuzzTarget.run(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }

    /// libFuzzer's driver, for programs that bring their own `main` (needs the `Extern` feature).
    @_extern(c, "LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    /// `main` of the fuzzing build. SwiftPM links every executable with `--defsym main=<Module>_main`,
    /// so libFuzzer's own `main` cannot be used; this one hands the command line to libFuzzer's
    /// driver, which parses the usual libFuzzer flags and runs the loop.
    @main
    enum FuzzerMain {
        static func main() {
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput))
        }
    }
#endif
