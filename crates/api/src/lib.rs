//! privlink's HTTP front. One endpoint serves both APIs: a request is EC2 or ELBv2 by its
//! SigV4 credential scope (`ec2` / `elasticloadbalancing`), else by its `Version`. Each action
//! decodes its parameters into a typed control-plane call and renders the result as AWS's XML.

pub mod auth;
mod ec2;
mod elb;
mod protocol;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use control::{AwsError, ControlPlane};
use query::Params;

pub use auth::{Account, Accounts};
use protocol::Service;

/// Largest request body accepted. EC2's own limit on a query request is far below this.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// What the HTTP handlers share.
#[derive(Debug)]
pub struct AppState {
    pub control: Arc<ControlPlane>,
    pub accounts: Accounts,
}

/// The router: `POST /` and `GET /` with the Query protocol.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .fallback(handle)
        .with_state(state)
        // The body limit is enforced in `handle`, so it can answer in AWS's envelope.
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// The actions each API supports, for docs and tests.
pub fn supported_actions() -> (Vec<&'static str>, Vec<&'static str>) {
    (ec2::actions(), elb::actions())
}

async fn handle(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            let e = AwsError::new(
                "RequestEntityTooLarge",
                format!("Request body exceeds the maximum of {MAX_BODY_BYTES} bytes."),
            )
            .with_status(413);
            // The body is not read, so only the signature's scope can tell the API.
            let parts = query::sigv4::RequestParts {
                method: method.as_str(),
                path: uri.path(),
                query: uri.query().unwrap_or(""),
                headers: &header_pairs(&headers),
                body: &[],
            };
            let service = query::sigv4::parse(&parts)
                .ok()
                .and_then(|s| Service::from_scope(Some(&s.credential.service)))
                .unwrap_or(Service::Ec2);
            return error_response(service, &e, &request_id);
        }
    };
    let state2 = state.clone();
    let rid = request_id.clone();
    // Control-plane calls are short synchronous store transactions. On the multi-threaded
    // runtime, `block_in_place` runs them on this worker (its other tasks move elsewhere), which
    // saves the two thread switches of `spawn_blocking` on every request.
    let res = match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => Ok(tokio::task::block_in_place(|| {
            serve(&state2, &method, &uri, &headers, &body, &rid)
        })),
        _ => {
            tokio::task::spawn_blocking(move || {
                serve(&state2, &method, &uri, &headers, &body, &rid)
            })
            .await
        }
    };
    match res {
        Ok(r) => r,
        Err(e) => error_response(Service::Ec2, &AwsError::internal(e), &request_id),
    }
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn xml_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml;charset=UTF-8")],
        body,
    )
        .into_response()
}

fn error_response(service: Service, e: &AwsError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = match service {
        Service::Ec2 => query::xml::ec2_error(&e.code, &e.message, request_id),
        Service::Elb => {
            query::xml::elb_error(&e.code, &e.message, request_id, !e.is_server_fault())
        }
    };
    xml_response(status, body)
}

fn serve(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    request_id: &str,
) -> Response {
    let raw_query = uri.query().unwrap_or("");
    let header_pairs = header_pairs(headers);
    let parts = query::sigv4::RequestParts {
        method: method.as_str(),
        path: uri.path(),
        query: raw_query,
        headers: &header_pairs,
        body,
    };
    let signature = query::sigv4::parse(&parts);
    let scope_service = signature
        .as_ref()
        .ok()
        .map(|s| s.credential.service.as_str());

    // Parameters: query string, then a form body.
    let mut params = match Params::parse_form(raw_query.as_bytes()) {
        Ok(p) => p,
        Err(e) => {
            let service = Service::from_scope(scope_service).unwrap_or(Service::Ec2);
            return error_response(service, &protocol::malformed_query(e), request_id);
        }
    };
    if !body.is_empty() {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let service = Service::from_scope(scope_service).unwrap_or(Service::Ec2);
        if !content_type
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            let e = AwsError::new(
                "MalformedQueryString",
                format!(
                    "The request body must be application/x-www-form-urlencoded, not '{content_type}'."
                ),
            )
            .with_status(404);
            return error_response(service, &e, request_id);
        }
        match Params::parse_form(body) {
            Ok(p) => params.merge(p),
            Err(e) => return error_response(service, &protocol::malformed_query(e), request_id),
        }
    }

    let service = match protocol::service_of(scope_service, params.get("Version")) {
        Ok(s) => s,
        Err((service, e)) => return error_response(service, &e, request_id),
    };

    let mut ctx = match auth::authenticate(
        &state.accounts,
        service,
        &state.control.region.name,
        &parts,
        signature,
    ) {
        Ok(ctx) => ctx,
        Err(e) => return error_response(service, &e, request_id),
    };
    ctx.request_id = request_id.to_string();

    let Some(action) = params.get("Action").map(str::to_string) else {
        let e = AwsError::new(
            "MissingAction",
            "The request must contain the parameter Action",
        );
        return error_response(service, &e, request_id);
    };
    if let Err(e) = protocol::check_version(service, params.get("Version")) {
        return error_response(service, &e, request_id);
    }

    let result = match service {
        Service::Ec2 => ec2::dispatch(&state.control, &mut ctx, &action, &params),
        Service::Elb => elb::dispatch(&state.control, &mut ctx, &action, &params),
    };
    match result {
        Ok(body) => {
            let xml = match service {
                Service::Ec2 => query::xml::ec2_success(&action, request_id, &body),
                Service::Elb => query::xml::elb_success(&action, request_id, &body),
            };
            tracing::debug!(%action, account = %ctx.account, "ok");
            xml_response(StatusCode::OK, xml)
        }
        Err(e) => {
            tracing::debug!(%action, account = %ctx.account, code = %e.code, "error");
            error_response(service, &e, request_id)
        }
    }
}
