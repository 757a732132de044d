//! The error vocabulary. [`CacheError`] is what a request can fail with, each
//! kind with a stable machine-readable code; the HTTP edge maps each kind to a
//! status in one place (`http::ApiError`). Bad input is always `Invalid` (a
//! 4xx), never a panic. Start-up failures have their own typed enums beside
//! what they concern (`store::OpenError`, `config::ConfigError`,
//! `embed::EmbedInitError`), gathered here as [`StartError`].

/// What went wrong, grouped by who can fix it.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The request is wrong; the caller must change it (400).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// The thing named does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is too large (413).
    #[error("{0}")]
    TooLarge(String),
    /// The client was too slow to send its request (408).
    #[error("{0}")]
    Timeout(String),
    /// Storage or a dependency cannot take writes right now; retry later (503).
    #[error("{0}")]
    Unavailable(String),
}

impl CacheError {
    /// A 400 with the given code.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> CacheError {
        CacheError::Invalid {
            code,
            message: message.into(),
        }
    }

    /// The stable code of this error, as sent in `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            CacheError::Invalid { code, .. } => code,
            CacheError::NotFound(_) => "not_found",
            CacheError::TooLarge(_) => "payload_too_large",
            CacheError::Timeout(_) => "request_timeout",
            CacheError::Unavailable(_) => "storage_unavailable",
        }
    }
}

impl From<crate::store::StoreError> for CacheError {
    fn from(e: crate::store::StoreError) -> CacheError {
        CacheError::Unavailable(e.to_string())
    }
}

/// Why the server or a subcommand could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Open(#[from] crate::store::OpenError),
    #[error("embedding model: {0}")]
    Embed(#[from] crate::embed::EmbedInitError),
    #[error("verifier model: {0}")]
    Verifier(String),
    #[error("{0}")]
    Serve(String),
}
