//! Writing to the host log. Each line is tagged by the host with the connector and request id.

use crate::bindings::integrator::extension::log::{Level, write};

/// Writes a debug line.
pub fn debug(message: &str) {
    write(Level::Debug, message)
}

/// Writes an info line.
pub fn info(message: &str) {
    write(Level::Info, message)
}

/// Writes a warning.
pub fn warn(message: &str) {
    write(Level::Warn, message)
}

/// Writes an error line.
pub fn error(message: &str) {
    write(Level::Error, message)
}
