// Larder: an embedded, memory-bounded cache for Swift services on Linux.
