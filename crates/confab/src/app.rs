//! [`AppState`], the router, and [`Server`]: bind, serve, shut down.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, TcpSocket};
use tower::{Layer, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::{self, ApiDoc};
use crate::auth::jwt::JwtKeys;
use crate::chat::outbox::Publisher;
use crate::chat::posting::{Poster, Posts};
use crate::config::Config;
use crate::error::Error;
use crate::files::Files;
use crate::limits::Limits;
use crate::listener::ConnectionLimits;
use crate::pipeline::{Pipeline, PipelineOptions};
use crate::realtime::backplane::LocalBackplane;
use crate::realtime::cluster::Cluster;
use crate::realtime::hub::Hub;
use crate::realtime::revocation;
use crate::store::{Backend, PoolOptions, Store};
use crate::telemetry;

/// How long a stopping node spends on its cleanup after the requests in
/// flight (`shutdown_timeout`): the goodbye to the cluster, closing the pools.
const SHUTDOWN_CLEANUP: Duration = Duration::from_secs(5);

/// What every handler can reach. Cheap to clone: all shared parts are behind `Arc`s or pools.
#[derive(Clone)]
pub struct AppState {
    /// Read-only after start-up.
    pub config: Arc<Config>,
    /// Owns the database pools; clones share them.
    pub store: Store,
    /// Keys are derived once from the secret; signing and verifying need no lock.
    pub jwt: Arc<JwtKeys>,
    /// The process-wide Prometheus recorder's handle, for `/metrics`.
    pub metrics: PrometheusHandle,
    /// Socket fan-out of this node: who listens where.
    pub hub: Hub,
    /// Where every use case's outbox goes after commit: the node's
    /// [`crate::realtime::backplane::Backplane`], on its way to the hubs
    /// (this node's, and with Redis every node's).
    pub publisher: Arc<dyn Publisher>,
    /// This node's part in a cluster, when `redis_url` is set.
    pub cluster: Option<Arc<Cluster>>,
    /// The group-commit pipeline every post goes through.
    pub posts: Posts,
    /// Every client budget: rates and connection slots.
    pub limits: Arc<Limits>,
    /// Flips to `true` when the server shuts down; sockets then close with 1001.
    pub shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    /// Where uploaded files' bytes live.
    pub files: Arc<Files>,
}

impl AppState {
    /// Connects to the configured database, applies pending migrations and
    /// loads (or creates) the JWT secret: what the CLI's commands need. Such a
    /// state never joins a cluster; a server's does ([`Server::build`]).
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        Self::open_as(config, false).await
    }

    async fn open_as(config: Config, node: bool) -> anyhow::Result<Self> {
        let url = config.effective_database_url();
        let pool = PoolOptions {
            max_connections: config.db_max_connections,
            acquire_timeout: Duration::from_secs(config.db_acquire_timeout),
            sqlite_full_sync: config.sqlite_synchronous == "full",
        };
        // First: metric handles taken before the recorder is installed (the
        // post lanes take theirs when they start) would record nowhere.
        let metrics = telemetry::metrics_handle();
        let store = Store::connect(&url, pool).await?;
        store.migrate().await?;
        let secret = config.resolve_jwt_secret()?;
        let jwt = JwtKeys::new(&secret, config.access_lifetime(), config.refresh_lifetime());
        crate::files::links::install(&secret, config.files_url_ttl);
        let files = Arc::new(Files::open(&config)?);
        let hub = Hub::new(config.ws_queue_capacity);
        let limits = Arc::new(Limits::new(&config));
        let cluster = match config.redis_url.as_deref() {
            Some(url) if node => {
                if store.backend() == Backend::Sqlite {
                    tracing::warn!(
                        "redis_url is set on SQLite: several nodes need a shared PostgreSQL or MySQL database"
                    );
                }
                let sockets = limits.sockets_per_user.clone();
                Some(Cluster::start(&config, url, hub.clone(), store.clone(), sockets)?)
            }
            _ => None,
        };
        let publisher: Arc<dyn Publisher> = match &cluster {
            Some(cluster) => cluster.clone(),
            None => Arc::new(LocalBackplane::new(hub.clone())),
        };
        let lanes = match store.backend() {
            // One writer connection: one lane, which batches across rooms.
            Backend::Sqlite => 1,
            Backend::MySql | Backend::Postgres => config.post_writers,
        };
        let poster = Poster::new(store.clone(), publisher.clone());
        let posts = Pipeline::start(
            poster,
            PipelineOptions {
                lanes,
                max_batch: config.post_batch_max,
                queue: config.post_queue,
            },
        );
        crate::auth::password::set_queue_limit(config.password_hash_queue);
        let (shutdown, _) = tokio::sync::watch::channel(false);
        Ok(Self {
            config: Arc::new(config),
            store,
            jwt: Arc::new(jwt),
            metrics,
            hub,
            publisher,
            cluster,
            posts,
            limits,
            shutdown: Arc::new(shutdown),
            files,
        })
    }
}

impl AppState {
    /// Where use cases publish their outbox after commit.
    pub fn publisher(&self) -> &dyn Publisher {
        &*self.publisher
    }

    /// Users online in `room`: on this node, or in a cluster on any node.
    pub async fn online(&self, room: i64) -> Vec<crate::chat::types::UserRef> {
        match &self.cluster {
            Some(cluster) => cluster.online(room).await,
            None => self.hub.online(room),
        }
    }
}

/// The whole HTTP surface with its middleware.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let cors = cors_layer(&state.config.cors_origins);
    let docs = SwaggerUi::new("/api/docs").url("/api/docs/openapi.json", ApiDoc::openapi());
    Router::new()
        .merge(api::routes())
        // Anything the API does not route is a file of the web client, or a 404.
        .fallback(crate::web::serve.layer(CompressionLayer::new()))
        .method_not_allowed_fallback(|method: Method| async move { Error::MethodNotAllowed(method.to_string()) })
        .layer(axum::middleware::from_fn(api::guard::detach_writes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::guard::throttle_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::guard::time_limit,
        ))
        .layer(axum::middleware::from_fn(telemetry::track_http))
        .with_state(state)
        .merge(docs)
        .layer(axum::middleware::from_fn(api::guard::security_headers))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .on_response(DefaultOnResponse::new().level(Level::INFO))
                        .make_span_with(|request: &Request| {
                            let request_id = request
                                .headers()
                                .get("x-request-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default();
                            tracing::info_span!(
                                "request",
                                method = %request.method(),
                                path = %request.uri().path(),
                                request_id,
                                user_id = tracing::field::Empty,
                            )
                        }),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(CatchPanicLayer::custom(|_| {
                    axum::response::IntoResponse::into_response(Error::internal(anyhow::anyhow!("handler panicked")))
                }))
                .layer(DefaultBodyLimit::max(max_body))
                .option_layer(cors),
        )
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(Duration::from_secs(3600)),
    )
}

/// Lets `/api/chat/rooms/` and `/api/chat/rooms` reach the same route: the
/// trailing slash is dropped before routing (except under `/api/docs/`, whose
/// pages need it for their relative links).
fn strip_trailing_slash(mut request: Request) -> Request {
    let original = axum::extract::OriginalUri(request.uri().clone());
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') && !path.starts_with("/api/docs") {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse() {
            *request.uri_mut() = uri;
            // Links built from the request (pagination) keep the client's spelling.
            request.extensions_mut().insert(original);
        }
    }
    request
}

/// Every `files_cleanup_interval`: deletes the uploads left unattached for
/// longer than `files_unattached_max_age`. Starts by setting the stored-bytes gauge.
async fn clean_up_files(state: AppState) {
    match crate::store::files::bytes_stored(state.store.reader()).await {
        Ok(bytes) => metrics::gauge!("files_stored_bytes").set(bytes as f64),
        Err(error) => tracing::warn!(%error, "could not sum the stored files"),
    }
    let mut interval = tokio::time::interval(Duration::from_secs(state.config.files_cleanup_interval));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let max_age = state.config.files_unattached_max_age;
        match crate::chat::files::clean_up(&state.store, &state.files, max_age).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "deleted uploads never attached to a message"),
            Err(error) => tracing::warn!(%error, "could not clean up unattached uploads"),
        }
    }
}

/// Connections the kernel may hold before they are accepted. Thousands of
/// clients reconnecting at once (a restart, a load balancer failing over)
/// overflow tokio's default of 1024, and each dropped SYN costs its client a
/// one-second retransmit. The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std and tokio's `bind` do: a restarted server can bind at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A bound, ready-to-run server.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Opens the database and binds `config.bind` (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let bind = config.bind;
        let state = AppState::open_as(config, true).await?;
        crate::auth::password::prepare();
        let listener = listen(bind).with_context(|| format!("cannot listen on {bind}"))?;
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let state = self.state;
        let config = state.config.clone();
        let store = state.store.clone();
        let sockets = state.shutdown.clone();
        let cluster = state.cluster.clone();
        let housekeeping = [
            tokio::spawn(Limits::keep_small(state.limits.clone())),
            tokio::spawn(telemetry::keep_metrics_small(state.metrics.clone())),
            tokio::spawn(crate::auth::tokens::purge_blacklist(store.clone())),
            tokio::spawn(clean_up_files(state.clone())),
            tokio::spawn(revocation::run(
                store.clone(),
                state.hub.clone(),
                Duration::from_secs(config.ws_ping_interval),
                state.cluster.is_some(),
            )),
        ];
        let shutdown = async move {
            shutdown.await;
            // Sockets are not requests: tell their sessions to close (1001).
            sockets.send_replace(true);
        };
        let limits = ConnectionLimits {
            max_connections: config.max_connections,
            per_address: state.limits.connections_per_address.clone(),
            header_timeout: Duration::from_secs(config.http_header_timeout),
            shutdown_grace: Duration::from_secs(config.shutdown_timeout),
        };
        let app = tower::util::MapRequestLayer::new(strip_trailing_slash).layer(router(state));
        crate::listener::serve(self.listener, app, limits, shutdown).await;
        for task in housekeeping {
            task.abort();
        }
        // The goodbye to the cluster and the database connections' close are
        // courtesies: neither may keep a stopping node alive (a pool waits for
        // every connection a forgotten task still holds).
        let clean_up = async {
            if let Some(cluster) = cluster {
                cluster.leave().await;
            }
            store.close().await;
        };
        if tokio::time::timeout(SHUTDOWN_CLEANUP, clean_up).await.is_err() {
            tracing::warn!(limit = ?SHUTDOWN_CLEANUP, "stopping without finishing the cleanup");
        }
        Ok(())
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
