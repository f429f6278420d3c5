//! Pure byte-level protocol parsers and writers.
