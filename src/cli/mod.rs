//! Subcommands besides `serve`: each works on a data directory directly or
//! asks the running server that holds it.

pub mod backup;
