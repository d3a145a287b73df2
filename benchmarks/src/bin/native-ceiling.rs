//! The ceiling for BENCHMARKS.md: the benchmark workload done natively in Rust, no sandbox, on
//! the same HTTP stack (axum) and body handling as the host. It answers only what the
//! benchmark sends: `POST /function` with the system token and a diy hook call.
//!
//! `native-ceiling <port> <token>`

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use integration_tests::native;
use serde_json::Value;

async fn function(
    token: std::sync::Arc<str>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    let json_type = [(header::CONTENT_TYPE, "application/json; charset=utf-8")];
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, t)| scheme.eq_ignore_ascii_case("bearer") && t == &*token);
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            json_type,
            br#"{"errors":[{"code":"unauthorized","message":"Invalid system token."}]}"#.to_vec(),
        );
    }
    let Ok(mut request) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, json_type, b"{}".to_vec());
    };
    let mut options = request["options"].take();
    let result = match request["function"].as_str() {
        Some("preMapUpper") => native::pre_map_upper(&mut options),
        Some("echo") => options["data"].take(),
        Some("postSubmitIds") => native::post_submit_ids(&mut options),
        _ => return (StatusCode::UNPROCESSABLE_ENTITY, json_type, b"{}".to_vec()),
    };
    (
        StatusCode::OK,
        json_type,
        serde_json::to_vec(&result).unwrap_or_default(),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().unwrap_or_else(|| "8082".into()).parse()?;
    let token: std::sync::Arc<str> = args.next().unwrap_or_else(|| "bench".into()).into();
    let app = Router::new()
        .route("/healthCheck", get(|| async { r#"{"success":true}"# }))
        .route(
            "/function",
            post(move |headers, body| function(token.clone(), headers, body)),
        )
        .layer(axum::extract::DefaultBodyLimit::max(50 * 1024 * 1024));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
