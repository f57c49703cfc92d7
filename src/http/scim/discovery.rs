//! Discovery (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`. The
//! documents live beside this file as JSON, but for the schemas, which `domain::scim_schema`
//! also reads (user documents are made to fit them); `{base}` becomes this service's SCIM URL.
//! They describe no secrets, so they are served without a token, as RFC 7644 allows.

use super::{ScimError, ScimResult, base, list_response, scim_json};
use crate::error::{AppError, ErrorKind};
use crate::http::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

const SERVICE_PROVIDER_CONFIG: &str = include_str!("discovery/service_provider_config.json");
const RESOURCE_TYPES: &str = include_str!("discovery/resource_types.json");
const SCHEMAS: &str = crate::domain::scim_schema::SCHEMAS_JSON;

pub fn routes(cfg: &mut web::ServiceConfig) {
    for (path, handler) in [
        (
            "/ServiceProviderConfig",
            web::get().to(service_provider_config),
        ),
        ("/ResourceTypes", web::get().to(resource_types)),
        ("/ResourceTypes/{id}", web::get().to(resource_type)),
        ("/Schemas", web::get().to(schemas)),
        ("/Schemas/{id}", web::get().to(schema)),
    ] {
        cfg.service(
            web::resource(path)
                .route(handler)
                .default_service(web::to(read_only)),
        );
    }
}

async fn read_only(req: HttpRequest) -> ScimResult<HttpResponse> {
    Err(ScimError::from(AppError::new(
        ErrorKind::MethodNotAllowed {
            method: req.method().to_string(),
            path: req.path().to_string(),
        },
    )))
}

fn document(text: &str, state: &AppState) -> ScimResult<Value> {
    Ok(
        serde_json::from_str(&text.replace("{base}", &base(&state.public_url)))
            .map_err(AppError::from)?,
    )
}

fn listed(text: &str, state: &AppState) -> ScimResult<Vec<Value>> {
    match document(text, state)? {
        Value::Array(items) => Ok(items),
        _ => Err(AppError::internal("discovery document is not a list").into()),
    }
}

async fn service_provider_config(state: web::Data<AppState>) -> ScimResult<HttpResponse> {
    Ok(scim_json(
        StatusCode::OK,
        &document(SERVICE_PROVIDER_CONFIG, &state)?,
    ))
}

async fn resource_types(state: web::Data<AppState>) -> ScimResult<HttpResponse> {
    let items = listed(RESOURCE_TYPES, &state)?;
    let total = items.len() as i64;
    Ok(scim_json(StatusCode::OK, &list_response(items, total, 1)))
}

async fn schemas(state: web::Data<AppState>) -> ScimResult<HttpResponse> {
    let items = listed(SCHEMAS, &state)?;
    let total = items.len() as i64;
    Ok(scim_json(StatusCode::OK, &list_response(items, total, 1)))
}

fn one(items: Vec<Value>, id: &str, what: &'static str) -> ScimResult<HttpResponse> {
    items
        .into_iter()
        .find(|item| item["id"].as_str() == Some(id))
        .map(|item| scim_json(StatusCode::OK, &item))
        .ok_or_else(|| AppError::not_found(what, id).into())
}

async fn resource_type(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ScimResult<HttpResponse> {
    one(listed(RESOURCE_TYPES, &state)?, &id, "resource type")
}

async fn schema(state: web::Data<AppState>, id: web::Path<String>) -> ScimResult<HttpResponse> {
    one(listed(SCHEMAS, &state)?, &id, "schema")
}
