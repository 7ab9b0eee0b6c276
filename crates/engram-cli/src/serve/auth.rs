//! The bearer tokens: the server's, read from a file (`--token-file`) or `ENGRAM_TOKEN`, and
//! optional per-space ones (`--space-tokens FILE`), never from the command line (where any
//! user can read them in the process list) and never logged; compared in constant time.
//!
//! The server's token opens every route. A space's token opens that space's routes only. A
//! request on a space that has a token needs it (or the server's); without a server token,
//! everything else is open (which the server allows on loopback only).

use std::collections::HashMap;
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

/// The per-space tokens of `--space-tokens PATH`: one `SPACE TOKEN` per line; blank lines
/// and lines starting with `#` are skipped.
pub fn load_space_tokens(file: Option<&Path>) -> Result<HashMap<String, Token>> {
    let Some(path) = file else {
        return Ok(HashMap::new());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the space tokens file {}", path.display()))?;
    let mut tokens = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("{} line {}", path.display(), n + 1);
        let (space, token) = line
            .split_once(char::is_whitespace)
            .with_context(|| format!("{}: write SPACE TOKEN", at()))?;
        super::spaces::check_name(space).map_err(|e| anyhow::anyhow!("{}: {}", at(), e.message))?;
        let token = Token::new(token.trim()).with_context(at)?;
        if tokens.insert(space.to_owned(), token).is_some() {
            bail!("{}: space {space:?} has a token already", at());
        }
    }
    Ok(tokens)
}

/// The space a path acts on (`/v1/spaces/NAME...`), percent-decoded as the router decodes it,
/// so that `%6Eotes` cannot pass for another name than `notes`.
fn space_of(path: &str) -> Option<String> {
    let segment = path.strip_prefix("/v1/spaces/")?.split('/').next()?;
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    (!decoded.is_empty()).then(|| String::from_utf8_lossy(&decoded).into_owned())
}

fn unauthorized(message: String) -> Response {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response()
}

/// 401 unless the request carries a token that opens its route. `GET /health` needs none,
/// so that a load balancer can probe the server; it reveals nothing but that it runs.
pub async fn require(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if app.token.is_none() && app.space_tokens.is_empty() || request.uri().path() == "/health" {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    let server = app.token.as_ref();
    if let (Some(token), Some(candidate)) = (server, given)
        && token.matches(candidate)
    {
        return next.run(request).await;
    }
    let space = space_of(request.uri().path());
    match (space.as_ref().and_then(|s| app.space_tokens.get(s)), given) {
        (Some(token), Some(candidate)) if token.matches(candidate) => next.run(request).await,
        (Some(_), _) => unauthorized(format!(
            "space {:?} needs its token or the server's: send the header Authorization: Bearer TOKEN",
            space.unwrap_or_default()
        )),
        (None, _) if server.is_none() => next.run(request).await,
        (None, Some(_)) => unauthorized("the bearer token is not this server's".into()),
        (None, None) => unauthorized(
            "this server needs a token: send the header Authorization: Bearer TOKEN".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_space_of_a_path_is_decoded_as_the_router_decodes_it() {
        assert_eq!(
            space_of("/v1/spaces/notes/recall").as_deref(),
            Some("notes")
        );
        assert_eq!(space_of("/v1/spaces/%6Eotes").as_deref(), Some("notes"));
        assert_eq!(
            space_of("/v1/spaces/%6eot%65s/memories/1").as_deref(),
            Some("notes")
        );
        assert_eq!(space_of("/v1/spaces/a%2").as_deref(), Some("a%2"));
        assert_eq!(space_of("/v1/spaces/"), None);
        assert_eq!(space_of("/v1/spaces"), None);
        assert_eq!(space_of("/metrics"), None);
    }

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
