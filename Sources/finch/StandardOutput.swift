@preconcurrency import Glibc

/// Makes stdout line-buffered, so progress printed line by line shows at once when piped to a file.
func lineBufferStandardOutput() {
    setvbuf(stdout, nil, _IOLBF, 0)
}
