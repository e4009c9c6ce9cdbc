//! Identity service (work in progress).
