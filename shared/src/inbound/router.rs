//! `POST /hooks/{integration_id}`: the vendors' door.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use super::receipt::{receive, Receipt, ReceiptError};
use crate::api::error::ApiError;
use crate::backend::Services;

/// The inbound router.
pub fn router(services: Services) -> Router {
    let limit = services.settings.max_body_bytes;
    Router::new()
        .route("/hooks/{integration_id}", post(receive_webhook))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(services)
}

async fn receive_webhook(
    State(services): State<Services>,
    Path(integration_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::warn!(integration_id = %integration_id, limit = services.settings.max_body_bytes, "webhook body over the limit");
            return ApiError::too_large(services.settings.max_body_bytes).into_response();
        }
        Err(rejection) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                rejection.body_text(),
            )
            .into_response()
        }
    };
    match receive(&services, &integration_id, &headers, body.to_vec()).await {
        Ok(Receipt::Accepted(id)) => {
            tracing::info!(integration_id = %integration_id, event_id = %id, "webhook accepted");
            (
                StatusCode::ACCEPTED,
                Json(json!({ "id": id, "status": "received" })),
            )
                .into_response()
        }
        Ok(Receipt::Duplicate(id)) => {
            tracing::info!(integration_id = %integration_id, event_id = %id, "duplicate webhook dropped");
            (
                StatusCode::OK,
                Json(json!({ "id": id, "status": "duplicate" })),
            )
                .into_response()
        }
        Ok(Receipt::Handshake(handshake)) => {
            tracing::info!(integration_id = %integration_id, "vendor handshake answered");
            let status = StatusCode::from_u16(handshake.status).unwrap_or(StatusCode::OK);
            (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(handshake.content_type),
                )],
                handshake.body,
            )
                .into_response()
        }
        Err(error) => answer_error(&integration_id, error),
    }
}

fn answer_error(integration_id: &str, error: ReceiptError) -> Response {
    match error {
        ReceiptError::NotFound => {
            tracing::info!(integration_id = %integration_id, "webhook for unknown or inactive integration");
            ApiError::not_found("integration").into_response()
        }
        ReceiptError::Unauthorized(reason) => {
            // The reason helps the operator; the answer says nothing an attacker could use.
            tracing::warn!(integration_id = %integration_id, reason = %reason, "webhook signature rejected");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "the webhook signature could not be verified",
            )
            .into_response()
        }
        ReceiptError::Malformed(reason) => {
            tracing::warn!(integration_id = %integration_id, reason = %reason, "webhook header malformed");
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_header",
                reason.to_string(),
            )
            .into_response()
        }
        ReceiptError::Misconfigured(reason) => {
            tracing::error!(integration_id = %integration_id, reason = %reason, "integration cannot verify webhooks");
            ApiError::internal().into_response()
        }
        ReceiptError::Unavailable(reason) => {
            tracing::error!(integration_id = %integration_id, error = %reason, "webhook not accepted: backing service unavailable");
            let mut response = ApiError::unavailable().into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}
