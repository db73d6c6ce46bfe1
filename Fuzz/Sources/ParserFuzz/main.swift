import CFuzzerDriver
import PolicyEngine

#if canImport(Glibc)
import Glibc
#endif

// SwiftPM renames an executable's `main` so that tests can link it, which
// breaks the usual `-parse-as-library` + `LLVMFuzzerTestOneInput` layout. So
// this keeps `main` and hands control to libFuzzer's driver instead.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, parserFuzzTestOneInput))
