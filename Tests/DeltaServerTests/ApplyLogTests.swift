@testable import DeltaServer
import Testing

/// The "bundle applied" log line gives each step in milliseconds to a hundredth: a save's steps
/// each take about one, which whole milliseconds showed as 0 or 1.
@Suite struct ApplyLogTests {
    @Test func stepsAreLoggedToAHundredthOfAMillisecond() {
        #expect(BundleApplier.milliseconds(.zero) == "0.00")
        #expect(BundleApplier.milliseconds(.microseconds(50)) == "0.05")
        #expect(BundleApplier.milliseconds(.microseconds(1_234)) == "1.23")
        #expect(BundleApplier.milliseconds(.microseconds(1_239)) == "1.23")
        #expect(BundleApplier.milliseconds(.milliseconds(2_500)) == "2500.00")
        let start = ContinuousClock.now
        #expect(BundleApplier.milliseconds(start, start.advanced(by: .microseconds(10_900))) == "10.90")
    }
}
