//! `GET /plugins` (authenticated): what is loaded, from which bytes, with which functions and
//! limits, and what failed to load.

use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::auth::{find_token, token_matches};
use crate::error::ApiError;
use crate::marshal::{boundary_name, kind_name};
use crate::registry::{Plugin, Snapshot, group_key};

/// `GET /plugins`: the token comes from the `Authorization` header or the query string.
pub async fn list(State(state): State<AppState>, request: Request) -> Response {
    let token = find_token(request.headers(), None, request.uri().query());
    if !token_matches(token.as_deref(), &state.system_token) {
        return ApiError::Unauthorized.into_response();
    }
    let mut body = listing(&state.registry.current());
    body["resultsHeldBytes"] = state.results.held_bytes().into();
    let body = body.to_string();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

fn listing(snapshot: &Snapshot) -> Value {
    let mode = match (&snapshot.diy, snapshot.connectors.is_empty()) {
        (Some(_), _) => "diy",
        (None, false) => "connectors",
        (None, true) => "empty",
    };
    let plugins: Vec<Value> = snapshot.plugins().map(|p| plugin(p, snapshot)).collect();
    let failures: Vec<Value> = snapshot
        .failures
        .iter()
        .map(|(file, f)| json!({"file": file, "reason": f.reason, "at": rfc3339(f.at)}))
        .collect();
    json!({
        "mode": mode,
        "generation": snapshot.generation,
        "plugins": plugins,
        "loading": snapshot.loading,
        "failures": failures,
    })
}

fn plugin(p: &Plugin, snapshot: &Snapshot) -> Value {
    let file = p
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let functions: Vec<Value> = p
        .module
        .manifest
        .iter()
        .map(|f| {
            let group = group_key(&f.group).unwrap_or_else(|| "root".into());
            json!({"name": f.name, "group": group, "kind": kind_name(f.kind), "boundary": boundary_name(f.boundary)})
        })
        .collect();
    let last_error = snapshot
        .failures
        .get(&file)
        .map(|f| json!({"reason": f.reason, "at": rfc3339(f.at)}));
    json!({
        "id": &*p.id,
        "file": file,
        "hash": p.module.hash,
        "size": p.module.size,
        "loadedAt": rfc3339(p.loaded_at),
        "source": p.module.source,
        "functions": functions,
        "limits": p.limits,
        "network": p.network.view(),
        "egress": p.network.stats.json(),
        "calls": p.share.json(),
        "lastError": last_error,
    })
}

/// `2026-11-23T19:30:05.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let (secs, millis) = (since.as_secs(), since.subsec_millis());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_462_205_123);
        assert_eq!(rfc3339(t), "2026-11-23T19:30:05.123Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
