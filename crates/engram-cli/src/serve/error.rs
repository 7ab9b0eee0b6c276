//! Errors as the server answers them: a status and a JSON body
//! `{"error": {"code": "...", "message": "..."}}` whose `code` is stable (scripts match on it)
//! and whose `message` says what went wrong as the command would.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable machine-readable code.
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// For a rejected item of a batch (`POST /v1/spaces/{space}/batch`), its position:
    /// the memories first, then the associations.
    pub item: Option<usize>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            item: None,
        }
    }

    /// The same error, for the batch item at `index`.
    pub fn at_item(self, index: usize) -> Self {
        Self {
            item: Some(index),
            ..self
        }
    }

    /// 400: the request is malformed or breaks a rule (the message says which).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 404 for an unknown space.
    pub fn unknown_space(space: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_space",
            format!("there is no space {space:?}: create it with PUT /v1/spaces/{space}"),
        )
    }

    /// 404 for a memory the space does not have.
    pub fn unknown_memory(space: &str, id: u64) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_memory",
            format!("space {space:?} has no memory with id {id}"),
        )
    }

    /// 500: a bug, or a store the server cannot use; logged with the request id.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The error of embedding a text for `space`: 400 for a text with nothing to embed; 500
    /// `embedder_unavailable` when the server cannot run the space's embedder (a build without
    /// it, a model that is not installed or not the one the space was made with), with what
    /// the operator should do.
    pub fn embedder(error: &engram_text::Error, space: &str) -> Self {
        match error {
            engram_text::Error::NoWords => {
                Self::bad_request(format!("space {space:?}: cannot embed the text: {error}"))
            }
            _ => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "embedder_unavailable",
                format!("space {space:?}: the server cannot embed text: {error}"),
            ),
        }
    }

    /// The error the engine returned for an operation on `space`: its message, with the status
    /// that says whose fault it is (the request's: 4xx; a busy store: 503; the server's: 5xx).
    pub fn engine(error: engram_graph::Error, space: &str) -> Self {
        use engram_graph::Error as E;
        let (status, code) = match &error {
            E::InBatch { source, .. } if matches!(**source, E::UnknownMemory(_)) => {
                (StatusCode::NOT_FOUND, "unknown_memory")
            }
            E::UnknownMemory(_) => (StatusCode::NOT_FOUND, "unknown_memory"),
            E::DimensionMismatch { .. }
            | E::NonFiniteEmbedding { .. }
            | E::ZeroEmbedding
            | E::TimeOutOfRange(_)
            | E::InvalidStrength(_)
            | E::InvalidWeight(_)
            | E::SelfAssociation(_)
            | E::UnknownBatchMemory { .. }
            | E::InvalidParameter { .. }
            | E::PrecisionUnavailable { .. }
            | E::EmptyPropertyKey
            | E::TooManyMemories { .. }
            | E::InBatch { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            E::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            E::NextIdChanged { .. } => (StatusCode::CONFLICT, "next_id_changed"),
            E::AlreadyExists { .. } => (StatusCode::CONFLICT, "space_exists"),
            E::Io(io) if is_storage_full(io) => (StatusCode::INSUFFICIENT_STORAGE, "storage_full"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "store_error"),
        };
        Self::new(status, code, format!("space {space:?}: {error}"))
    }
}

fn is_storage_full(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded
    )
}

/// The JSON body of every error.
#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<usize>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Detail {
                code: self.code,
                message: &self.message,
                item: self.item,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // A busy store or a server shutting down: worth trying again shortly.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        // What went wrong is logged once, with the request id, by the request middleware.
        response.extensions_mut().insert(ErrorLogged {
            code: self.code,
            message: self.message,
        });
        response
    }
}

/// The error a response carries, for the request log.
#[derive(Clone, Debug)]
pub struct ErrorLogged {
    /// The error's code.
    pub code: &'static str,
    /// Its message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use engram_graph::{Error as E, MemoryId};

    #[test]
    fn engine_errors_get_the_status_of_whose_fault_they_are() {
        let cases = [
            (
                E::Busy {
                    waited: std::time::Duration::from_secs(10),
                },
                503,
                "busy",
            ),
            (E::UnknownMemory(MemoryId::new(7)), 404, "unknown_memory"),
            (
                E::InBatch {
                    index: 3,
                    source: Box::new(E::UnknownMemory(MemoryId::new(7))),
                },
                404,
                "unknown_memory",
            ),
            (E::InvalidWeight(2.0), 400, "invalid_request"),
            (E::ZeroEmbedding, 400, "invalid_request"),
            (
                E::Io(std::io::Error::from(std::io::ErrorKind::StorageFull)),
                507,
                "storage_full",
            ),
            (
                E::NextIdChanged {
                    expected: MemoryId::new(3),
                    found: MemoryId::new(5),
                },
                409,
                "next_id_changed",
            ),
            (E::Corrupt("a page".into()), 500, "store_error"),
            (E::Internal("a bug".into()), 500, "store_error"),
        ];
        for (error, status, code) in cases {
            let shown = error.to_string();
            let api = ApiError::engine(error, "s");
            assert_eq!((api.status.as_u16(), api.code), (status, code), "{shown}");
            assert!(api.message.starts_with("space \"s\": "), "{}", api.message);
        }
    }

    #[test]
    fn busy_and_unauthorized_answers_say_what_to_do_in_their_headers() {
        let busy = ApiError::engine(
            E::Busy {
                waited: std::time::Duration::ZERO,
            },
            "s",
        )
        .into_response();
        assert_eq!(
            busy.headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let unauthorized =
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "x").into_response();
        assert_eq!(
            unauthorized
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
    }
}
