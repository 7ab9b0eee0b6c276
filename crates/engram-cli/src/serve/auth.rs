//! The bearer token: read from a file (`--token-file`) or `ENGRAM_TOKEN`, never from the
//! command line (where any user can read it in the process list) and never logged; compared
//! in constant time.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::App;
use super::error::ApiError;

/// The environment variable that can hold the token.
pub const TOKEN_ENV: &str = "ENGRAM_TOKEN";

/// The shortest token accepted, in bytes: a guessable token is no protection.
pub const MIN_TOKEN_BYTES: usize = 16;

/// A token, kept as its SHA-256 so that comparing it takes the same time whatever the
/// length or the content of what a client sends.
pub struct Token([u8; 32]);

impl Token {
    fn new(text: &str) -> Result<Self> {
        if text.len() < MIN_TOKEN_BYTES {
            bail!(
                "the token is {} bytes long; use at least {MIN_TOKEN_BYTES} random ones (e.g. `openssl rand -hex 32`)",
                text.len()
            );
        }
        if text.bytes().any(|b| !b.is_ascii_graphic()) {
            bail!("the token may hold visible ASCII characters only (no spaces)");
        }
        Ok(Self(Sha256::digest(text.as_bytes()).into()))
    }

    /// Whether `candidate` is the token, in time independent of both.
    fn matches(&self, candidate: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate).into();
        digest.ct_eq(&self.0).into()
    }
}

/// The token of `--token-file PATH` (its first line), else of `ENGRAM_TOKEN`, else none.
pub fn load(file: Option<&Path>) -> Result<Option<Token>> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?;
        let line = text.lines().next().unwrap_or_default().trim();
        return Token::new(line)
            .map(Some)
            .with_context(|| format!("the token file {}", path.display()));
    }
    match std::env::var(TOKEN_ENV) {
        Ok(text) => Token::new(text.trim()).map(Some).context(TOKEN_ENV),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => bail!("{TOKEN_ENV} is not UTF-8 text"),
    }
}

/// 401 unless the request carries the token, when there is one. `GET /health` needs none,
/// so that a load balancer can probe the server; it reveals nothing but that it runs.
pub async fn require(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(token) = &app.token else {
        return next.run(request).await;
    };
    if request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match given {
        Some(candidate) if token.matches(candidate) => next.run(request).await,
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the bearer token is not this server's",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server needs a token: send the header Authorization: Bearer TOKEN",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_themselves_and_short_ones_are_refused() {
        let token = Token::new("0123456789abcdef-long-enough").expect("valid");
        assert!(token.matches(b"0123456789abcdef-long-enough"));
        assert!(!token.matches(b"0123456789abcdef-long-enougH"));
        assert!(!token.matches(b""));
        assert!(Token::new("short").is_err());
        assert!(Token::new("has a space inside it").is_err());
    }
}
