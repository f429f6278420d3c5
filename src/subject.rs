//! Subject validation.
