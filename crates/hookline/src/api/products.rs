//! `/api/v1/products`: products, their envs, connected apps, and the seeds'
//! product-level calls (`product.webhook.generateLink`,
//! `product.webhook.fetchAllForProductApp`).

use super::error::{ApiError, ErrorBody};
use super::extract::{Authenticated, Json, Path};
use super::views::{env, receiver, tag, time, AuthWire, RegistrationView};
use super::AppState;
use crate::error::{Error, Result};
use crate::service::{ConnectionInput, LinkInput, NewProduct, ProductPatch};
use axum::extract::State;
use axum::http::StatusCode;
use hookline_core::model::{App, Connection, ConnectionEnv, Product, ProductEnv};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, update_product, delete_product))
        .routes(routes!(connect_app, list_connections))
        .routes(routes!(
            get_connection,
            update_connection,
            delete_connection
        ))
        .routes(routes!(product_link))
        .routes(routes!(fetch_all_for_product_app))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductEnvWire {
    #[schema(value_type = crate::api::doc::EnvSlugName)]
    pub slug: String,
    #[serde(default)]
    pub name: Option<String>,
}

fn product_envs(envs: Vec<ProductEnvWire>) -> Result<Vec<ProductEnv>> {
    envs.into_iter()
        .map(|e| {
            Ok(ProductEnv {
                slug: env(e.slug)?,
                name: e.name,
            })
        })
        .collect()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductRequest {
    #[schema(value_type = crate::api::doc::TagName)]
    pub tag: String,
    pub name: String,
    #[serde(default)]
    pub envs: Vec<ProductEnvWire>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductRequest {
    pub name: Option<String>,
    pub envs: Option<Vec<ProductEnvWire>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    pub id: String,
    pub tag: String,
    pub name: String,
    pub envs: Vec<ProductEnvWire>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        ProductView {
            id: p.id,
            tag: p.tag.to_string(),
            name: p.name,
            envs: p
                .envs
                .into_iter()
                .map(|e| ProductEnvWire {
                    slug: e.slug.to_string(),
                    name: e.name,
                })
                .collect(),
            created_at: time(p.created_at),
            updated_at: time(p.updated_at),
        }
    }
}

/// Create a product with its envs.
#[utoipa::path(post, path = "/api/v1/products", tag = "products", request_body = CreateProductRequest,
    responses((status = 201, body = ProductView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_product(
    _: Authenticated,
    State(s): State<AppState>,
    Json(req): Json<CreateProductRequest>,
) -> Result<(StatusCode, Json<ProductView>), ApiError> {
    let input = NewProduct {
        tag: tag(req.tag)?,
        name: req.name,
        envs: product_envs(req.envs)?,
    };
    Ok((
        StatusCode::CREATED,
        Json(s.gateway.create_product(input).await?.into()),
    ))
}

/// List products.
#[utoipa::path(get, path = "/api/v1/products", tag = "products",
    responses((status = 200, body = Vec<ProductView>)), security(("bearer" = [])))]
async fn list_products(
    _: Authenticated,
    State(s): State<AppState>,
) -> Result<Json<Vec<ProductView>>, ApiError> {
    Ok(Json(
        s.gateway
            .list_products()
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Read one product.
#[utoipa::path(get, path = "/api/v1/products/{product}", tag = "products",
    params(("product" = String, Path, description = "Product tag")),
    responses((status = 200, body = ProductView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_product(
    _: Authenticated,
    State(s): State<AppState>,
    Path(product): Path<String>,
) -> Result<Json<ProductView>, ApiError> {
    Ok(Json(s.gateway.product(&product).await?.into()))
}

/// Update a product's name or envs.
#[utoipa::path(patch, path = "/api/v1/products/{product}", tag = "products",
    params(("product" = String, Path, description = "Product tag")), request_body = UpdateProductRequest,
    responses((status = 200, body = ProductView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_product(
    _: Authenticated,
    State(s): State<AppState>,
    Path(product): Path<String>,
    Json(req): Json<UpdateProductRequest>,
) -> Result<Json<ProductView>, ApiError> {
    let patch = ProductPatch {
        name: req.name,
        envs: req.envs.map(product_envs).transpose()?,
    };
    Ok(Json(
        s.gateway.update_product(&product, patch).await?.into(),
    ))
}

/// Delete a product (refused while apps are connected to it).
#[utoipa::path(delete, path = "/api/v1/products/{product}", tag = "products",
    params(("product" = String, Path, description = "Product tag")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_product(
    _: Authenticated,
    State(s): State<AppState>,
    Path(product): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.gateway.delete_product(&product).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- connected apps -----------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionEnvWire {
    #[schema(value_type = crate::api::doc::EnvSlugName)]
    pub product_env: String,
    #[schema(value_type = crate::api::doc::EnvSlugName)]
    pub app_env: String,
    /// Credentials for the provider's API in this env (used for full registration).
    #[serde(default)]
    pub auth: Option<AuthWire>,
}

fn connection_envs(envs: Vec<ConnectionEnvWire>) -> Result<Vec<ConnectionEnv>> {
    envs.into_iter()
        .map(|e| {
            Ok(ConnectionEnv {
                product_env: env(e.product_env)?,
                app_env: env(e.app_env)?,
                auth: e.auth.unwrap_or_default().into_domain()?,
            })
        })
        .collect()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectAppRequest {
    /// App tag.
    #[schema(value_type = crate::api::doc::TagName)]
    pub app: String,
    /// Defaults to the app's tag. One app may be connected several times under different access tags.
    #[serde(default)]
    #[schema(value_type = Option<crate::api::doc::TagName>)]
    pub access_tag: Option<String>,
    #[serde(default)]
    pub envs: Vec<ConnectionEnvWire>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnectionRequest {
    pub envs: Vec<ConnectionEnvWire>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionEnvView {
    pub product_env: String,
    pub app_env: String,
    /// Whether provider API credentials are set (values are not shown).
    pub has_auth: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionView {
    pub id: String,
    pub product: String,
    pub app: String,
    pub access_tag: String,
    pub envs: Vec<ConnectionEnvView>,
    pub created_at: String,
    pub updated_at: String,
}

fn connection_view(product: &str, c: Connection, app: &App) -> ConnectionView {
    ConnectionView {
        id: c.id,
        product: product.to_owned(),
        app: app.tag.to_string(),
        access_tag: c.access_tag.to_string(),
        envs: c
            .envs
            .into_iter()
            .map(|e| ConnectionEnvView {
                product_env: e.product_env.to_string(),
                app_env: e.app_env.to_string(),
                has_auth: !e.auth.is_empty(),
            })
            .collect(),
        created_at: time(c.created_at),
        updated_at: time(c.updated_at),
    }
}

/// Connect an app to a product under an access tag.
#[utoipa::path(post, path = "/api/v1/products/{product}/apps", tag = "products",
    params(("product" = String, Path, description = "Product tag")), request_body = ConnectAppRequest,
    responses((status = 201, body = ConnectionView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn connect_app(
    _: Authenticated,
    State(s): State<AppState>,
    Path(product): Path<String>,
    Json(req): Json<ConnectAppRequest>,
) -> Result<(StatusCode, Json<ConnectionView>), ApiError> {
    let input = ConnectionInput {
        app: tag(req.app)?,
        access_tag: req.access_tag.map(tag).transpose()?,
        envs: connection_envs(req.envs)?,
    };
    let c = s.gateway.connect_app(&product, input).await?;
    let (_, _, app) = s
        .gateway
        .connection(&product, c.access_tag.as_str())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(connection_view(&product, c, &app)),
    ))
}

/// List a product's connected apps.
#[utoipa::path(get, path = "/api/v1/products/{product}/apps", tag = "products",
    params(("product" = String, Path, description = "Product tag")),
    responses((status = 200, body = Vec<ConnectionView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn list_connections(
    _: Authenticated,
    State(s): State<AppState>,
    Path(product): Path<String>,
) -> Result<Json<Vec<ConnectionView>>, ApiError> {
    let list = s.gateway.list_connections(&product).await?;
    Ok(Json(
        list.into_iter()
            .map(|(c, a)| connection_view(&product, c, &a))
            .collect(),
    ))
}

/// Read one connected app.
#[utoipa::path(get, path = "/api/v1/products/{product}/apps/{access_tag}", tag = "products",
    params(("product" = String, Path, description = "Product tag"), ("access_tag" = String, Path, description = "Access tag")),
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_connection(
    _: Authenticated,
    State(s): State<AppState>,
    Path((product, access_tag)): Path<(String, String)>,
) -> Result<Json<ConnectionView>, ApiError> {
    let (_, c, app) = s.gateway.connection(&product, &access_tag).await?;
    Ok(Json(connection_view(&product, c, &app)))
}

/// Replace a connected app's env mapping and credentials.
#[utoipa::path(patch, path = "/api/v1/products/{product}/apps/{access_tag}", tag = "products",
    params(("product" = String, Path, description = "Product tag"), ("access_tag" = String, Path, description = "Access tag")),
    request_body = UpdateConnectionRequest,
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_connection(
    _: Authenticated,
    State(s): State<AppState>,
    Path((product, access_tag)): Path<(String, String)>,
    Json(req): Json<UpdateConnectionRequest>,
) -> Result<Json<ConnectionView>, ApiError> {
    let (c, app) = s
        .gateway
        .update_connection_envs(&product, &access_tag, connection_envs(req.envs)?)
        .await?;
    Ok(Json(connection_view(&product, c, &app)))
}

/// Disconnect an app (refused while it has active registrations).
#[utoipa::path(delete, path = "/api/v1/products/{product}/apps/{access_tag}", tag = "products",
    params(("product" = String, Path, description = "Product tag"), ("access_tag" = String, Path, description = "Access tag")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn delete_connection(
    _: Authenticated,
    State(s): State<AppState>,
    Path((product, access_tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.gateway.delete_connection(&product, &access_tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- seed calls ---------------------------------------------------------

/// `product.webhook.generateLink`: a link for one event of a connected app in one env.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductLinkRequest {
    /// The app's access tag.
    #[schema(value_type = crate::api::doc::TagName)]
    pub app: String,
    /// Event tag.
    #[schema(value_type = crate::api::doc::TagName)]
    pub event: String,
    /// Product env slug.
    #[schema(value_type = crate::api::doc::EnvSlugName)]
    pub env: String,
    /// The product tag; when given it must match the path.
    #[serde(default)]
    pub product: Option<String>,
    /// Webhook tag, when several webhooks of the app define the event.
    #[serde(default)]
    #[schema(value_type = Option<crate::api::doc::TagName>)]
    pub webhook: Option<String>,
    /// Receiver; without one, events are held until a receiver is set.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub auth: Option<AuthWire>,
    #[serde(default)]
    pub verification_secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    /// The ingest link to give the provider.
    pub link: String,
    pub registration: RegistrationView,
    /// Secret of the Standard Webhooks signature on forwarded requests.
    pub signing_secret: String,
}

/// The seeds' `product.webhook.generateLink`.
#[utoipa::path(post, path = "/api/v1/products/{product}/webhooks/link", tag = "seed",
    params(("product" = String, Path, description = "Product tag")), request_body = ProductLinkRequest,
    responses((status = 200, body = LinkView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn product_link(
    _: Authenticated,
    State(s): State<AppState>,
    Path(product): Path<String>,
    Json(req): Json<ProductLinkRequest>,
) -> Result<Json<LinkView>, ApiError> {
    if let Some(p) = &req.product {
        if p != &product {
            return Err(Error::invalid(
                "product_mismatch",
                format!("body names product `{p}` but the path names `{product}`"),
            )
            .into());
        }
    }
    let receiver = match req.url {
        Some(u) => Some(receiver(&u, req.method, req.auth)?),
        None if req.method.is_some() || req.auth.is_some() => {
            return Err(Error::invalid(
                "missing_field",
                "`method` and `auth` need a receiver `url`",
            )
            .into())
        }
        None => None,
    };
    let input = LinkInput {
        product_tag: tag(product)?,
        access_tag: tag(req.app)?,
        webhook_tag: req.webhook.map(tag).transpose()?,
        event: Some(tag(req.event)?),
        env: env(req.env)?,
        receiver,
        verification_secret: req.verification_secret,
    };
    let reg = s.gateway.generate_link(input).await?;
    Ok(Json(link_view(&s, &reg)))
}

pub fn link_view(s: &AppState, reg: &hookline_core::model::Registration) -> LinkView {
    let link = s.gateway.link_url(&reg.link_id);
    LinkView {
        link: link.clone(),
        signing_secret: reg.signing_secret.clone(),
        registration: RegistrationView::new(reg, link),
    }
}

/// The seeds' `product.webhook.fetchAllForProductApp`: every registration of a connected app.
#[utoipa::path(get, path = "/api/v1/products/{product}/apps/{access_tag}/webhooks", tag = "seed",
    params(("product" = String, Path, description = "Product tag"), ("access_tag" = String, Path, description = "Access tag")),
    responses((status = 200, body = Vec<RegistrationView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn fetch_all_for_product_app(
    _: Authenticated,
    State(s): State<AppState>,
    Path((product, access_tag)): Path<(String, String)>,
) -> Result<Json<Vec<RegistrationView>>, ApiError> {
    let regs = s.gateway.registrations_for(&product, &access_tag).await?;
    Ok(Json(
        regs.iter()
            .map(|r| RegistrationView::new(r, s.gateway.link_url(&r.link_id)))
            .collect(),
    ))
}
