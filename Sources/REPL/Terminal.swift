#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif
import Foundation

/// Facts about the terminal behind a file descriptor, and the escape sequences the front ends use.
public enum Terminal {
    /// Whether `descriptor` is a terminal.
    public static func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) == 1 }

    /// The terminal's width in columns (80 when `descriptor` is not a terminal or does not say).
    public static func width(of descriptor: Int32) -> Int {
        var size = winsize()
        guard ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }

    /// Back to the start of the line and erase it (a progress line is redrawn after this).
    public static let eraseLine = "\r\u{1B}[K"
    /// Cursor home, then erase the whole screen.
    public static let clearScreen = "\u{1B}[H\u{1B}[2J"
}

/// Where a front end writes: standard output or standard error.
public protocol TextOutput: AnyObject {
    func write(_ text: String, toStandardError: Bool)
}

/// The process's standard output and error, written with `write(2)` at once (after flushing what C's
/// buffered streams, which libedit draws with, still hold, so that the order on screen is kept).
public final class StandardStreams: TextOutput {
    public init() {}

    public func write(_ text: String, toStandardError: Bool) {
        fflush(nil)
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { systemWrite(toStandardError ? 2 : 1, $0.baseAddress, $0.count) }
            if written > 0 {
                bytes = bytes.dropFirst(written)
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return  // a closed pipe or a full disk: nothing more to do for this text
            }
        }
    }
}

/// `write(2)` (the method above hides the global function).
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}

/// Text written to it, kept per stream in order (for tests and for capturing a cell's output).
public final class CapturedOutput: TextOutput {
    /// Every write, in order, with the stream it went to.
    public private(set) var writes: [(text: String, toStandardError: Bool)] = []
    private let lock = NSLock()

    public init() {}

    public func write(_ text: String, toStandardError: Bool) {
        lock.withLock { writes.append((text, toStandardError)) }
    }

    /// What went to standard output.
    public var standardOutput: String { lock.withLock { writes.filter { !$0.toStandardError }.map(\.text).joined() } }
    /// What went to standard error.
    public var standardError: String { lock.withLock { writes.filter(\.toStandardError).map(\.text).joined() } }
}
