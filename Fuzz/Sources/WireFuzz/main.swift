import CFuzzerDriver

#if canImport(Glibc)
import Glibc
#endif

// Keeps `main` and hands control to libFuzzer's driver; see ParserFuzz/main.swift.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, wireFuzzTestOneInput))
