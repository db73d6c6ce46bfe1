import Testing

/// The reliability suites that start `policybus` processes, run one at a time:
/// each runs several processes itself, and on a small, busy machine running
/// them all at once starves the test process.
@Suite(.serialized) enum ProcessSuites {}
