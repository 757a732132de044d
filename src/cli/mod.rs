//! Subcommands besides `serve`: each works on a data directory directly or
//! asks the running server that holds it (`backup`), or asks every node of a
//! sharded deployment (`cluster`).

pub mod backup;
pub mod cluster;
